#include "heed/models/bert_config.h"

#include <cmath>

#include "heed/base/error.h"
#include "heed/base/fs.h"

namespace heed::models {

namespace {

using nlohmann::json;

// Readers for one field: absent keeps the default; a wrong type names file and field.
void read_int(const json& j, const char* key, const std::string& src, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  HEED_CHECK(it->is_number_integer(), "{}: field \"{}\" must be an integer, got {}", src, key,
             it->dump());
  out = it->get<int64_t>();
}

void read_double(const json& j, const char* key, const std::string& src, double& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  HEED_CHECK(it->is_number(), "{}: field \"{}\" must be a number, got {}", src, key, it->dump());
  out = it->get<double>();
}

void read_string(const json& j, const char* key, const std::string& src, std::string& out,
                 bool null_ok = false) {
  auto it = j.find(key);
  if (it == j.end() || (null_ok && it->is_null())) return;
  HEED_CHECK(it->is_string(), "{}: field \"{}\" must be a string, got {}", src, key, it->dump());
  out = it->get<std::string>();
}

int64_t parse_label_id(const std::string& s, const std::string& src, const char* field) {
  size_t used = 0;
  int64_t v = -1;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  HEED_CHECK(used == s.size() && !s.empty() && v >= 0,
             "{}: field \"{}\": key \"{}\" is not a non-negative integer label id", src, field, s);
  return v;
}

std::map<int64_t, std::string> default_id2label(int64_t n) {
  std::map<int64_t, std::string> m;
  for (int64_t i = 0; i < n; ++i) m[i] = "LABEL_" + std::to_string(i);
  return m;
}

}  // namespace

std::string BertConfig::label_name(int64_t id) const {
  auto it = id2label.find(id);
  return it != id2label.end() ? it->second : "LABEL_" + std::to_string(id);
}

BertConfig BertConfig::from_json(const json& j, const std::string& src) {
  HEED_CHECK(j.is_object(), "{}: expected a JSON object, got {}", src, j.type_name());
  BertConfig c;
  c.original = j;
  if (auto it = j.find("model_type"); it != j.end()) {
    HEED_CHECK(it->is_string() && it->get<std::string>() == "bert",
               "{}: field \"model_type\" is {}, expected \"bert\"", src, it->dump());
  }
  read_int(j, "vocab_size", src, c.vocab_size);
  read_int(j, "hidden_size", src, c.hidden_size);
  read_int(j, "num_hidden_layers", src, c.num_hidden_layers);
  read_int(j, "num_attention_heads", src, c.num_attention_heads);
  read_int(j, "intermediate_size", src, c.intermediate_size);
  read_string(j, "hidden_act", src, c.hidden_act);
  read_double(j, "hidden_dropout_prob", src, c.hidden_dropout_prob);
  read_double(j, "attention_probs_dropout_prob", src, c.attention_probs_dropout_prob);
  read_int(j, "max_position_embeddings", src, c.max_position_embeddings);
  read_int(j, "type_vocab_size", src, c.type_vocab_size);
  read_double(j, "initializer_range", src, c.initializer_range);
  read_double(j, "layer_norm_eps", src, c.layer_norm_eps);
  if (auto it = j.find("pad_token_id"); it != j.end()) {
    if (it->is_null()) {
      c.pad_token_id.reset();
    } else {
      int64_t v = 0;
      read_int(j, "pad_token_id", src, v);
      c.pad_token_id = v;
    }
  }
  read_string(j, "position_embedding_type", src, c.position_embedding_type);
  if (auto it = j.find("classifier_dropout"); it != j.end() && !it->is_null()) {
    double v = 0;
    read_double(j, "classifier_dropout", src, v);
    c.classifier_dropout = v;
  }
  read_string(j, "problem_type", src, c.problem_type, /*null_ok=*/true);
  read_string(j, "torch_dtype", src, c.torch_dtype, /*null_ok=*/true);
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    HEED_CHECK(it->is_array(), "{}: field \"architectures\" must be a list of strings, got {}",
               src, it->dump());
    for (const auto& a : *it) {
      HEED_CHECK(a.is_string(), "{}: field \"architectures\" must be a list of strings, got {}",
                 src, it->dump());
      c.architectures.push_back(a.get<std::string>());
    }
  }
  // PretrainedConfig: id2label fixes num_labels; an explicit num_labels must agree.
  bool have_num_labels = false;
  if (j.contains("num_labels")) {
    read_int(j, "num_labels", src, c.num_labels);
    have_num_labels = true;
  }
  if (auto it = j.find("id2label"); it != j.end() && !it->is_null()) {
    HEED_CHECK(it->is_object(), "{}: field \"id2label\" must be an object, got {}", src,
               it->dump());
    for (const auto& [k, v] : it->items()) {
      HEED_CHECK(v.is_string(), "{}: field \"id2label\": value for \"{}\" must be a string", src, k);
      c.id2label[parse_label_id(k, src, "id2label")] = v.get<std::string>();
    }
    HEED_CHECK(!have_num_labels || int64_t(c.id2label.size()) == c.num_labels,
               "{}: field \"num_labels\" is {} but \"id2label\" has {} entries", src, c.num_labels,
               c.id2label.size());
    c.num_labels = int64_t(c.id2label.size());
  }
  if (auto it = j.find("label2id"); it != j.end() && !it->is_null()) {
    HEED_CHECK(it->is_object(), "{}: field \"label2id\" must be an object, got {}", src,
               it->dump());
    for (const auto& [k, v] : it->items()) {
      HEED_CHECK(v.is_number_integer(), "{}: field \"label2id\": value for \"{}\" must be an integer",
                 src, k);
      c.label2id[k] = v.get<int64_t>();
    }
  }
  c.validate(src);
  return c;
}

