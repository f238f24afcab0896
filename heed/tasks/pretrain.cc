#include "heed/tasks/pretrain.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "heed/autograd/node.h"
#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/io/safetensors.h"
#include "heed/models/bert_pretrained.h"
#include "heed/ops/ops.h"
#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/train/checkpoint.h"
#include "heed/train/text_corpus.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct SizePreset {
  const char* name;
  int64_t layers, hidden;
};
constexpr SizePreset kSizes[] = {
    {"tiny", 2, 128}, {"mini", 4, 256}, {"small", 4, 512}, {"medium", 8, 512}, {"base", 12, 768}};

// Records the first `limit` batches of a source (recipe parity with a reference).
class RecordingSource : public train::DataSource {
 public:
  RecordingSource(train::DataSource& inner, std::string dir, int64_t limit)
      : inner_(inner), dir_(std::move(dir)), limit_(limit) {
    fs::create_directories(dir_);
  }
  train::Batch next_batch() override {
    train::Batch b = inner_.next_batch();
    if (count_ < limit_) {
      std::vector<std::pair<std::string, Tensor>> t(b.tensors.begin(), b.tensors.end());
      io::save_safetensors(fmt::format("{}/batch_{:06d}.safetensors", dir_, count_), t);
    }
    ++count_;
    return b;
  }
  json state() const override { return inner_.state(); }
  void restore(const json& s) override { inner_.restore(s); }

 private:
  train::DataSource& inner_;
  std::string dir_;
  int64_t limit_, count_ = 0;
};

std::vector<int64_t> kept_labels(const Tensor& mlm_labels) {
  std::vector<int64_t> out;
  for (int64_t v : mlm_labels.to_ids())
    if (v != -100) out.push_back(v);
  return out;
}

models::BertInputs inputs_of(const train::Batch& b, bool nsp, bool sparse) {
  models::BertInputs in;
  in.input_ids = b.at("input_ids");
  in.token_type_ids = b.at("token_type_ids");
  in.attention_mask = b.at("attention_mask");
  in.labels = b.at("mlm_labels");
  if (nsp) in.next_sentence_label = b.at("nsp_labels");
  in.sparse_mlm = sparse;
  return in;
}

// Sums over one batch for the MLM/NSP metrics (computed without gradients).
struct MlmCounts {
  double mlm_loss_sum = 0.0, nsp_loss_sum = 0.0;
  int64_t masked = 0, correct = 0, sequences = 0, nsp_correct = 0;
};

MlmCounts count_batch(const models::BertOutput& out, const train::Batch& b, bool nsp,
                      bool sparse) {
  autograd::NoGradGuard ng;
  MlmCounts c;
  const std::vector<int64_t> gold = kept_labels(b.at("mlm_labels"));
  Tensor logits = nsp ? out.prediction_logits : out.logits;
  if (!sparse) {
    // Dense logits (B, T, V): keep the labelled rows.
    const std::vector<int64_t> all = b.at("mlm_labels").to_ids();
    std::vector<int64_t> rows;
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i] != -100) rows.push_back(int64_t(i));
    const Tensor flat = ops::reshape(logits, Shape{-1, logits.size(-1)});
    logits = ops::embedding(flat, Tensor::from_vector(rows, Shape{int64_t(rows.size())}));
  }
  const int64_t M = int64_t(gold.size());
  c.masked = M;
  if (M > 0) {
    const Tensor target = Tensor::from_vector(gold, Shape{M});
    c.mlm_loss_sum = double(ops::cross_entropy(logits, target).item()) * double(M);
    const std::vector<int64_t> pred = ops::argmax(logits, -1).to_ids();
    for (int64_t i = 0; i < M; ++i) c.correct += pred[size_t(i)] == gold[size_t(i)];
  }
  if (nsp) {
    const Tensor y = b.at("nsp_labels");
    c.sequences = y.size(0);
    c.nsp_loss_sum = double(ops::cross_entropy(out.seq_relationship_logits, y).item()) *
                     double(c.sequences);
    const std::vector<int64_t> pred = ops::argmax(out.seq_relationship_logits, -1).to_ids();
    const std::vector<int64_t> g = y.to_ids();
    for (size_t i = 0; i < g.size(); ++i) c.nsp_correct += pred[i] == g[i];
  }
  return c;
}

