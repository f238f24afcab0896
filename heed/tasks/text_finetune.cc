#include "heed/tasks/text_finetune.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/rng.h"
#include "heed/models/bert_pretrained.h"
#include "heed/ops/ops.h"
#include "heed/peft/peft_model.h"
#include "heed/tasks/text_batches.h"
#include "heed/tasks/text_classification.h"
#include "heed/tasks/text_peft.h"
#include "heed/train/checkpoint.h"
#include "heed/train/early_stopping.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

namespace fs = std::filesystem;
using nlohmann::json;

ClassWeights parse_class_weights(std::string_view name) {
  if (name == "none") return ClassWeights::None;
  if (name == "balanced") return ClassWeights::Balanced;
  HEED_FAIL("unknown class weights \"{}\" (expected none or balanced)", name);
}

std::string default_metric(TextTask task) {
  return task == TextTask::Classify ? "macro_f1" : "pearson";
}

bool metric_greater_is_better(const std::string& metric) {
  return metric != "loss" && metric != "mse";
}

std::vector<float> balanced_class_weights(const std::vector<int64_t>& labels, int64_t num_classes) {
  HEED_CHECK(num_classes >= 1, "balanced_class_weights: {} classes", num_classes);
  std::vector<int64_t> count(static_cast<size_t>(num_classes), 0);
  for (const int64_t y : labels) {
    HEED_CHECK(y >= 0 && y < num_classes, "balanced_class_weights: label {} of {} classes", y,
               num_classes);
    ++count[size_t(y)];
  }
  std::vector<float> w(count.size(), 0.0f);
  for (size_t c = 0; c < w.size(); ++c)
    if (count[c] > 0)
      w[c] = float(double(labels.size()) / (double(num_classes) * double(count[c])));
  return w;
}

namespace {

constexpr const char* kCheckpointSubdir = "checkpoints";
// The tokenizer files copied from the input model directory when present.
constexpr const char* kTokenizerFiles[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "added_tokens.json"};

double tidy(float v) { return std::stod(fmt::format("{}", v)); }

// A seed for one purpose, independent of the others drawn from the same run seed.
uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  const auto a = philox4x32(seed, stream);
  return (uint64_t(a[0]) << 32) | a[1];
}
enum Stream : uint64_t { kSplit = 1, kShuffle, kInit, kAdapter };

// The CLI's names of the PEFT methods.
const char* peft_cli_name(peft::PeftType t) {
  switch (t) {
    case peft::PeftType::Lora: return "lora";
    case peft::PeftType::AdaLora: return "adalora";
    case peft::PeftType::IA3: return "ia3";
    case peft::PeftType::PrefixTuning: return "prefix";
    case peft::PeftType::Bottleneck: return "adapter";
  }
  return "?";
}

// 11170000 -> "11,170,000".
std::string grouped(int64_t n) {
  std::string d = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return n < 0 ? "-" + out : out;
}

bool uses_peft(const FinetuneOptions& o) { return !o.peft.empty() || !o.adapter_dir.empty(); }

