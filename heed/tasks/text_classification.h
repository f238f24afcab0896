// Text classification and regression with a BERT sequence-classification model in a
// Hugging Face model directory (config.json with id2label / problem_type,
// model.safetensors, vocab.txt and/or tokenizer.json): load it, predict, evaluate.
// Fine-tuning one is heed/tasks/text_finetune.h.
//
//   auto clf = TextClassifier::load("runs/sst2");
//   train::Table t = read_text_table("dev.csv", {}, /*labelled=*/false);
//   for (const TextPrediction& p : clf.predict(t.rows)) fmt::print("{}\n", p.label);
//   TextEvaluation e = evaluate({.model_dir = "runs/sst2", .data_file = "dev.csv"});
//
// Inference runs in eval mode without recording gradients, in batches of examples of
// similar length (sorted by length, so padding is small); results come back in input order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/models/bert_heads.h"
#include "heed/tasks/text_data.h"
#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/train/metrics.h"

namespace heed::peft {
class PeftModel;
}

namespace heed::tasks {

// A PEFT adapter directory under a name ("default" for a single one).
struct NamedAdapter {
  std::string name, dir;
};
// "NAME=DIR", or "DIR" (an existing directory, or without "="), named "default".
NamedAdapter parse_named_adapter(const std::string& spec);

struct InferenceOptions {
  int64_t max_seq_length = 128;
  int64_t batch_size = 64;
  // "" (default): the autograd model. "f32" | "bf16" | "int8": the fast inference engine
  // (heed/infer/bert_engine.h) at that precision for the encoder and pooler, built once
  // per classifier and precision; the classifier layer runs in f32 on its pooled output.
  // With an adapter, LoRA/AdaLoRA/IA3 are merged into a copy of the weights for the
  // engine; other adapter types are an error.
  std::string dtype{};
};

// min(requested, the model's max_position_embeddings), with a note on stderr when it
// clamps; errors below 3. `who` prefixes messages.
int64_t clamp_max_seq_length(int64_t requested, const models::BertConfig& cfg, const char* who);

// Logits (N x L, row-major, input order) of a sequence-classification model. The caller
// puts the model in eval mode; gradients are off inside.
std::vector<float> classifier_logits(const models::BertPreTrainedModel& model,
                                     const std::vector<TextExample>& examples, int32_t pad_id,
                                     int64_t batch_size);
// The same through any forward (e.g. a peft::PeftModel's) of a num_labels-output head.
using ClassifierForward = std::function<models::BertOutput(const models::BertInputs&)>;
std::vector<float> classifier_logits(const ClassifierForward& forward, int64_t num_labels,
                                     const std::vector<TextExample>& examples, int32_t pad_id,
                                     int64_t batch_size);

// The quality of a model on labelled examples.
struct TextEvaluation {
  TextTask task = TextTask::Classify;
  train::ClassificationReport classification{};  // classify
  train::RegressionReport regression{};          // regress
  double loss = 0.0;  // mean cross-entropy (classify) or squared error (regress)
  // Classify: {accuracy, macro_f1, per_class, confusion_matrix, labels, num_examples, loss};
  // regress: {mse, pearson, spearman, num_examples, loss}.
  nlohmann::json to_json() const;
  // The scalars of to_json(), for the Trainer's eval log and best-model selection.
  std::map<std::string, double> metrics() const;
};

// Scores labelled examples from their logits (N x L). labels: the class names (classify).
TextEvaluation score_logits(const std::vector<float>& logits, const std::vector<TextExample>& examples,
                            TextTask task, const std::vector<std::string>& labels);

struct TextPrediction {
  int64_t label_id = -1;              // argmax (classify)
  std::string label;                  // its name (classify)
  std::vector<float> probabilities;   // softmax over the classes, id order (classify)
  float score = 0.0f;                 // the prediction (regress)
};

// A fine-tuned sequence classifier and its tokenizer, loaded once for many calls.
class TextClassifier {
 public:
  // Errors when the directory has no trained classifier head (classifier.* weights) or
  // its problem_type is multi-label classification. A `heed quantize` directory
  // (quantization_config heed_int8) is dequantized into the f32 model.
  static TextClassifier load(const std::string& model_dir);
  // A PEFT adapter directory (from `heed finetune --peft ...`) on its base model
  // directory: labels from adapter_dir/head_config.json (else LABEL_<i>), the tokenizer
  // from the adapter directory when it has one, else from the base.
  static TextClassifier load(const std::string& model_dir, const std::string& adapter_dir);
  // Several adapters on one base (as PEFT's load_adapter), each with its own head and
  // labels; `use` (default: the first) is active. All must be SEQ_CLS adapters with the
  // same number of labels (the base has one classifier).
  static TextClassifier load(const std::string& model_dir, const std::vector<NamedAdapter>& adapters,
                             const std::string& use = "");
  // Makes another loaded adapter active (its labels, head and problem type).
  void use_adapter(const std::string& name);
  std::vector<std::string> adapter_names() const;

