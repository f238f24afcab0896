#include "heed/models/bert_runner.h"

#include <algorithm>
#include <filesystem>

#include "heed/autograd/node.h"
#include "heed/io/checkpoint_io.h"
#include "heed/io/npy.h"
#include "heed/ops/ops.h"

namespace heed::models {

namespace fs = std::filesystem;

namespace {

bool is_integer(DType t) { return t == DType::I64 || t == DType::I32 || t == DType::U8; }

// Values of an integer array must lie in [0, n); the error names the file.
void check_range(const Tensor& t, int64_t n, const std::string& path, const char* what) {
  for (int64_t v : t.to_ids())
    HEED_CHECK(v >= 0 && v < n, "{}: {} {} is outside [0, {}) of the model's config.json", path,
               what, v, n);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", b, units[u]) : fmt::format("{:.1f} {}", b, units[u]);
}

}  // namespace

BertInputs read_bert_inputs_npy(const std::string& dir) {
  HEED_CHECK(fs::is_directory(dir), "{}: not an inputs directory (does not exist or is not a folder)",
             dir);
  const std::string ids_path = (fs::path(dir) / "input_ids.npy").string();
  HEED_CHECK(fs::is_regular_file(ids_path), "{}: missing input_ids.npy (an integer (B, T) array)",
             dir);
  BertInputs in;
  in.input_ids = io::load_npy(ids_path);
  HEED_CHECK(in.input_ids.ndim() == 2 && is_integer(in.input_ids.dtype()),
             "{}: input_ids must be an integer (B, T) array, got {} {}", ids_path,
             in.input_ids.dtype(), in.input_ids.shape());
  in.input_ids = in.input_ids.to(DType::I64);
  auto optional_input = [&](const char* file, bool integer) {
    const std::string p = (fs::path(dir) / file).string();
    if (!fs::exists(p)) return Tensor();
    Tensor t = io::load_npy(p);
    HEED_CHECK(t.shape() == in.input_ids.shape(), "{}: shape {} differs from input_ids {}", p,
               t.shape(), in.input_ids.shape());
    HEED_CHECK(!integer || is_integer(t.dtype()), "{}: must be an integer array, got {}", p,
               t.dtype());
    return t;
  };
  in.attention_mask = optional_input("attention_mask.npy", false);
  in.token_type_ids = optional_input("token_type_ids.npy", true);
  if (in.token_type_ids.defined()) in.token_type_ids = in.token_type_ids.to(DType::I64);
  return in;
}

std::vector<std::string> bert_forward_npy(const BertForwardNpyOptions& opt) {
  BertInputs in = read_bert_inputs_npy(opt.inputs_dir);
  BertFromPretrainedOptions lo;
  lo.head = opt.head;
  lo.load.quiet = opt.quiet;
  BertLoadResult r = bert_from_pretrained(opt.model_dir, lo);
  const BertConfig& cfg = r.model->config();
  const fs::path inputs(opt.inputs_dir);
  check_range(in.input_ids, cfg.vocab_size, (inputs / "input_ids.npy").string(), "input id");
  if (in.token_type_ids.defined())
    check_range(in.token_type_ids, cfg.type_vocab_size, (inputs / "token_type_ids.npy").string(),
                "token type id");
  HEED_CHECK(in.input_ids.size(1) <= cfg.max_position_embeddings,
             "{}: sequence length {} exceeds max_position_embeddings {} of {}/config.json",
             (inputs / "input_ids.npy").string(), in.input_ids.size(1),
             cfg.max_position_embeddings, opt.model_dir);
  in.output_hidden_states = opt.output_hidden_states;
  in.output_attentions = opt.output_attentions;

  autograd::NoGradGuard no_grad;
  const BertOutput out = r.model->forward(in);
  fs::create_directories(opt.out_dir);
  std::vector<std::string> written;
  for (const auto& [name, t] : out.named()) {
    if (name == "loss") continue;
    io::save_npy((fs::path(opt.out_dir) / (name + ".npy")).string(), t.contiguous());
    written.push_back(name);
  }
  return written;
}

int64_t bert_num_parameters(const BertConfig& c, BertHead head) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, L = c.num_labels;
  const int64_t linear_cc = C * C + C, layer_norm = 2 * C;
  const int64_t embeddings = (V + c.max_position_embeddings + c.type_vocab_size) * C + layer_norm;
  const int64_t layer = 4 * linear_cc + (C * F + F) + (F * C + C) + 2 * layer_norm;
  const int64_t encoder = embeddings + c.num_hidden_layers * layer;
  const int64_t pooler = linear_cc;
  const int64_t mlm = linear_cc + layer_norm + V;  // decoder weight is the word embeddings
  switch (head) {
    case BertHead::Base: return encoder + pooler;
    case BertHead::PreTraining: return encoder + pooler + mlm + (2 * C + 2);
    case BertHead::MaskedLM: return encoder + mlm;
    case BertHead::SequenceClassification: return encoder + pooler + C * L + L;
    case BertHead::TokenClassification: return encoder + C * L + L;
    case BertHead::QuestionAnswering: return encoder + 2 * C + 2;
  }
  return 0;
}

