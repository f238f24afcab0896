#include "heed/models/pretrained.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/io/checkpoint_io.h"
#include "heed/io/safetensors.h"

namespace heed::models {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSafetensors = "model.safetensors";
constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";
constexpr const char* kTorch = "pytorch_model.bin";
constexpr const char* kTorchIndex = "pytorch_model.bin.index.json";

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// The shards an index lists (weight_map values), sorted and unique as HF loads them.
std::vector<std::string> shards_of_index(const std::string& dir, const std::string& index_path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index_path));
  } catch (const nlohmann::json::exception& e) {
    HEED_FAIL("{}: malformed JSON: {}", index_path, e.what());
  }
  HEED_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
             "{}: missing the \"weight_map\" object", index_path);
  std::set<std::string> names;
  for (const auto& [key, file] : j["weight_map"].items()) {
    HEED_CHECK(file.is_string(), "{}: weight_map[\"{}\"] must be a file name", index_path, key);
    const std::string f = file.get<std::string>();
    HEED_CHECK(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..",
               "{}: weight_map[\"{}\"] = \"{}\" is not a file name in the directory", index_path,
               key, f);
    names.insert(f);
  }
  HEED_CHECK(!names.empty(), "{}: weight_map is empty", index_path);
  std::vector<std::string> out;
  for (const auto& f : names) {
    const std::string p = (fs::path(dir) / f).string();
    HEED_CHECK(fs::is_regular_file(p), "{}: shard {} is listed but does not exist", index_path, p);
    out.push_back(p);
  }
  return out;
}

// HF's _fix_key: LayerNorm parameters of TF-converted checkpoints are gamma/beta.
std::string fix_legacy_key(const std::string& k) {
  if (ends_with(k, ".gamma")) return k.substr(0, k.size() - 5) + "weight";
  if (ends_with(k, ".beta")) return k.substr(0, k.size() - 4) + "bias";
  return k;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16; }

// "model-00001-of-00003.safetensors": a shard of a sharded save_pretrained.
bool is_safetensors_shard(const std::string& name) {
  const std::string pattern = "model-#####-of-#####.safetensors";
  if (name.size() != pattern.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (pattern[i] == '#' ? !std::isdigit(static_cast<unsigned char>(name[i])) : name[i] != pattern[i])
      return false;
  return true;
}

}  // namespace

std::string python_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", '" : "'") + items[i] + "'";
  return s + "]";
}

std::vector<std::string> find_weight_files(const std::string& dir, WeightsFormat format) {
  HEED_CHECK(fs::is_directory(dir), "{}: not a model directory (does not exist or is not a folder)",
             dir);
  auto at = [&](const char* name) { return (fs::path(dir) / name).string(); };
  auto try_pair = [&](const char* single, const char* index) -> std::vector<std::string> {
    if (fs::is_regular_file(at(single))) return {at(single)};
    if (fs::is_regular_file(at(index))) return shards_of_index(dir, at(index));
    return {};
  };
  if (format != WeightsFormat::Torch) {
    auto f = try_pair(kSafetensors, kSafetensorsIndex);
    if (!f.empty()) return f;
  }
  if (format != WeightsFormat::Safetensors) {
    auto f = try_pair(kTorch, kTorchIndex);
    if (!f.empty()) return f;
  }
  const std::string wanted =
      format == WeightsFormat::Safetensors ? fmt::format("{} or {}", kSafetensors, kSafetensorsIndex)
      : format == WeightsFormat::Torch     ? fmt::format("{} or {}", kTorch, kTorchIndex)
                                           : fmt::format("{}, {}, {} or {}", kSafetensors,
                                                         kSafetensorsIndex, kTorch, kTorchIndex);
  HEED_FAIL("{}: no weights found (looked for {})", dir, wanted);
}