// The adapter's config for a new run: the type's defaults, the --peft-config file's
// fields, task_type SEQ_CLS, and AdaLoRA's total_step from the run unless given.
// A base without pooler weights (a masked-LM checkpoint) gets a newly initialised pooler,
// which a frozen base would keep random and which reloading could not reproduce: it is
// then trained and saved with the adapter (modules_to_save "pooler.dense").
peft::PeftConfig make_peft_config(const FinetuneOptions& o, int64_t total_steps,
                                  bool pooler_missing) {
  const peft::PeftType type = peft::parse_peft_type(o.peft);
  json over = json::object();
  std::string where = "--peft " + o.peft;
  if (!o.peft_config_file.empty()) {
    where = o.peft_config_file;
    HEED_CHECK(fs::is_regular_file(o.peft_config_file), "finetune: --peft-config {}: no such file",
               o.peft_config_file);
    try {
      over = json::parse(read_file(o.peft_config_file));
    } catch (const json::exception& e) {
      HEED_FAIL("finetune: --peft-config {}: not valid JSON: {}", o.peft_config_file, e.what());
    }
    HEED_CHECK(over.is_object(),
               "finetune: --peft-config {}: expected a JSON object of PEFT fields (r, lora_alpha, "
               "target_modules, ...)",
               o.peft_config_file);
  }
  if (over.contains("peft_type")) {
    HEED_CHECK(over["peft_type"].is_string() &&
                   peft::parse_peft_type(over["peft_type"].get<std::string>()) == type,
               "finetune: {}: peft_type {} contradicts --peft {}", where, over["peft_type"].dump(),
               o.peft);
    over.erase("peft_type");
  }
  if (over.contains("task_type"))
    HEED_CHECK(over["task_type"] == "SEQ_CLS",
               "finetune: {}: task_type {} (text classification and regression train a SEQ_CLS "
               "adapter)",
               where, over["task_type"].dump());
  over["task_type"] = "SEQ_CLS";
  if (type == peft::PeftType::AdaLora && !over.contains("total_step")) over["total_step"] = total_steps;
  if (pooler_missing) {
    if (!over.contains("modules_to_save") || over["modules_to_save"].is_null()) {
      over["modules_to_save"] = json::array({"pooler.dense"});
      std::fprintf(stderr,
                   "finetune: %s has no pooler weights; the new pooler is trained and saved with "
                   "the adapter (modules_to_save pooler.dense)\n",
                   o.model_dir.c_str());
    } else {
      std::fprintf(stderr,
                   "finetune: warning: %s has no pooler weights and %s sets modules_to_save "
                   "without pooler.dense: the adapter will only work with this run's random "
                   "pooler\n",
                   o.model_dir.c_str(), where.c_str());
    }
  }
  return peft::PeftConfig::make(type, over, where);
}

void validate(const FinetuneOptions& o) {
  HEED_CHECK(!o.model_dir.empty(), "finetune: no model directory (--model)");
  HEED_CHECK(!o.train_file.empty(), "finetune: no training file (--train)");
  HEED_CHECK(!o.out_dir.empty(), "finetune: no output directory (--out)");
  std::error_code ec;
  HEED_CHECK(!fs::exists(o.out_dir, ec) || !fs::equivalent(o.out_dir, o.model_dir, ec),
             "finetune: --out {} is the model directory; write the fine-tuned model elsewhere",
             o.out_dir);
  HEED_CHECK(o.epochs >= 1, "finetune: --epochs must be >= 1, got {}", o.epochs);
  HEED_CHECK(o.batch_size >= 1 && o.eval_batch_size >= 1,
             "finetune: batch sizes must be >= 1, got {} and {}", o.batch_size, o.eval_batch_size);
  HEED_CHECK(o.grad_accum >= 1, "finetune: --grad-accum must be >= 1, got {}", o.grad_accum);
  HEED_CHECK(o.lr > 0 && std::isfinite(o.lr), "finetune: --lr must be positive, got {}", o.lr);
  HEED_CHECK(o.warmup_ratio >= 0 && o.warmup_ratio <= 1,
             "finetune: --warmup-ratio must be in [0, 1], got {}", o.warmup_ratio);
  HEED_CHECK(o.validation_fraction >= 0 && o.validation_fraction < 1,
             "finetune: --validation-fraction must be in [0, 1), got {}", o.validation_fraction);
  HEED_CHECK(o.patience >= 0, "finetune: --patience must be >= 0, got {}", o.patience);
  const std::string metric = o.metric.empty() ? default_metric(o.task) : o.metric;
  const std::set<std::string> ok = o.task == TextTask::Classify
                                       ? std::set<std::string>{"macro_f1", "accuracy", "loss"}
                                       : std::set<std::string>{"pearson", "spearman", "mse", "loss"};
  HEED_CHECK(ok.count(metric), "finetune: --metric {} does not apply to --task {} (choose from {})",
             metric, text_task_name(o.task), fmt::join(ok, ", "));
  HEED_CHECK(o.task == TextTask::Classify || o.class_weights == ClassWeights::None,
             "finetune: --class-weights applies to --task classify only");
  if (!o.peft.empty()) {
    static const std::set<std::string> kinds = {"lora", "adalora", "ia3", "prefix", "adapter"};
    HEED_CHECK(kinds.count(o.peft),
               "finetune: unknown --peft \"{}\" (choose lora, adalora, ia3, prefix or adapter)",
               o.peft);
  }
  HEED_CHECK(o.peft_config_file.empty() || !o.peft.empty(),
             "finetune: --peft-config {} needs --peft METHOD", o.peft_config_file);
  HEED_CHECK(o.peft_config_file.empty() || o.adapter_dir.empty(),
             "finetune: --peft-config and --adapter exclude each other (a loaded adapter keeps "
             "its adapter_config.json)");
  if (!o.adapter_dir.empty()) {
    HEED_CHECK(fs::is_directory(o.adapter_dir), "finetune: --adapter {}: not a directory",
               o.adapter_dir);
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
      HEED_CHECK(fs::is_regular_file(fs::path(o.adapter_dir) / f),
                 "finetune: --adapter {}: missing {} (not a PEFT adapter directory)", o.adapter_dir,
                 f);
    if (!o.peft.empty()) {
      const peft::PeftConfig c =
          peft::PeftConfig::from_file((fs::path(o.adapter_dir) / "adapter_config.json").string());
      HEED_CHECK(peft_cli_name(c.type) == o.peft,
                 "finetune: --adapter {} holds a {} adapter, not --peft {}", o.adapter_dir,
                 peft::peft_type_name(c.type), o.peft);
    }
  }
}

