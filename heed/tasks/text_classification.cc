#include "heed/tasks/text_classification.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <set>

#include "heed/autograd/node.h"
#include "heed/base/error.h"
#include "heed/base/rng.h"
#include "heed/infer/bert_engine.h"
#include "heed/infer/quantize.h"
#include "heed/models/bert_pretrained.h"
#include "heed/peft/peft_model.h"
#include "heed/tasks/text_batches.h"
#include "heed/tasks/text_peft.h"

namespace heed::tasks {

using nlohmann::json;

namespace {

// The shortest decimal that reads back as the float ("0.91", not 0.9100000262260437).
double tidy(float v) { return std::stod(fmt::format("{}", v)); }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

int64_t clamp_max_seq_length(int64_t requested, const models::BertConfig& cfg, const char* who) {
  HEED_CHECK(requested >= 3, "{}: max_seq_length must be at least 3 ([CLS] x [SEP]), got {}", who,
             requested);
  if (requested <= cfg.max_position_embeddings) return requested;
  // As run_glue.py: min(max_seq_length, the model's limit), with a warning.
  std::fprintf(stderr, "%s: max_seq_length %lld exceeds the model's max_position_embeddings %lld; using %lld\n",
               who, static_cast<long long>(requested),
               static_cast<long long>(cfg.max_position_embeddings),
               static_cast<long long>(cfg.max_position_embeddings));
  return cfg.max_position_embeddings;
}

std::vector<float> classifier_logits(const models::BertPreTrainedModel& model,
                                     const std::vector<TextExample>& examples, int32_t pad_id,
                                     int64_t batch_size) {
  return classifier_logits([&](const models::BertInputs& in) { return model.forward(in); },
                           model.config().num_labels, examples, pad_id, batch_size);
}

std::vector<float> classifier_logits(const ClassifierForward& forward, int64_t num_labels,
                                     const std::vector<TextExample>& examples, int32_t pad_id,
                                     int64_t batch_size) {
  HEED_CHECK(batch_size >= 1, "batch size must be >= 1, got {}", batch_size);
  const int64_t N = int64_t(examples.size()), L = num_labels;
  std::vector<float> out(size_t(N * L));
  // Longest first, so a batch holds examples of similar length and the first batch
  // shows the peak memory at once.
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return examples[size_t(a)].input_ids.size() > examples[size_t(b)].input_ids.size();
  });
  autograd::NoGradGuard no_grad;
  for (int64_t s = 0; s < N; s += batch_size) {
    const std::span<const int64_t> rows(order.data() + s, size_t(std::min(batch_size, N - s)));
    const train::Batch b = collate_text(examples, rows, pad_id, TextTask::Classify, false);
    const models::BertOutput o = forward({.input_ids = b.at("input_ids"),
                                                .attention_mask = b.at("attention_mask"),
                                                .token_type_ids = b.at("token_type_ids")});
    const std::vector<float> logits = o.logits.to_vector();  // (B, L)
    for (size_t i = 0; i < rows.size(); ++i)
      std::copy_n(logits.begin() + int64_t(i) * L, L, out.begin() + rows[i] * L);
  }
  return out;
}

json TextEvaluation::to_json() const {
  json j = task == TextTask::Classify ? classification.to_json() : regression.to_json();
  j["loss"] = finite_or_null(loss);
  return j;
}

std::map<std::string, double> TextEvaluation::metrics() const {
  if (task == TextTask::Classify)
    return {{"accuracy", classification.accuracy},
            {"macro_f1", classification.macro_f1},
            {"loss", loss}};
  return {{"mse", regression.mse},
          {"pearson", regression.pearson},
          {"spearman", regression.spearman},
          {"loss", loss}};
}