  TextTask task() const { return task_; }
  const std::vector<std::string>& labels() const { return labels_; }  // id order; empty: regress
  const models::BertPreTrainedModel& model() const { return *model_; }
  const tokenizers::BertTokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& model_dir() const { return dir_; }
  const std::string& adapter_dir() const { return adapter_dir_; }  // "" without an adapter
  // label name -> class id (classify).
  std::map<std::string, int64_t> label2id() const;

  // One prediction per row (text, text_pair), in order.
  std::vector<TextPrediction> predict(const std::vector<train::TableRow>& rows,
                                      const InferenceOptions& options = {}) const;
  // Labelled rows of `table`; unknown labels are errors naming file, line and label, or
  // skipped and counted in table.skipped (bad_rows = Skip).
  TextEvaluation evaluate(train::Table& table, train::BadRows bad_rows,
                          const InferenceOptions& options = {},
                          const std::string& label_col = "label") const;

  // {"label": "great", "probabilities": {"great": 0.91, "other": 0.09}} (classify) or
  // {"score": 3.2} (regress).
  nlohmann::json prediction_json(const TextPrediction& p) const;

 private:
  TextClassifier() = default;
  std::vector<float> logits(const std::vector<TextExample>& ex, const InferenceOptions& o) const;
  struct Engine;  // the fast path for one precision (text_classification.cc)
  Engine& engine(const std::string& dtype) const;
  mutable std::shared_ptr<Engine> engine_;  // built on first use; reset by use_adapter
  std::string dir_, adapter_dir_;
  TextTask task_ = TextTask::Classify;
  std::vector<std::string> labels_;
  std::shared_ptr<models::BertPreTrainedModel> model_;
  std::shared_ptr<tokenizers::BertTokenizer> tokenizer_;
  std::shared_ptr<peft::PeftModel> peft_;  // with an adapter; model_ is its base
  struct AdapterHead {
    std::string dir, problem_type;
    std::vector<std::string> labels;
  };
  std::map<std::string, AdapterHead> heads_;  // per loaded adapter
};

struct EvaluateOptions {
  std::string model_dir;
  std::string data_file;
  std::string adapter_dir{};  // a PEFT adapter on model_dir
  std::vector<NamedAdapter> adapters{};  // or several, `use_adapter` (default the first) active
  std::string use_adapter{};
  TextColumns columns{};
  InferenceOptions inference{};
};

// Loads the model and the table, evaluates; skipped rows are reported on stderr.
TextEvaluation evaluate(const EvaluateOptions& options);

// Loads the model and predicts the rows (text, text_pair) in order.
std::vector<TextPrediction> predict(const std::string& model_dir,
                                    const std::vector<train::TableRow>& rows,
                                    const InferenceOptions& options = {});

// TextClassifier::load(model_dir) or, with an adapter_dir, load(model_dir, adapter_dir).
TextClassifier load_text_classifier(const std::string& model_dir, const std::string& adapter_dir);
// No adapters: load(model_dir); else load(model_dir, adapters, use).
TextClassifier load_text_classifier(const std::string& model_dir,
                                    const std::vector<NamedAdapter>& adapters,
                                    const std::string& use);

}  // namespace heed::tasks