json options_json(const FinetuneOptions& o) {
  const char* formats[] = {"auto", "csv", "tsv", "jsonl"};
  return {{"task", text_task_name(o.task)},
          {"model", o.model_dir},
          {"train", o.train_file},
          {"eval", o.eval_file},
          {"out", o.out_dir},
          {"text_col", o.columns.text_col},
          {"text_pair_col", o.columns.text_pair_col},
          {"label_col", o.columns.label_col},
          {"format", formats[int(o.columns.format)]},
          {"bad_rows", o.columns.bad_rows == train::BadRows::Skip ? "skip" : "error"},
          {"max_seq_length", o.max_seq_length},
          {"batch_size", o.batch_size},
          {"eval_batch_size", o.eval_batch_size},
          {"epochs", o.epochs},
          {"grad_accum", o.grad_accum},
          {"lr", tidy(o.lr)},
          {"weight_decay", tidy(o.weight_decay)},
          {"warmup_ratio", tidy(o.warmup_ratio)},
          {"max_grad_norm", tidy(o.max_grad_norm)},
          {"seed", o.seed},
          {"validation_fraction", o.validation_fraction},
          {"metric", o.metric.empty() ? default_metric(o.task) : o.metric},
          {"patience", o.patience},
          {"class_weights", o.class_weights == ClassWeights::Balanced ? "balanced" : "none"},
          {"log_every", o.log_every},
          {"keep_checkpoints", o.keep_checkpoints}};
}

// Holds out round(fraction * N) rows (at least 1, leaving at least 1), chosen by the seed;
// both parts keep the file order.
train::Table split_off(train::Table& t, double fraction, uint64_t seed) {
  const size_t n = t.rows.size();
  HEED_CHECK(n >= 2,
             "{}: {} usable row(s): too few to hold out a validation set (pass --eval FILE or "
             "--validation-fraction 0)",
             t.path, n);
  const size_t k = std::clamp<size_t>(size_t(std::llround(fraction * double(n))), 1, n - 1);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  Generator g(derive_seed(seed, kSplit));
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[size_t(g.randint(i))]);
  std::vector<bool> held(n, false);
  for (size_t i = 0; i < k; ++i) held[order[i]] = true;
  train::Table eval{.path = t.path + " (validation split)", .rows = {}, .skipped = {}};
  std::vector<train::TableRow> kept;
  for (size_t i = 0; i < n; ++i) (held[i] ? eval.rows : kept).push_back(std::move(t.rows[i]));
  t.rows = std::move(kept);
  return eval;
}