TextEvaluation score_logits(const std::vector<float>& logits,
                            const std::vector<TextExample>& examples, TextTask task,
                            const std::vector<std::string>& labels) {
  const size_t N = examples.size();
  HEED_CHECK(N > 0, "score_logits: no examples");
  HEED_CHECK(logits.size() % N == 0, "score_logits: {} logits for {} examples", logits.size(), N);
  const size_t L = logits.size() / N;
  TextEvaluation e;
  e.task = task;
  double loss = 0.0;
  if (task == TextTask::Classify) {
    HEED_CHECK(labels.size() == L, "score_logits: {} label names for {} classes", labels.size(), L);
    std::vector<int64_t> gold(N), pred(N);
    for (size_t i = 0; i < N; ++i) {
      const float* z = logits.data() + i * L;
      const size_t best = size_t(std::max_element(z, z + L) - z);
      double sum = 0.0;
      for (size_t c = 0; c < L; ++c) sum += std::exp(double(z[c]) - double(z[best]));
      const int64_t y = examples[i].label;
      HEED_CHECK(y >= 0 && y < int64_t(L), "score_logits: example {} has label {} of {} classes",
                 i, y, L);
      loss += std::log(sum) - (double(z[y]) - double(z[best]));  // -log softmax(z)[y]
      gold[i] = y;
      pred[i] = int64_t(best);
    }
    e.classification = train::classification_report(gold, pred, int64_t(L), labels);
  } else {
    HEED_CHECK(L == 1, "score_logits: regression needs one output, the model has {}", L);
    std::vector<double> gold(N), pred(N);
    for (size_t i = 0; i < N; ++i) {
      gold[i] = examples[i].value;
      pred[i] = logits[i];
      loss += (pred[i] - gold[i]) * (pred[i] - gold[i]);
    }
    e.regression = train::regression_report(gold, pred);
  }
  e.loss = loss / double(N);
  return e;
}

namespace {

// A `heed quantize` directory: the model built from config.json, the weights
// dequantized. Keys may carry the "bert." prefix or not (as the loader accepts).
models::BertLoadResult load_quantized(const std::string& dir) {
  const models::BertConfig cfg =
      models::BertConfig::from_file((std::filesystem::path(dir) / "config.json").string());
  Generator gen(0);
  models::BertLoadResult r;
  r.model = models::make_bert(cfg, models::BertHead::SequenceClassification, gen);
  std::map<std::string, Tensor> sd = infer::load_dequantized_state_dict(dir);
  std::map<std::string, Tensor> keyed;
  for (auto& [k, v] : sd) {
    const bool head = k.starts_with("classifier.") || k.starts_with("bert.");
    keyed[head ? k : "bert." + k] = v;
  }
  const nn::Module::LoadResult lr = r.model->load_state_dict(keyed);
  std::set<std::string> params;
  for (const auto& [name, t] : r.model->named_parameters()) params.insert(name);
  for (const std::string& k : lr.missing_keys)
    if (params.count(k)) r.report.missing_keys.push_back(k);
  r.model->eval();
  return r;
}

}  // namespace

TextClassifier TextClassifier::load(const std::string& dir) {
  models::BertLoadResult r =
      infer::is_quantized_checkpoint(dir)
          ? load_quantized(dir)
          : models::bert_from_pretrained(
                dir, {.head = models::BertHead::SequenceClassification, .load = {.quiet = true}});
  HEED_CHECK(r.report.missing_keys.empty(),
             "{}: the weights lack {} (a model that was not fine-tuned for classification? "
             "fine-tune it with `heed finetune` first)",
             dir, models::python_list(r.report.missing_keys));
  const models::BertConfig& cfg = r.model->config();
  HEED_CHECK(cfg.problem_type != "multi_label_classification",
             "{}/config.json: problem_type multi_label_classification is not supported (classify "
             "and regress are)",
             dir);
  TextClassifier c;
  c.dir_ = dir;
  c.task_ = cfg.problem_type == "regression" || cfg.num_labels == 1 ? TextTask::Regress
                                                                     : TextTask::Classify;
  if (c.task_ == TextTask::Classify)
    for (int64_t i = 0; i < cfg.num_labels; ++i) c.labels_.push_back(cfg.label_name(i));
  c.tokenizer_ =
      std::make_shared<tokenizers::BertTokenizer>(tokenizers::BertTokenizer::from_pretrained(dir));
  HEED_CHECK(c.tokenizer_->vocab_size() <= cfg.vocab_size,
             "{}: the tokenizer has {} tokens but the model's vocab_size is {}", dir,
             c.tokenizer_->vocab_size(), cfg.vocab_size);
  c.model_ = std::move(r.model);
  c.model_->eval();
  return c;
}