LoadReport load_pretrained_weights(
    nn::Module& model, const std::string& dir, const PretrainedSpec& spec,
    const LoadOptions& options,
    const std::function<void(const std::vector<std::string>&)>& init_missing) {
  LoadReport report;
  report.files = find_weight_files(dir, options.format);

  struct Source {
    std::string key, file;  // checkpoint key (after renaming) and where it came from
    Tensor tensor;
  };
  std::vector<Source> loaded;
  std::map<std::string, std::string> seen;  // key -> file
  for (const auto& file : report.files) {
    report.bytes_on_disk += int64_t(fs::file_size(file));
    io::TensorFile tf = io::load_checkpoint(file);
    for (const auto& name : tf.names) {
      const std::string key = fix_legacy_key(name);
      if (key != name) report.renamed_keys.push_back(name + " -> " + key);
      auto [it, fresh] = seen.emplace(key, file);
      HEED_CHECK(fresh, "{}: tensor \"{}\" is also in {}", file, key, it->second);
      loaded.push_back({key, file, tf.tensors.at(name)});
    }
  }

  std::map<std::string, Tensor> expected;
  std::vector<std::string> order;
  for (auto& [name, t] : model.state_dict()) {
    expected.emplace(name, t);
    order.push_back(name);
  }
  std::map<std::string, std::string> alias_of;  // alias -> canonical
  for (const auto& [alias, canonical] : spec.tied)
    if (expected.count(canonical)) alias_of[alias] = canonical;

  // HF's prefix logic: a task model accepts a bare base-model checkpoint, and a base
  // model accepts a task checkpoint (its "bert." keys; the heads are unused).
  const std::string prefix = spec.base_model_prefix + ".";
  const bool has_prefix = std::any_of(loaded.begin(), loaded.end(),
                                      [&](const Source& s) { return starts_with(s.key, prefix); });
  const bool expects_prefix = !spec.is_base_model;
  auto model_key = [&](const std::string& k) {
    if (expects_prefix && !has_prefix && (expected.count(prefix + k) || alias_of.count(prefix + k)))
      return prefix + k;
    if (!expects_prefix && has_prefix && starts_with(k, prefix)) return k.substr(prefix.size());
    return k;
  };
  auto ignored = [&](const std::string& k) {
    return std::any_of(spec.ignore_unexpected.begin(), spec.ignore_unexpected.end(),
                       [&](const std::string& pat) { return k.find(pat) != std::string::npos; });
  };
  // Size mismatches are collected and reported together, as torch's load_state_dict.
  std::vector<std::string> mismatches;
  auto copy_in = [&](const std::string& name, const Source& s) {
    Tensor& p = expected.at(name);
    if (s.tensor.shape() != p.shape()) {
      mismatches.push_back(fmt::format(
          "{}: tensor \"{}\" has shape {} in the checkpoint, but {} built from {} expects {}",
          s.file, s.key, s.tensor.shape(), spec.class_name, spec.config_path, p.shape()));
      return;
    }
    HEED_CHECK(is_float(s.tensor.dtype()) || !is_float(p.dtype()),
               "{}: tensor \"{}\" has dtype {}, expected a floating-point tensor", s.file, s.key,
               s.tensor.dtype());
    p.copy_(s.tensor);
  };

  std::set<std::string> filled;
  std::map<std::string, const Source*> via_alias;  // canonical -> alias source
  for (const Source& s : loaded) {
    const std::string mk = model_key(s.key);
    if (expected.count(mk)) {
      copy_in(mk, s);
      filled.insert(mk);
    } else if (auto a = alias_of.find(mk); a != alias_of.end()) {
      via_alias[a->second] = &s;
    } else if (!ignored(mk)) {
      report.unexpected_keys.push_back(s.key);
    }
  }
  // A tied alias fills its parameter only when the canonical key is absent.
  for (const auto& [canonical, s] : via_alias)
    if (!filled.count(canonical)) {
      copy_in(canonical, *s);
      filled.insert(canonical);
    }
  if (!mismatches.empty()) {
    const size_t shown = std::min<size_t>(mismatches.size(), 10);
    std::string msg = fmt::format("{}", fmt::join(mismatches.begin(), mismatches.begin() + long(shown), "\n"));
    if (shown < mismatches.size())
      msg += fmt::format("\n... and {} more size mismatches", mismatches.size() - shown);
    HEED_FAIL("{}", msg);
  }
  for (const auto& name : order)
    if (!filled.count(name)) {
      report.missing_keys.push_back(name);
      if (spec.is_base_model || starts_with(name, prefix)) report.missing_required.push_back(name);
    }

  const std::string& cls = spec.class_name;
  HEED_CHECK(!options.strict || report.missing_required.empty(),
             "{}: weights of the base model are missing from the checkpoint ({}), strict loading "
             "of {}: {}",
             dir, fmt::join(report.files, ", "), cls, python_list(report.missing_required));
  if (!report.missing_required.empty())
    report.messages.push_back(fmt::format(
        "WARNING: weights of the base model are missing from the checkpoint at {}: {}\nThey were "
        "randomly initialized, so the outputs are meaningless until the model is trained. Load "
        "with strict = true to make this an error.",
        dir, python_list(report.missing_required)));
  // modeling_utils._load_pretrained_model's warnings, word for word.
  if (!report.unexpected_keys.empty())
    report.messages.push_back(fmt::format(
        "Some weights of the model checkpoint at {0} were not used when initializing {1}: {2}\n"
        "- This IS expected if you are initializing {1} from the checkpoint of a model trained on "
        "another task or with another architecture (e.g. initializing a "
        "BertForSequenceClassification model from a BertForPreTraining model).\n"
        "- This IS NOT expected if you are initializing {1} from the checkpoint of a model that "
        "you expect to be exactly identical (initializing a BertForSequenceClassification model "
        "from a BertForSequenceClassification model).",
        dir, cls, python_list(report.unexpected_keys)));
  if (!report.missing_keys.empty())
    report.messages.push_back(fmt::format(
        "Some weights of {} were not initialized from the model checkpoint at {} and are newly "
        "initialized: {}\nYou should probably TRAIN this model on a down-stream task to be able to "
        "use it for predictions and inference.",
        cls, dir, python_list(report.missing_keys)));
  if (!report.missing_keys.empty()) init_missing(report.missing_keys);
  if (!options.quiet)
    for (const auto& m : report.messages) std::fprintf(stderr, "%s\n", m.c_str());
  return report;
}

void save_pretrained_weights(const nn::Module& model, const std::string& dir) {
  fs::create_directories(dir);
  io::save_safetensors((fs::path(dir) / kSafetensors).string(), model.state_dict(),
                       {{"format", "pt"}});
  // As save_pretrained: shards of an earlier sharded save would be stale now.
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && (is_safetensors_shard(name) || name == kSafetensorsIndex))
      fs::remove(e.path());
  }
}

}  // namespace heed::models