// The model with a sequence-classification head of num_labels outputs. A classifier of
// another size in the checkpoint is replaced by a new one (HF's ignore_mismatched_sizes).
// *pooler_missing: the checkpoint has no pooler weights (a masked-LM checkpoint), so the
// pooler is newly initialised.
bool lacks_pooler(const models::LoadReport& r) {
  for (const auto& k : r.missing_keys)
    if (k.find("pooler.") != std::string::npos) return true;
  return false;
}

std::unique_ptr<models::BertPreTrainedModel> load_model(const std::string& dir,
                                                        const models::BertConfig& cfg,
                                                        int64_t num_labels, uint64_t seed,
                                                        bool* pooler_missing) {
  using models::BertHead;
  const bool other_classifier = !cfg.architectures.empty() &&
                                cfg.architectures.front() == "BertForSequenceClassification" &&
                                cfg.num_labels != num_labels;
  if (!other_classifier) {
    models::BertLoadResult r = models::bert_from_pretrained(
        dir, {.head = BertHead::SequenceClassification, .num_labels = num_labels, .seed = seed});
    *pooler_missing = lacks_pooler(r.report);
    return std::move(r.model);
  }
  std::fprintf(stderr,
               "finetune: %s has a classifier for %lld labels; it is replaced by a new one for "
               "%lld labels\n",
               dir.c_str(), static_cast<long long>(cfg.num_labels),
               static_cast<long long>(num_labels));
  const auto base =
      models::bert_from_pretrained(dir, {.head = BertHead::Base, .load = {.quiet = true}, .seed = seed});
  *pooler_missing = lacks_pooler(base.report);
  models::BertConfig c = base.model->config();
  c.num_labels = num_labels;
  c.id2label.clear();
  c.label2id.clear();
  Generator gen(seed);
  auto m = models::make_bert(c, BertHead::SequenceClassification, gen);
  std::map<std::string, Tensor> sd;
  for (auto& [k, t] : base.model->state_dict(models::BertPreTrainedModel::kBaseModelPrefix))
    sd[k] = t;
  const auto r = m->load_state_dict(sd);
  HEED_CHECK(r.unexpected_keys.empty(), "finetune: unexpected base weights [{}]",
             fmt::join(r.unexpected_keys, ", "));
  return m;
}

void copy_tokenizer_files(const std::string& from, const std::string& to,
                          const tokenizers::BertTokenizer& tok) {
  for (const char* name : kTokenizerFiles) {
    const fs::path src = fs::path(from) / name;
    if (fs::is_regular_file(src)) write_file_atomic((fs::path(to) / name).string(), read_file(src.string()));
  }
  if (!fs::exists(fs::path(to) / "vocab.txt"))
    tokenizers::save_vocab_txt(tok.vocab(), (fs::path(to) / "vocab.txt").string());
  if (!fs::exists(fs::path(to) / "tokenizer.json")) tok.save((fs::path(to) / "tokenizer.json").string());
}

// Warns about options that differ from the run being resumed.
void compare_run_config(const std::string& path, const json& now) {
  if (!fs::is_regular_file(path)) return;
  json before;
  try {
    before = json::parse(read_file(path));
  } catch (const json::exception&) {
    return;
  }
  std::vector<std::string> diff;
  for (const auto& [k, v] : now.items())
    if (!before.contains(k) || before[k] != v) diff.push_back(k);
  if (!diff.empty())
    std::fprintf(stderr,
                 "finetune: resuming with options that differ from the saved run (%s); the result "
                 "will not match an uninterrupted run\n",
                 fmt::format("{}", fmt::join(diff, ", ")).c_str());
}

}  // namespace