NamedAdapter parse_named_adapter(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (std::filesystem::is_directory(spec) || eq == std::string::npos) return {"default", spec};
  HEED_CHECK(eq > 0 && eq + 1 < spec.size(), "--adapter {}: expected DIR or NAME=DIR", spec);
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

TextClassifier TextClassifier::load(const std::string& dir, const std::string& adapter_dir) {
  return load(dir, std::vector<NamedAdapter>{{"default", adapter_dir}});
}

TextClassifier TextClassifier::load(const std::string& dir, const std::vector<NamedAdapter>& adapters,
                                    const std::string& use) {
  namespace fs = std::filesystem;
  HEED_CHECK(!adapters.empty(), "{}: no adapter to load", dir);
  HEED_CHECK(fs::is_directory(dir), "{}: not a model directory", dir);
  std::set<std::string> names;
  for (const NamedAdapter& a : adapters) {
    HEED_CHECK(names.insert(a.name).second, "adapter name \"{}\" given twice", a.name);
    HEED_CHECK(fs::is_directory(a.dir), "{}: not an adapter directory", a.dir);
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
      HEED_CHECK(fs::is_regular_file(fs::path(a.dir) / f),
                 "{}: missing {} (not a PEFT adapter directory; `heed finetune --peft lora` "
                 "writes one)",
                 a.dir, f);
    const peft::PeftConfig pc =
        peft::PeftConfig::from_file((fs::path(a.dir) / "adapter_config.json").string());
    HEED_CHECK(pc.task_type == "SEQ_CLS",
               "{}/adapter_config.json: task_type {} is not text classification (SEQ_CLS)", a.dir,
               pc.task_type.empty() ? "(none)" : pc.task_type);
  }
  std::shared_ptr<peft::PeftModel> pm =
      peft::peft_from_pretrained(dir, adapters[0].dir, adapters[0].name);
  for (size_t i = 1; i < adapters.size(); ++i) pm->load_adapter(adapters[i].dir, adapters[i].name);
  const models::BertConfig& cfg = pm->base().config();
  TextClassifier c;
  c.dir_ = dir;
  for (const NamedAdapter& a : adapters) {
    const HeadConfig h = read_head_config(a.dir, cfg.num_labels);
    HEED_CHECK(h.problem_type != "multi_label_classification",
               "{}/{}: problem_type multi_label_classification is not supported (classify and "
               "regress are)",
               a.dir, kHeadConfigFile);
    c.heads_[a.name] = {.dir = a.dir, .problem_type = h.problem_type, .labels = h.labels};
  }
  const std::string& first = adapters[0].dir;
  const bool own_tokenizer = fs::is_regular_file(fs::path(first) / "vocab.txt") ||
                             fs::is_regular_file(fs::path(first) / "tokenizer.json");
  const std::string tok_dir = own_tokenizer ? first : dir;
  c.tokenizer_ = std::make_shared<tokenizers::BertTokenizer>(
      tokenizers::BertTokenizer::from_pretrained(tok_dir));
  HEED_CHECK(c.tokenizer_->vocab_size() <= cfg.vocab_size,
             "{}: the tokenizer has {} tokens but the model's vocab_size is {}", tok_dir,
             c.tokenizer_->vocab_size(), cfg.vocab_size);
  c.model_ = std::shared_ptr<models::BertPreTrainedModel>(pm, &pm->base());
  c.peft_ = std::move(pm);
  c.use_adapter(use.empty() ? adapters[0].name : use);
  return c;
}

void TextClassifier::use_adapter(const std::string& name) {
  HEED_CHECK(peft_ != nullptr, "{}: no adapters loaded", dir_);
  const auto it = heads_.find(name);
  HEED_CHECK(it != heads_.end(), "no adapter named \"{}\" (loaded: {})", name,
             fmt::join(adapter_names(), ", "));
  peft_->set_adapter(name);
  peft_->eval();
  adapter_dir_ = it->second.dir;
  task_ = it->second.problem_type == "regression" || model_->config().num_labels == 1
              ? TextTask::Regress
              : TextTask::Classify;
  labels_ = task_ == TextTask::Classify ? it->second.labels : std::vector<std::string>{};
  engine_.reset();  // built for the previous adapter's weights
}

std::vector<std::string> TextClassifier::adapter_names() const {
  std::vector<std::string> out;
  for (const auto& [name, h] : heads_) out.push_back(name);
  return out;
}

struct TextClassifier::Engine {
  std::string dtype;
  std::unique_ptr<infer::BertEngine> engine;
  std::vector<float> weight, bias;  // the classifier, (L, C) and (L)
  int64_t labels = 0, hidden = 0;
};

TextClassifier::Engine& TextClassifier::engine(const std::string& dtype) const {
  if (engine_ && engine_->dtype == dtype) return *engine_;
  const infer::Precision p = infer::parse_precision(dtype);
  auto e = std::make_shared<Engine>();
  e->dtype = dtype;
  // With a merging adapter, fold it into the base weights while the engine copies them.
  struct Merged {
    peft::PeftModel* pm = nullptr;
    ~Merged() {
      if (pm) pm->unmerge();
    }
  } merged;
  if (peft_) {
    try {
      peft_->merge();
    } catch (const Error& err) {
      HEED_FAIL("--dtype {} with adapter {}: the fast engine needs an adapter that merges into "
                "the weights (LoRA, AdaLoRA, IA3); run this one without --dtype ({})",
                dtype, adapter_dir_, err.what());
    }
    merged.pm = peft_.get();
  }
  const models::BertModel& bert = model_->bert();
  HEED_CHECK(bert.has_pooler(), "{}: --dtype needs a model with a pooler (the classifier reads "
                                "the pooled output)",
             dir_);
  e->engine = std::make_unique<infer::BertEngine>(
      infer::BertEngine::from_model(bert, {.precision = p, .pooler = true}));
  for (const auto& [name, t] : model_->named_parameters()) {
    if (name == "classifier.weight") {
      e->weight = t.detach().contiguous().to_vector();
      e->labels = t.size(0);
      e->hidden = t.size(1);
    } else if (name == "classifier.bias") {
      e->bias = t.detach().contiguous().to_vector();
    }
  }
  HEED_CHECK(!e->weight.empty() && int64_t(e->bias.size()) == e->labels,
             "{}: no classifier.weight / classifier.bias for the fast engine", dir_);
  engine_ = std::move(e);
  return *engine_;
}

std::vector<float> TextClassifier::logits(const std::vector<TextExample>& ex,
                                          const InferenceOptions& o) const {
  const int64_t batch_size = o.batch_size;
  if (!o.dtype.empty()) {
    Engine& e = engine(o.dtype);
    return classifier_logits(
        [&](const models::BertInputs& in) {
          const models::BertOutput h = e.engine->forward(in);
          const std::vector<float> pooled = h.pooler_output.contiguous().to_vector();
          const int64_t B = h.pooler_output.size(0), C = e.hidden, L = e.labels;
          HEED_CHECK(h.pooler_output.size(1) == C, "engine pooled width {} != classifier input {}",
                     h.pooler_output.size(1), C);
          std::vector<float> z(size_t(B * L));
          for (int64_t b = 0; b < B; ++b)
            for (int64_t l = 0; l < L; ++l) {
              double acc = e.bias[size_t(l)];
              const float* x = pooled.data() + b * C;
              const float* w = e.weight.data() + l * C;
              for (int64_t c = 0; c < C; ++c) acc += double(x[c]) * double(w[c]);
              z[size_t(b * L + l)] = float(acc);
            }
          models::BertOutput out;
          out.logits = Tensor::from_vector(z, Shape{B, L});
          return out;
        },
        model_->config().num_labels, ex, tokenizer_->pad_token_id(), batch_size);
  }
  if (!peft_) return classifier_logits(*model_, ex, tokenizer_->pad_token_id(), batch_size);
  const peft::PeftModel& pm = *peft_;
  return classifier_logits([&](const models::BertInputs& in) { return pm.forward(in); },
                           model_->config().num_labels, ex, tokenizer_->pad_token_id(), batch_size);
}

std::map<std::string, int64_t> TextClassifier::label2id() const {
  std::map<std::string, int64_t> m;
  for (size_t i = 0; i < labels_.size(); ++i) m[labels_[i]] = int64_t(i);
  return m;
}

namespace {

int64_t checked_max_length(const InferenceOptions& o, const models::BertConfig& cfg) {
  HEED_CHECK(o.batch_size >= 1, "batch size must be >= 1, got {}", o.batch_size);
  HEED_CHECK(o.max_seq_length >= 3, "max_seq_length must be at least 3 ([CLS] x [SEP]), got {}",
             o.max_seq_length);
  return std::min(o.max_seq_length, cfg.max_position_embeddings);  // silently, as HF pipelines
}

}  // namespace

std::vector<TextPrediction> TextClassifier::predict(const std::vector<train::TableRow>& rows,
                                                    const InferenceOptions& o) const {
  const int64_t max_len = checked_max_length(o, model_->config());
  if (rows.empty()) return {};
  train::Table t{.path = "<input>", .rows = rows, .skipped = {}};
  const std::vector<TextExample> ex = encode_examples(
      t, *tokenizer_, {.task = task_, .max_seq_length = max_len, .labelled = false});
  const std::vector<float> z = logits(ex, o);
  const size_t L = size_t(model_->config().num_labels);
  std::vector<TextPrediction> out(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    const float* zi = z.data() + i * L;
    TextPrediction& p = out[i];
    if (task_ == TextTask::Regress) {
      p.score = zi[0];
      continue;
    }
    p.label_id = int64_t(std::max_element(zi, zi + L) - zi);
    p.label = labels_[size_t(p.label_id)];
    double sum = 0.0;
    p.probabilities.resize(L);
    for (size_t c = 0; c < L; ++c) sum += std::exp(double(zi[c]) - double(zi[p.label_id]));
    for (size_t c = 0; c < L; ++c)
      p.probabilities[c] = float(std::exp(double(zi[c]) - double(zi[p.label_id])) / sum);
  }
  return out;
}

TextEvaluation TextClassifier::evaluate(train::Table& table, train::BadRows bad_rows,
                                        const InferenceOptions& o,
                                        const std::string& label_col) const {
  const int64_t max_len = checked_max_length(o, model_->config());
  const std::vector<TextExample> ex =
      encode_examples(table, *tokenizer_,
                      {.task = task_,
                       .max_seq_length = max_len,
                       .labelled = true,
                       .label2id = task_ == TextTask::Classify ? label2id()
                                                               : std::map<std::string, int64_t>{},
                       .label_col = label_col,
                       .bad_rows = bad_rows});
  return score_logits(logits(ex, o), ex, task_, labels_);
}

json TextClassifier::prediction_json(const TextPrediction& p) const {
  if (task_ == TextTask::Regress) return {{"score", tidy(p.score)}};
  json probs = json::object();
  for (size_t c = 0; c < labels_.size(); ++c) probs[labels_[c]] = tidy(p.probabilities[c]);
  return {{"label", p.label}, {"probabilities", probs}};
}

TextEvaluation evaluate(const EvaluateOptions& o) {
  const TextClassifier clf =
      !o.adapter_dir.empty() ? load_text_classifier(o.model_dir, o.adapter_dir)
                             : load_text_classifier(o.model_dir, o.adapters, o.use_adapter);
  train::Table t = read_text_table(o.data_file, o.columns, /*labelled=*/true);
  const TextEvaluation e = clf.evaluate(t, o.columns.bad_rows, o.inference, o.columns.label_col);
  if (t.num_skipped() > 0) std::fprintf(stderr, "eval: %s\n", t.summary().c_str());
  return e;
}

std::vector<TextPrediction> predict(const std::string& model_dir,
                                    const std::vector<train::TableRow>& rows,
                                    const InferenceOptions& options) {
  return TextClassifier::load(model_dir).predict(rows, options);
}

TextClassifier load_text_classifier(const std::string& model_dir, const std::string& adapter_dir) {
  return adapter_dir.empty() ? TextClassifier::load(model_dir)
                             : TextClassifier::load(model_dir, adapter_dir);
}

TextClassifier load_text_classifier(const std::string& model_dir,
                                    const std::vector<NamedAdapter>& adapters,
                                    const std::string& use) {
  HEED_CHECK(!(adapters.empty() && !use.empty()), "--use {} needs --adapter NAME=DIR", use);
  return adapters.empty() ? TextClassifier::load(model_dir)
                          : TextClassifier::load(model_dir, adapters, use);
}

}  // namespace heed::tasks