BertConfig BertConfig::from_file(const std::string& path) {
  const std::string text = read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    HEED_FAIL("{}: malformed JSON: {}", path, e.what());
  }
  return from_json(j, path);
}

void BertConfig::validate(const std::string& src) const {
  auto positive = [&](const char* field, int64_t v) {
    HEED_CHECK(v > 0, "{}: field \"{}\" must be positive, got {}", src, field, v);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("intermediate_size", intermediate_size);
  positive("max_position_embeddings", max_position_embeddings);
  positive("type_vocab_size", type_vocab_size);
  positive("num_labels", num_labels);
  HEED_CHECK(hidden_size % num_attention_heads == 0,
             "{}: field \"hidden_size\" ({}) is not a multiple of \"num_attention_heads\" ({})", src,
             hidden_size, num_attention_heads);
  HEED_CHECK(hidden_act == "gelu" || hidden_act == "gelu_new" || hidden_act == "relu" ||
                 hidden_act == "gelu_pytorch_tanh",
             "{}: field \"hidden_act\" is \"{}\"; supported: gelu, gelu_new, relu", src, hidden_act);
  HEED_CHECK(position_embedding_type == "absolute",
             "{}: field \"position_embedding_type\" is \"{}\"; only \"absolute\" is supported "
             "(relative_key / relative_key_query are not implemented)",
             src, position_embedding_type);
  auto probability = [&](const char* field, double p) {
    HEED_CHECK(p >= 0.0 && p < 1.0, "{}: field \"{}\" must be in [0, 1), got {}", src, field, p);
  };
  probability("hidden_dropout_prob", hidden_dropout_prob);
  probability("attention_probs_dropout_prob", attention_probs_dropout_prob);
  if (classifier_dropout) probability("classifier_dropout", *classifier_dropout);
  HEED_CHECK(layer_norm_eps > 0.0 && std::isfinite(layer_norm_eps),
             "{}: field \"layer_norm_eps\" must be positive, got {}", src, layer_norm_eps);
  HEED_CHECK(initializer_range >= 0.0 && std::isfinite(initializer_range),
             "{}: field \"initializer_range\" must be non-negative, got {}", src, initializer_range);
  if (pad_token_id)
    HEED_CHECK(*pad_token_id >= 0 && *pad_token_id < vocab_size,
               "{}: field \"pad_token_id\" {} is outside the vocabulary [0, {})", src, *pad_token_id,
               vocab_size);
  HEED_CHECK(problem_type.empty() || problem_type == "regression" ||
                 problem_type == "single_label_classification" ||
                 problem_type == "multi_label_classification",
             "{}: field \"problem_type\" is \"{}\"; expected regression, "
             "single_label_classification or multi_label_classification",
             src, problem_type);
  for (const auto& [id, name] : id2label)
    HEED_CHECK(id < num_labels, "{}: field \"id2label\" has id {} but num_labels is {}", src, id,
               num_labels);
}

json BertConfig::to_json() const {
  json j = original.is_object() ? original : json::object();
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = hidden_act;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["initializer_range"] = initializer_range;
  j["layer_norm_eps"] = layer_norm_eps;
  j["pad_token_id"] = pad_token_id ? json(*pad_token_id) : json(nullptr);
  j["position_embedding_type"] = position_embedding_type;
  j["classifier_dropout"] = classifier_dropout ? json(*classifier_dropout) : json(nullptr);
  j["model_type"] = "bert";
  if (!architectures.empty()) j["architectures"] = architectures;
  if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
  if (!problem_type.empty()) j["problem_type"] = problem_type;
  if (j.contains("num_labels")) j["num_labels"] = num_labels;
  // PretrainedConfig.to_diff_dict drops the label maps when they are the 2-label default.
  std::map<int64_t, std::string> names = default_id2label(num_labels);
  for (const auto& [id, n] : id2label) names[id] = n;
  const std::map<std::string, int64_t> default_label2id = {{"LABEL_0", 0}, {"LABEL_1", 1}};
  if (names == default_id2label(2) && (label2id.empty() || label2id == default_label2id)) {
    j.erase("id2label");
    j.erase("label2id");
  } else {
    json i2l = json::object(), l2i = json::object();
    for (const auto& [id, n] : names) i2l[std::to_string(id)] = n;
    if (label2id.empty()) {
      for (const auto& [id, n] : names) l2i[n] = id;
    } else {
      for (const auto& [n, id] : label2id) l2i[n] = id;
    }
    j["id2label"] = i2l;
    j["label2id"] = l2i;
  }
  return j;
}

void BertConfig::save(const std::string& path) const {
  // json.dumps(indent=2, sort_keys=True) escapes non-ASCII (ensure_ascii=True).
  write_file_atomic(path, to_json().dump(2, ' ', /*ensure_ascii=*/true) + "\n");
}

}  // namespace heed::models