std::string bert_inspect(const std::string& dir) {
  HEED_CHECK(fs::is_directory(dir), "{}: not a model directory (does not exist or is not a folder)",
             dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  HEED_CHECK(fs::is_regular_file(config_path), "{}: no config.json in the model directory", dir);
  const BertConfig cfg = BertConfig::from_file(config_path);
  BertHead head = BertHead::Base;
  if (!cfg.architectures.empty())
    head = bert_head_from_class_name(cfg.architectures.front()).value_or(BertHead::Base);

  std::string s = fmt::format("model        {}\n", dir);
  s += fmt::format("class        {}{}\n", bert_class_name(head),
                   cfg.architectures.empty() ? " (config.json names no architectures)" : "");
  s += fmt::format("config       {}\n", config_path);
  const nlohmann::json cj = cfg.to_json();
  for (const auto& [k, v] : cj.items())
    s += fmt::format("  {:<30} {}\n", k, v.dump());
  const int64_t n = bert_num_parameters(cfg, head);
  s += fmt::format("parameters   {} ({:.2f} M)\n", n, double(n) / 1e6);
  s += fmt::format("memory f32   {} ({} bytes)\n", human_bytes(double(n) * 4.0), n * 4);
  int64_t disk = 0, tensors = 0, values = 0;
  std::string listing;
  for (const auto& f : find_weight_files(dir)) {
    const int64_t bytes = int64_t(fs::file_size(f));
    disk += bytes;
    const io::TensorFile tf = io::load_checkpoint(f);
    tensors += int64_t(tf.names.size());
    for (const auto& [name, t] : tf.tensors) values += t.numel();
    listing += fmt::format("  {:<30} {} ({} bytes), {} tensors\n", fs::path(f).filename().string(),
                           human_bytes(double(bytes)), bytes, tf.names.size());
  }
  s += fmt::format("on disk      {} ({} bytes){}\n", human_bytes(double(disk)), disk,
                   cfg.torch_dtype.empty() ? "" : ", torch_dtype " + cfg.torch_dtype);
  s += listing;
  s += fmt::format("checkpoint   {} tensors, {} values (tied aliases and buffers included)\n",
                   tensors, values);
  return s;
}

Pooling parse_pooling(std::string_view name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  HEED_FAIL("unknown pooling \"{}\" (expected cls or mean)", name);
}

Tensor pool_embeddings(const Tensor& h, const Tensor& attention_mask, Pooling pooling) {
  HEED_CHECK(h.ndim() == 3, "pool_embeddings: last_hidden_state {} must be (B, T, C)", h.shape());
  if (pooling == Pooling::Cls) return ops::contiguous(ops::select(h, 1, 0));  // (B, C)
  const int64_t B = h.size(0), T = h.size(1);
  Tensor m = attention_mask.defined() ? attention_mask.to(DType::F32) : Tensor::ones(Shape{B, T});
  HEED_CHECK(m.shape() == Shape({B, T}), "pool_embeddings: attention_mask {} must be (B, T) = ({}, {})",
             m.shape(), B, T);
  const Tensor mm = ops::reshape(m, Shape{B, T, 1});
  const Tensor summed = ops::sum(ops::mul(h, mm), 1);  // (B, C)
  // Token counts clamped to 1e-9 as sentence-transformers' mean pooling: an all-padding
  // row gives zeros, not NaN.
  const std::vector<float> mv = m.to_vector();
  std::vector<float> count(size_t(B), 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) count[size_t(b)] += mv[size_t(b * T + t)];
    count[size_t(b)] = std::max(count[size_t(b)], 1e-9f);
  }
  return ops::div(summed, Tensor::from_vector(count, Shape{B, 1}));  // (B, C)
}

}  // namespace heed::models
