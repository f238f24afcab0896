#include "heed/infer/quantize.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/io/checkpoint_io.h"
#include "heed/io/safetensors.h"
#include "heed/models/pretrained.h"

namespace heed::infer {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kScaleSuffix = "_scale";

json read_config(const std::string& dir) {
  const fs::path p = fs::path(dir) / "config.json";
  HEED_CHECK(fs::is_regular_file(p), "{}: no config.json (not a model directory)", dir);
  std::ifstream in(p);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    HEED_FAIL("{}: not valid JSON: {}", p.string(), e.what());
  }
}

int64_t file_size_sum(const std::vector<std::string>& files) {
  int64_t n = 0;
  for (const auto& f : files) n += int64_t(fs::file_size(f));
  return n;
}

}  // namespace

bool is_quantizable_weight(const std::string& key) {
  // [PREFIX.]encoder.layer.N.SUFFIX (no std::regex: GCC 12 warns inside <regex> under ASan).
  static const char* const kSuffixes[] = {
      "attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
      "attention.output.dense.weight", "intermediate.dense.weight", "output.dense.weight"};
  const std::string_view k = key;
  constexpr std::string_view kLayer = "encoder.layer.";
  const size_t at = k.find(kLayer);
  if (at == std::string_view::npos || (at > 0 && k[at - 1] != '.')) return false;
  size_t i = at + kLayer.size(), digits = 0;
  while (i < k.size() && k[i] >= '0' && k[i] <= '9') ++i, ++digits;
  if (digits == 0 || i >= k.size() || k[i] != '.') return false;
  const std::string_view rest = k.substr(i + 1);
  for (const char* s : kSuffixes)
    if (rest == s) return true;
  return false;
}

bool is_quantized_checkpoint(const std::string& model_dir) {
  const fs::path p = fs::path(model_dir) / "config.json";
  if (!fs::is_regular_file(p)) return false;
  const json cfg = read_config(model_dir);
  const auto q = cfg.find("quantization_config");
  if (q == cfg.end() || q->is_null()) return false;
  const std::string method = q->is_object() ? q->value("quant_method", "") : "";
  HEED_CHECK(method == kQuantMethod,
             "{}/config.json: quantization_config quant_method \"{}\" is not supported (heed reads "
             "{} checkpoints, from `heed quantize`)",
             model_dir, method, kQuantMethod);
  return true;
}