// vocab.txt, tokenizer.json and tokenizer_config.json into a model directory.
void save_tokenizer_files(const tokenizers::BertTokenizer& tok, const std::string& vocab_dir,
                          const std::string& out) {
  std::string vocab;
  for (const std::string& t : tok.vocab().tokens()) vocab += t + "\n";
  write_file_atomic(out + "/vocab.txt", vocab);
  tok.save(out + "/tokenizer.json");
  const std::string tc = vocab_dir + "/tokenizer_config.json";
  if (fs::exists(tc)) write_file_atomic(out + "/tokenizer_config.json", read_file(tc));
}

}  // namespace

std::vector<std::string> bert_size_names() {
  std::vector<std::string> out;
  for (const auto& s : kSizes) out.push_back(s.name);
  return out;
}

models::BertConfig bert_size_config(const std::string& name_or_path, int64_t vocab_size) {
  models::BertConfig c;
  bool found = false;
  for (const auto& s : kSizes)
    if (name_or_path == s.name) {
      c.num_hidden_layers = s.layers;
      c.hidden_size = s.hidden;
      c.num_attention_heads = s.hidden / 64;
      c.intermediate_size = 4 * s.hidden;
      found = true;
    }
  if (!found) {
    HEED_CHECK(fs::is_regular_file(name_or_path),
               "model config \"{}\" is neither a preset ({}) nor a config.json file",
               name_or_path, fmt::join(bert_size_names(), ", "));
    c = models::BertConfig::from_file(name_or_path);
  }
  c.vocab_size = vocab_size;
  c.validate(found ? "preset " + name_or_path : name_or_path);
  return c;
}

train::MlmVocab mlm_vocab_from_tokenizer(const tokenizers::BertTokenizer& tok) {
  train::MlmVocab v;
  v.vocab_size = tok.vocab_size();
  v.cls_id = tok.cls_token_id();
  v.sep_id = tok.sep_token_id();
  v.mask_id = tok.mask_token_id();
  v.pad_id = tok.pad_token_id();
  HEED_CHECK(v.cls_id >= 0 && v.sep_id >= 0 && v.mask_id >= 0 && v.pad_id >= 0,
             "the vocabulary lacks one of [CLS], [SEP], [MASK], [PAD] (ids {}, {}, {}, {})",
             v.cls_id, v.sep_id, v.mask_id, v.pad_id);
  for (int32_t id = 0; id < v.vocab_size; ++id)
    if (tok.is_special_id(id) && id != v.cls_id && id != v.sep_id && id != v.mask_id &&
        id != v.pad_id)
      v.other_special_ids.push_back(id);
  const std::string& prefix = tok.vocab().continuing_prefix();
  v.is_continuation.assign(size_t(v.vocab_size), 0);
  for (int32_t id = 0; id < int32_t(tok.vocab().tokens().size()) && id < v.vocab_size; ++id) {
    const std::string_view t = tok.vocab().id_to_token(id);
    v.is_continuation[size_t(id)] = !prefix.empty() && t.size() > prefix.size() &&
                                    t.substr(0, prefix.size()) == prefix;
  }
  return v;
}

json pretrain_config_json(const PretrainConfig& c) {
  return json{{"task", "pretrain"},
              {"model_config", c.model_config},
              {"corpus", c.corpus},
              {"vocab_dir", c.vocab_dir},
              {"out_dir", c.out_dir},
              {"steps", c.steps},
              {"time_budget_minutes", c.time_budget_minutes},
              {"batch_size", c.batch_size},
              {"max_seq_length", c.max_seq_length},
              {"grad_accum", c.grad_accum},
              {"lr", c.lr},
              {"weight_decay", c.weight_decay},
              {"warmup_ratio", c.warmup_ratio},
              {"max_grad_norm", c.max_grad_norm},
              {"schedule", c.schedule},
              {"nsp", c.nsp},
              {"whole_word_mask", c.whole_word_mask},
              {"masked_lm_prob", c.masked_lm_prob},
              {"max_predictions_per_seq", c.max_predictions_per_seq},
              {"validation_every", c.validation_every},
              {"max_validation_batches", c.max_validation_batches},
              {"eval_every", c.eval_every},
              {"save_every", c.save_every},
              {"log_every", c.log_every},
              {"dropout", c.dropout ? json(*c.dropout) : json(nullptr)},
              {"seed", c.seed},
              {"sparse_mlm", c.sparse_mlm},
              {"precision", c.bf16 ? "bf16" : "f32"},
              {"threads", num_threads()}};
}