FinetuneResult finetune(const FinetuneOptions& o) {
  validate(o);
  const bool classify = o.task == TextTask::Classify;
  const std::string metric = o.metric.empty() ? default_metric(o.task) : o.metric;
  const std::string ckpt_dir = (fs::path(o.out_dir) / kCheckpointSubdir).string();
  if (!o.resume) {
    const train::CheckpointScan scan = train::scan_checkpoints(ckpt_dir);
    HEED_CHECK(scan.complete.empty(),
               "finetune: {} holds checkpoints of an earlier run; pass --resume to continue it, or "
               "choose another --out",
               ckpt_dir);
  }

  // Model config and tokenizer.
  const std::string config_path = (fs::path(o.model_dir) / "config.json").string();
  HEED_CHECK(fs::is_directory(o.model_dir), "finetune: {}: not a model directory", o.model_dir);
  const models::BertConfig base_cfg = models::BertConfig::from_file(config_path);
  const tokenizers::BertTokenizer tok = tokenizers::BertTokenizer::from_pretrained(o.model_dir);
  HEED_CHECK(tok.vocab_size() <= base_cfg.vocab_size,
             "finetune: {}: the tokenizer has {} tokens but the model's vocab_size is {}",
             o.model_dir, tok.vocab_size(), base_cfg.vocab_size);
  const int64_t max_seq_length = clamp_max_seq_length(o.max_seq_length, base_cfg, "finetune");

  // Data.
  train::Table train_table = read_text_table(o.train_file, o.columns, /*labelled=*/true);
  std::vector<std::string> labels;
  std::map<std::string, int64_t> label2id;
  if (classify) {
    labels = sorted_labels(train_table);
    HEED_CHECK(labels.size() >= 2,
               "finetune: {}: every row has the label \"{}\": nothing to classify (column '{}')",
               o.train_file, labels.empty() ? "" : labels[0], o.columns.label_col);
    // Keep the model's ids when it already knows exactly these labels.
    std::vector<std::string> model_labels;
    for (int64_t i = 0; i < base_cfg.num_labels; ++i) model_labels.push_back(base_cfg.label_name(i));
    if (!o.adapter_dir.empty()) model_labels = read_head_config(o.adapter_dir).labels;
    if (std::set<std::string>(model_labels.begin(), model_labels.end()) ==
            std::set<std::string>(labels.begin(), labels.end()) &&
        model_labels.size() == labels.size())
      labels = model_labels;
    for (size_t i = 0; i < labels.size(); ++i) label2id[labels[i]] = int64_t(i);
  }
  train::Table eval_table;
  const bool has_eval = !o.eval_file.empty() || o.validation_fraction > 0;
  if (!o.eval_file.empty())
    eval_table = read_text_table(o.eval_file, o.columns, /*labelled=*/true);
  else if (has_eval)
    eval_table = split_off(train_table, o.validation_fraction, o.seed);
  const EncodeConfig enc{.task = o.task,
                         .max_seq_length = max_seq_length,
                         .labelled = true,
                         .label2id = label2id,
                         .label_col = o.columns.label_col,
                         .bad_rows = o.columns.bad_rows};
  const std::vector<TextExample> train_ex = encode_examples(train_table, tok, enc);
  std::vector<TextExample> eval_ex;
  if (has_eval) eval_ex = encode_examples(eval_table, tok, enc);
  for (const train::Table* t : {&train_table, &eval_table})
    if (t->num_skipped() > 0) std::fprintf(stderr, "finetune: %s\n", t->summary().c_str());

  // Model.
  const int64_t num_labels = classify ? int64_t(labels.size()) : 1;
  bool pooler_missing = false;
  std::shared_ptr<models::BertPreTrainedModel> model =
      load_model(o.model_dir, base_cfg, num_labels, derive_seed(o.seed, kInit), &pooler_missing);
  models::BertConfig& mc = model->mutable_config();
  mc.problem_type = classify ? "single_label_classification" : "regression";
  mc.id2label.clear();
  mc.label2id.clear();
  for (size_t i = 0; i < labels.size(); ++i) {
    mc.id2label[int64_t(i)] = labels[i];
    mc.label2id[labels[i]] = int64_t(i);
  }

  Tensor class_weight;
  if (classify && o.class_weights == ClassWeights::Balanced) {
    std::vector<int64_t> y;
    for (const auto& e : train_ex) y.push_back(e.label);
    class_weight = Tensor::from_vector(balanced_class_weights(y, num_labels), Shape{num_labels});
  }

  ShuffledTextBatches data(train_ex, {.batch_size = o.batch_size,
                                      .seed = derive_seed(o.seed, kShuffle),
                                      .pad_id = tok.pad_token_id(),
                                      .task = o.task});
  // HF: num_update_steps_per_epoch = len(dataloader) // gradient_accumulation_steps (>= 1).
  const int64_t steps_per_epoch = std::max<int64_t>(1, data.batches_per_epoch() / o.grad_accum);

  // PEFT: the base frozen inside a PeftModel with one trainable adapter ("default").
  std::unique_ptr<peft::PeftModel> pm;
  HeadConfig head{.num_labels = num_labels,
                  .labels = labels,
                  .problem_type = classify ? "single_label_classification" : "regression"};
  if (uses_peft(o)) {
    pm = std::make_unique<peft::PeftModel>(model);
    if (!o.adapter_dir.empty())
      pm->load_adapter(o.adapter_dir, "default");
    else
      pm->add_adapter("default", make_peft_config(o, o.epochs * steps_per_epoch, pooler_missing),
                      derive_seed(o.seed, kAdapter));
    const int64_t trainable = pm->num_trainable_parameters(), total = pm->num_total_parameters();
    std::fprintf(stderr, "finetune: %s: %s trainable parameters of %s (%.2f%%)\n",
                 peft_cli_name(pm->adapter_config().type), grouped(trainable).c_str(),
                 grouped(total).c_str(), total > 0 ? 100.0 * double(trainable) / double(total) : 0.0);
  }

  // Output directory: tokenizer files and the options now, the model when it improves.
  fs::create_directories(o.out_dir);
  json run_config = options_json(o);
  if (pm) {
    run_config["peft"] = peft_cli_name(pm->adapter_config().type);
    run_config["peft_config"] = o.peft_config_file;
    run_config["adapter"] = o.adapter_dir;
    run_config["peft_settings"] = pm->adapter_config().to_json();
  }
  const std::string run_config_path = (fs::path(o.out_dir) / "run_config.json").string();
  if (o.resume) compare_run_config(run_config_path, run_config);
  write_file_atomic(run_config_path, run_config.dump(2) + "\n");
  copy_tokenizer_files(o.model_dir, o.out_dir, tok);
  const std::string eval_results_path = (fs::path(o.out_dir) / "eval_results.json").string();
  if (!o.resume) fs::remove(eval_results_path);

  std::fprintf(stderr,
               "finetune: %s, %zu training / %zu validation examples%s, %lld steps per epoch x %lld "
               "epochs\n",
               text_task_name(o.task), train_ex.size(), eval_ex.size(),
               classify ? fmt::format(", labels [{}]", fmt::join(labels, ", ")).c_str() : "",
               static_cast<long long>(steps_per_epoch), static_cast<long long>(o.epochs));

  models::BertPreTrainedModel& m = *model;
  peft::PeftModel* const pmp = pm.get();
  const ClassifierForward forward = [&m, pmp](const models::BertInputs& in) {
    return pmp ? pmp->forward(in) : m.forward(in);
  };
  // AdaLoRA's orthogonal regulariser joins the loss (PEFT's AdaLoraModel.forward).
  const auto regularized = [pmp](Tensor loss) {
    if (!pmp) return loss;
    const Tensor reg = pmp->regularization_loss();
    return reg.defined() ? ops::add(loss, reg) : loss;
  };
  const train::LossFn loss = [&](const train::Batch& b) {
    const Tensor& y = b.at("labels");
    models::BertOutput out = forward({.input_ids = b.at("input_ids"),
                                        .attention_mask = b.at("attention_mask"),
                                        .token_type_ids = b.at("token_type_ids"),
                                        .labels = classify ? Tensor() : y});
    if (!classify) return train::StepOutput{.loss = regularized(out.loss)};
    const std::vector<int64_t> pred = ops::argmax(out.logits, -1).to_ids(), gold = y.to_ids();
    double ok = 0;
    for (size_t i = 0; i < gold.size(); ++i) ok += pred[i] == gold[i];
    return train::StepOutput{
        .loss = regularized(ops::cross_entropy(out.logits, y, {.class_weight = class_weight})),
        .metrics = {{"accuracy", ok / double(gold.size())}}};
  };
  train::Trainer* trainer_ptr = nullptr;
  TextEvaluation last_eval;
  train::EvalFn eval_fn;
  if (has_eval)
    eval_fn = [&] {
      last_eval = score_logits(
          classifier_logits(forward, num_labels, eval_ex, tok.pad_token_id(), o.eval_batch_size),
          eval_ex, o.task, labels);
      std::map<std::string, double> r = last_eval.metrics();
      r["epoch"] = double(trainer_ptr->step()) / double(steps_per_epoch);
      if (o.on_eval) o.on_eval(r);
      return r;
    };
  // The best model: the full model directory, or (PEFT) the adapter and its head labels.
  const auto save_model = [&] {
    if (!pmp) return models::bert_save_pretrained(m, o.out_dir);
    pmp->save_adapter(o.out_dir, "", o.model_dir);
    write_head_config(o.out_dir, head);
  };
  nn::Module& trained = pmp ? static_cast<nn::Module&>(*pmp) : static_cast<nn::Module&>(m);
  train::Trainer trainer(trained, loss, data,
                         {.max_steps = o.epochs * steps_per_epoch,
                          .grad_accum_steps = o.grad_accum,
                          .lr = o.lr,
                          .weight_decay = o.weight_decay,
                          .warmup_ratio = o.warmup_ratio,
                          .schedule = train::ScheduleKind::Linear,
                          .max_grad_norm = o.max_grad_norm,
                          .eval_every = has_eval ? steps_per_epoch : 0,
                          .save_every = steps_per_epoch,
                          .log_every = o.log_every,
                          .out_dir = o.out_dir,
                          .checkpoint_dir = ckpt_dir,
                          .seed = derive_seed(o.seed, kInit),
                          .keep_last_n = o.keep_checkpoints,
                          .progress = o.progress,
                          .bf16 = o.bf16},
                         eval_fn);
  trainer_ptr = &trainer;
  if (pmp && pmp->step_hook()) trainer.set_step_hook(pmp->step_hook());
  // The best model is written to out_dir as soon as an evaluation improves on the best,
  // so out_dir always holds it; its evaluation rides along in the checkpoints.
  train::EarlyStopping best({.metric = metric,
                             .greater_is_better = metric_greater_is_better(metric),
                             .patience = o.patience},
                            [&](int64_t step, const std::map<std::string, double>&) {
                              save_model();
                              return json{{"step", step},
                                          {"epoch", double(step) / double(steps_per_epoch)},
                                          {"evaluation", last_eval.to_json()}};
                            });
  if (has_eval) trainer.set_eval_hook(&best);
  if (o.resume && !trainer.resume_latest())
    std::fprintf(stderr, "finetune: no checkpoint in %s; starting from %s\n", ckpt_dir.c_str(),
                 o.model_dir.c_str());
  const train::TrainResult tr = trainer.train();

  FinetuneResult r;
  r.out_dir = o.out_dir;
  r.labels = labels;
  r.num_train = int64_t(train_ex.size());
  r.num_eval = int64_t(eval_ex.size());
  r.steps = tr.steps;
  r.steps_per_epoch = steps_per_epoch;
  r.epochs_done = double(tr.steps) / double(steps_per_epoch);
  r.stop_reason = tr.stop_reason;
  r.interrupted = tr.interrupted;
  if (has_eval && best.has_best()) {
    r.metric = metric;
    r.best_metric = best.best();
    r.best_step = best.best_step();
    r.eval_results = best.best_info().at("evaluation");
    const char* weights = pmp ? "adapter_model.safetensors" : "model.safetensors";
    HEED_CHECK(fs::is_regular_file(fs::path(o.out_dir) / weights),
               "finetune: the best model (step {}) is missing from {}: was {} removed while the "
               "run was stopped?",
               r.best_step, o.out_dir, weights);
    write_file_atomic(eval_results_path, r.eval_results.dump(2) + "\n");
  } else {
    // No validation (or stopped before the first one): keep the model as it is now.
    save_model();
  }
  if (pmp) {
    r.peft_type = std::string(peft::peft_type_name(pmp->adapter_config().type));
    r.trainable_parameters = pmp->num_trainable_parameters();
    r.total_parameters = pmp->num_total_parameters();
  }
  return r;
}

}  // namespace heed::tasks