QuantizeReport quantize_checkpoint(const std::string& model_dir, const std::string& out_dir,
                                   const QuantizeOptions& o) {
  HEED_CHECK(o.dtype == "int8", "heed quantize: unsupported --dtype \"{}\" (supported: int8)",
             o.dtype);
  HEED_CHECK(fs::is_directory(model_dir), "{}: not a model directory", model_dir);
  json cfg = read_config(model_dir);
  HEED_CHECK(!is_quantized_checkpoint(model_dir), "{}: already quantized ({})", model_dir,
             kQuantMethod);
  HEED_CHECK(!fs::exists(out_dir) || !fs::equivalent(model_dir, out_dir),
             "heed quantize: --out must differ from --model ({})", model_dir);
  const std::vector<std::string> files = models::find_weight_files(model_dir);
  QuantizeReport r;
  r.bytes_in = file_size_sum(files);

  std::vector<std::pair<std::string, Tensor>> out;
  std::map<std::string, io::FileDType> store_as;
  std::map<std::string, std::string> metadata;
  for (const std::string& f : files) {
    const io::TensorFile tf = io::load_checkpoint(f);
    for (const auto& [k, v] : tf.metadata)
      if (k != "total_size") metadata[k] = v;
    for (const std::string& name : tf.names) {
      const Tensor& t = tf.at(name);
      const bool floating = t.dtype() == DType::F32 || t.dtype() == DType::BF16;
      if (!floating) {  // position_ids and other buffers, as stored
        out.emplace_back(name, t);
        ++r.kept_tensors;
        continue;
      }
      const Tensor w = tf.at_f32(name).contiguous();
      if (!(is_quantizable_weight(name) && w.ndim() == 2)) {
        out.emplace_back(name, w);
        ++r.kept_tensors;
        continue;
      }
      const int64_t rows = w.size(0), cols = w.size(1);
      Tensor q = Tensor::empty(w.shape(), DType::I32);
      Tensor s = Tensor::empty(Shape{rows}, DType::F32);
      const float* src = w.data<float>();
      int32_t* qd = q.data<int32_t>();
      float* sd = s.data<float>();
      for (int64_t i = 0; i < rows; ++i) {
        const float* row = src + i * cols;
        float amax = 0.0f;
        for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
        HEED_CHECK(std::isfinite(amax), "{}: tensor '{}' has a non-finite value in row {}", f,
                   name, i);
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        sd[i] = scale;
        for (int64_t j = 0; j < cols; ++j) {
          const int32_t v = int32_t(std::clamp(std::nearbyint(row[j] / scale), -127.0f, 127.0f));
          qd[i * cols + j] = v;
          r.max_abs_error = std::max(r.max_abs_error, double(std::fabs(float(v) * scale - row[j])));
        }
      }
      out.emplace_back(name, q);
      store_as[name] = io::FileDType::I8;
      out.emplace_back(name + kScaleSuffix, s);
      ++r.quantized_tensors;
    }
  }
  HEED_CHECK(r.quantized_tensors > 0,
             "{}: no encoder Linear weights (encoder.layer.N.*.weight) to quantize", model_dir);
  metadata["format"] = "pt";
  metadata["quantization"] = kQuantMethod;

  fs::create_directories(out_dir);
  cfg["quantization_config"] = {{"quant_method", kQuantMethod},
                                {"weights", "per-channel symmetric int8"},
                                {"activations", "dynamic per-token"}};
  const fs::path weights = fs::path(out_dir) / "model.safetensors";
  io::save_safetensors(weights.string(), out, metadata, store_as);
  write_file_atomic((fs::path(out_dir) / "config.json").string(), cfg.dump(2) + "\n");
  // Stale weights of another format or a sharded save would shadow or confuse the new file.
  for (const char* stale : {"model.safetensors.index.json", "pytorch_model.bin",
                            "pytorch_model.bin.index.json"})
    fs::remove(fs::path(out_dir) / stale);
  for (const char* name : {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "added_tokens.json", "head_config.json"}) {
    const fs::path src = fs::path(model_dir) / name;
    if (!fs::is_regular_file(src)) continue;
    fs::copy_file(src, fs::path(out_dir) / name, fs::copy_options::overwrite_existing);
    r.copied_files.push_back(name);
  }
  r.bytes_out = int64_t(fs::file_size(weights));
  return r;
}

std::map<std::string, Tensor> load_dequantized_state_dict(const std::string& model_dir) {
  const std::vector<std::string> files = models::find_weight_files(model_dir);
  std::map<std::string, Tensor> raw;
  for (const std::string& f : files)
    for (auto& [k, v] : io::load_checkpoint(f).tensors) raw[k] = v;
  std::map<std::string, Tensor> sd;
  for (const auto& [name, t] : raw) {
    if (name.size() > 6 && name.ends_with(kScaleSuffix) && raw.count(name.substr(0, name.size() - 6)))
      continue;  // consumed with its weight
    const auto s = raw.find(name + kScaleSuffix);
    if (s == raw.end()) {
      sd[name] = t;
      continue;
    }
    HEED_CHECK(t.ndim() == 2 && t.dtype() == DType::I32 && s->second.ndim() == 1 &&
                   s->second.size(0) == t.size(0),
               "{}: tensor '{}' (shape {}) and its scale (shape {}) do not form a per-channel "
               "int8 weight",
               model_dir, name, t.shape(), s->second.shape());
    const Tensor q = t.contiguous();
    const std::vector<float> scale = s->second.to_vector();
    const int64_t rows = q.size(0), cols = q.size(1);
    Tensor w = Tensor::empty(q.shape(), DType::F32);
    const int32_t* qd = q.data<int32_t>();
    float* wd = w.data<float>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) wd[i * cols + j] = float(qd[i * cols + j]) * scale[size_t(i)];
    sd[name] = w;
  }
  return sd;
}

}  // namespace heed::infer