PretrainResult run_pretraining(const PretrainConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  HEED_CHECK(!cfg.corpus.empty(), "pretrain: no corpus files given");
  HEED_CHECK(!cfg.out_dir.empty(), "pretrain: no output directory given");
  HEED_CHECK(cfg.steps > 0 || cfg.time_budget_minutes > 0,
             "pretrain: give a number of steps or a time budget");
  HEED_CHECK(cfg.batch_size > 0 && cfg.max_seq_length >= 8 && cfg.grad_accum > 0,
             "pretrain: batch size, grad accumulation and max_seq_length (>= 8) must be "
             "positive (got {}, {}, {})", cfg.batch_size, cfg.grad_accum, cfg.max_seq_length);
  for (const auto& f : cfg.corpus)
    HEED_CHECK(fs::is_regular_file(f), "pretrain: corpus file {} does not exist", f);
  if (cfg.threads > 0) set_num_threads(cfg.threads);

  // A fresh run never silently mixes with an earlier one in the same directory.
  if (!cfg.resume && fs::exists(cfg.out_dir)) {
    const train::CheckpointScan s = train::scan_checkpoints(cfg.out_dir);
    HEED_CHECK(s.complete.empty() && s.incomplete.empty(),
               "pretrain: {} already holds checkpoints of an earlier run; pass --resume to "
               "continue it, or choose another --out", cfg.out_dir);
  }
  fs::create_directories(cfg.out_dir);

  const tokenizers::BertTokenizer tok = tokenizers::BertTokenizer::from_pretrained(cfg.vocab_dir);
  const train::MlmVocab vocab = mlm_vocab_from_tokenizer(tok);
  models::BertConfig bcfg = bert_size_config(cfg.model_config, tok.vocab_size());
  HEED_CHECK(cfg.max_seq_length <= bcfg.max_position_embeddings,
             "pretrain: max_seq_length {} exceeds the model's max_position_embeddings {}",
             cfg.max_seq_length, bcfg.max_position_embeddings);
  if (cfg.dropout) {
    bcfg.hidden_dropout_prob = *cfg.dropout;
    bcfg.attention_probs_dropout_prob = *cfg.dropout;
  }
  bcfg.pad_token_id = vocab.pad_id;

  // Corpus: tokenized once, in parallel (the tokenizer is const and thread-safe).
  const train::TokenizeFn tokenize = [&tok](std::string_view text) {
    return tok.encode(text, {.add_special_tokens = false}).input_ids;
  };
  train::CorpusSplits splits = train::load_text_corpus(
      cfg.corpus, tokenize,
      {.validation_every = cfg.validation_every, .parallel_tokenize = true,
       .progress = cfg.progress});
  auto train_corpus = std::make_shared<const train::TextCorpus>(std::move(splits.train));

  train::MlmDataConfig dcfg;
  dcfg.max_seq_length = cfg.max_seq_length;
  dcfg.batch_size = cfg.batch_size;
  dcfg.nsp = cfg.nsp;
  dcfg.masked_lm_prob = cfg.masked_lm_prob;
  dcfg.max_predictions_per_seq = cfg.max_predictions_per_seq;
  dcfg.whole_word_mask = cfg.whole_word_mask;
  dcfg.seed = cfg.seed;
  std::vector<train::Batch> val;
  if (splits.validation.num_documents() > 0) {
    val = train::mlm_validation_batches(splits.validation, vocab, dcfg);
    if (cfg.max_validation_batches > 0 && int64_t(val.size()) > cfg.max_validation_batches)
      val.resize(size_t(cfg.max_validation_batches));
  }
  train::MlmDataset data(train_corpus, vocab, dcfg);

  Generator init_gen(cfg.seed);
  const models::BertHead head = cfg.nsp ? models::BertHead::PreTraining : models::BertHead::MaskedLM;
  std::unique_ptr<models::BertPreTrainedModel> model = models::make_bert(bcfg, head, init_gen);
  model->train();

  PretrainResult result;
  result.num_parameters = model->num_parameters();
  result.train_tokens = train_corpus->num_tokens();
  result.validation_tokens = splits.validation.num_tokens();
  if (cfg.progress)
    fmt::print(stderr,
               "pretrain: {} ({} layers, hidden {}, {} heads), {} parameters, vocab {}; "
               "corpus {} training tokens in {} documents, {} held-out tokens ({} eval "
               "batches); {} threads\n",
               cfg.model_config, bcfg.num_hidden_layers, bcfg.hidden_size,
               bcfg.num_attention_heads, result.num_parameters, bcfg.vocab_size,
               result.train_tokens, train_corpus->num_documents(), result.validation_tokens,
               val.size(), num_threads());

  std::unique_ptr<RecordingSource> recorder;
  train::DataSource* source = &data;
  if (cfg.dump_batches > 0) {
    models::bert_save_pretrained(*model, cfg.out_dir + "/init");
    recorder = std::make_unique<RecordingSource>(data, cfg.out_dir + "/batches", cfg.dump_batches);
    source = recorder.get();
  }

  const bool nsp = cfg.nsp, sparse = cfg.sparse_mlm;
  auto& m = *model;
  train::LossFn loss = [&m, nsp, sparse](const train::Batch& b) {
    models::BertOutput out = m.forward(inputs_of(b, nsp, sparse));
    const MlmCounts c = count_batch(out, b, nsp, sparse);
    train::StepOutput so;
    so.loss = out.loss;
    so.metrics["mlm_loss"] = c.masked > 0 ? c.mlm_loss_sum / double(c.masked) : 0.0;
    so.metrics["mlm_accuracy"] = c.masked > 0 ? double(c.correct) / double(c.masked) : 0.0;
    if (nsp) {
      so.metrics["nsp_loss"] = c.nsp_loss_sum / double(c.sequences);
      so.metrics["nsp_accuracy"] = double(c.nsp_correct) / double(c.sequences);
    }
    return so;
  };
  train::EvalFn eval;
  if (!val.empty())
    eval = [&m, &val, nsp, sparse]() {
      MlmCounts t;
      for (const train::Batch& b : val) {
        const models::BertOutput out = m.forward(inputs_of(b, nsp, sparse));
        const MlmCounts c = count_batch(out, b, nsp, sparse);
        t.mlm_loss_sum += c.mlm_loss_sum;
        t.nsp_loss_sum += c.nsp_loss_sum;
        t.masked += c.masked;
        t.correct += c.correct;
        t.sequences += c.sequences;
        t.nsp_correct += c.nsp_correct;
      }
      std::map<std::string, double> r;
      const double l = t.masked > 0 ? t.mlm_loss_sum / double(t.masked) : 0.0;
      r["mlm_loss"] = l;
      r["perplexity"] = std::exp(l);
      r["mlm_accuracy"] = t.masked > 0 ? double(t.correct) / double(t.masked) : 0.0;
      r["masked_tokens"] = double(t.masked);
      if (nsp && t.sequences > 0) {
        r["nsp_loss"] = t.nsp_loss_sum / double(t.sequences);
        r["nsp_accuracy"] = double(t.nsp_correct) / double(t.sequences);
      }
      return r;
    };

  train::TrainerConfig tc;
  tc.max_steps = cfg.steps;
  tc.time_budget_minutes = cfg.time_budget_minutes;
  tc.grad_accum_steps = cfg.grad_accum;
  tc.lr = cfg.lr;
  tc.weight_decay = cfg.weight_decay;
  tc.warmup_ratio = cfg.warmup_ratio;
  tc.schedule = train::parse_schedule(cfg.schedule);
  tc.max_grad_norm = cfg.max_grad_norm;
  tc.eval_every = cfg.eval_every;
  tc.save_every = cfg.save_every;
  tc.log_every = cfg.log_every;
  tc.keep_last_n = cfg.keep_last_n;
  tc.out_dir = cfg.out_dir;
  tc.seed = cfg.seed;
  tc.progress = cfg.progress;
  tc.bf16 = cfg.bf16;
  write_file_atomic(cfg.out_dir + "/run_config.json", pretrain_config_json(cfg).dump(2) + "\n");

  train::Trainer trainer(m, loss, *source, tc, eval);
  if (cfg.resume) {
    if (!trainer.resume_latest() && cfg.progress)
      fmt::print(stderr, "pretrain: no complete checkpoint in {}; starting from step 0\n",
                 cfg.out_dir);
  }
  const train::TrainResult tr = trainer.train();
  result.steps = tr.steps;
  result.stop_reason = tr.stop_reason;
  result.interrupted = tr.interrupted;
  result.eval = tr.last_eval;

  if (!tr.interrupted) {
    m.eval();
    models::bert_save_pretrained(m, cfg.out_dir);
    save_tokenizer_files(tok, cfg.vocab_dir, cfg.out_dir);
    json ev = json::object();
    for (const auto& [k, v] : result.eval) ev[k] = v;
    ev["step"] = tr.steps;
    ev["split"] = "held-out documents (every " + std::to_string(cfg.validation_every) +
                  "th), first " + std::to_string(val.size()) + " batches";
    write_file_atomic(cfg.out_dir + "/eval_results.json", ev.dump(2) + "\n");
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace heed::tasks
