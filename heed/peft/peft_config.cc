#include "heed/peft/peft_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <unordered_map>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/models/bert_config.h"

namespace heed::peft {

using json = nlohmann::json;

namespace {

// The fields PEFT's config dataclasses serialise (peft/config.py PeftConfigMixin and
// PromptLearningConfig, tuners/{lora,adalora,ia3,prefix_tuning}/config.py), with their
// defaults. save_pretrained writes all of them; from_pretrained fills missing ones
// with these defaults.
json common_fields() {
  return {{"auto_mapping", nullptr},
          {"base_model_name_or_path", nullptr},
          {"inference_mode", false},
          {"peft_type", nullptr},
          {"revision", nullptr},
          {"task_type", nullptr}};
}

json lora_fields() {
  json f = common_fields();
  f.update({{"alpha_pattern", json::object()},
            {"bias", "none"},
            {"exclude_modules", nullptr},
            {"fan_in_fan_out", false},
            {"init_lora_weights", true},
            {"layer_replication", nullptr},
            {"layers_pattern", nullptr},
            {"layers_to_transform", nullptr},
            {"loftq_config", json::object()},
            {"lora_alpha", 8},
            {"lora_dropout", 0.0},
            {"megatron_config", nullptr},
            {"megatron_core", "megatron.core"},
            {"modules_to_save", nullptr},
            {"r", 8},
            {"rank_pattern", json::object()},
            {"target_modules", nullptr},
            {"use_dora", false},
            {"use_rslora", false}});
  return f;
}

json adalora_fields() {
  json f = lora_fields();
  f.update({{"beta1", 0.85},
            {"beta2", 0.85},
            {"deltaT", 1},
            {"init_r", 12},
            {"orth_reg_weight", 0.5},
            {"rank_pattern", nullptr},
            {"target_r", 8},
            {"tfinal", 0},
            {"tinit", 0},
            {"total_step", nullptr}});
  return f;
}

json ia3_fields() {
  json f = common_fields();
  f.update({{"exclude_modules", nullptr},
            {"fan_in_fan_out", false},
            {"feedforward_modules", nullptr},
            {"init_ia3_weights", true},
            {"modules_to_save", nullptr},
            {"target_modules", nullptr}});
  return f;
}

json prefix_fields() {
  json f = common_fields();
  f.update({{"encoder_hidden_size", nullptr},
            {"init_weights", nullptr},
            {"num_attention_heads", nullptr},
            {"num_layers", nullptr},
            {"num_transformer_submodules", nullptr},
            {"num_virtual_tokens", nullptr},
            {"prefix_projection", false},
            {"token_dim", nullptr}});
  return f;
}

json bottleneck_fields() {
  return {{"base_model_name_or_path", nullptr}, {"inference_mode", false},
          {"modules_to_save", nullptr},         {"non_linearity", "relu"},
          {"peft_type", nullptr},               {"placement", "houlsby"},
          {"reduction_factor", 16},             {"revision", nullptr},
          {"task_type", nullptr}};
}

json default_fields(PeftType t) {
  json f;
  switch (t) {
    case PeftType::Lora: f = lora_fields(); break;
    case PeftType::AdaLora: f = adalora_fields(); break;
    case PeftType::IA3: f = ia3_fields(); break;
    case PeftType::PrefixTuning: f = prefix_fields(); break;
    case PeftType::Bottleneck: f = bottleneck_fields(); break;
  }
  f["peft_type"] = std::string(peft_type_name(t));
  return f;
}

bool has_regex_chars(const std::string& s) {
  return s.find_first_of("*?[](){}|+^$\\") != std::string::npos;
}

// Typed reads with errors naming the source and field.
struct Reader {
  const json& f;
  const std::string& where;
  bool present(const char* k) const { return f.contains(k) && !f[k].is_null(); }
  int64_t integer(const char* k, int64_t def) const {
    if (!present(k)) return def;
    HEED_CHECK(f[k].is_number_integer() || (f[k].is_number() && f[k].get<double>() == std::floor(f[k].get<double>())),
               "{}: field \"{}\" must be an integer, got {}", where, k, f[k].dump());
    return f[k].get<int64_t>();
  }
  double number(const char* k, double def) const {
    if (!present(k)) return def;
    HEED_CHECK(f[k].is_number(), "{}: field \"{}\" must be a number, got {}", where, k, f[k].dump());
    return f[k].get<double>();
  }
  bool boolean(const char* k, bool def) const {
    if (!present(k)) return def;
    HEED_CHECK(f[k].is_boolean(), "{}: field \"{}\" must be true or false, got {}", where, k,
               f[k].dump());
    return f[k].get<bool>();
  }
  std::string string(const char* k, const std::string& def) const {
    if (!present(k)) return def;
    HEED_CHECK(f[k].is_string(), "{}: field \"{}\" must be a string, got {}", where, k, f[k].dump());
    return f[k].get<std::string>();
  }
  std::vector<std::string> strings(const char* k) const {
    std::vector<std::string> out;
    if (!present(k)) return out;
    if (f[k].is_string()) return {f[k].get<std::string>()};
    HEED_CHECK(f[k].is_array(), "{}: field \"{}\" must be a list of strings, got {}", where, k,
               f[k].dump());
    for (const json& v : f[k]) {
      HEED_CHECK(v.is_string(), "{}: field \"{}\" must be a list of strings, got {}", where, k,
                 f[k].dump());
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  TargetModules targets(const char* k) const {
    TargetModules t;
    if (!present(k)) return t;
    if (f[k].is_string()) {
      t.regex = f[k].get<std::string>();
      try {
        std::regex re(t.regex);
      } catch (const std::regex_error& e) {
        HEED_FAIL("{}: field \"{}\": \"{}\" is not a valid regular expression ({})", where, k,
                  t.regex, e.what());
      }
      return t;
    }
    t.names = strings(k);
    for (const auto& n : t.names) {
      HEED_CHECK(!n.empty(), "{}: field \"{}\" holds an empty module name", where, k);
      if (has_regex_chars(n)) {
        try {
          std::regex re(n);
        } catch (const std::regex_error& e) {
          HEED_FAIL("{}: field \"{}\": \"{}\" is not a valid pattern ({})", where, k, n, e.what());
        }
      }
    }
    return t;
  }
};

}  // namespace

std::string_view peft_type_name(PeftType t) {
  switch (t) {
    case PeftType::Lora: return "LORA";
    case PeftType::AdaLora: return "ADALORA";
    case PeftType::IA3: return "IA3";
    case PeftType::PrefixTuning: return "PREFIX_TUNING";
    case PeftType::Bottleneck: return "BOTTLENECK";
  }
  return "?";
}

PeftType parse_peft_type(std::string_view n) {
  if (n == "LORA" || n == "lora") return PeftType::Lora;
  if (n == "ADALORA" || n == "adalora") return PeftType::AdaLora;
  if (n == "IA3" || n == "ia3") return PeftType::IA3;
  if (n == "PREFIX_TUNING" || n == "prefix" || n == "prefix-tuning") return PeftType::PrefixTuning;
  if (n == "BOTTLENECK" || n == "adapter" || n == "bottleneck") return PeftType::Bottleneck;
  HEED_FAIL("unknown PEFT method \"{}\": choose lora, adalora, ia3, prefix or adapter (PEFT "
            "names LORA, ADALORA, IA3, PREFIX_TUNING; BOTTLENECK is heed's)",
            n);
}

bool is_prompt_learning(PeftType t) { return t == PeftType::PrefixTuning; }

bool regex_full_match(const std::string& text, const std::string& pattern) {
  thread_local std::unordered_map<std::string, std::regex> compiled;
  auto it = compiled.find(pattern);
  if (it == compiled.end()) it = compiled.emplace(pattern, std::regex(pattern)).first;
  return std::regex_match(text, it->second);
}

bool TargetModules::matches_feedforward(const std::string& name) const {
  if (!regex.empty()) return regex_full_match(name, regex);
  for (const std::string& t : names)
    if (name.ends_with(t)) return true;
  return false;
}

bool TargetModules::matches(const std::string& name) const {
  if (!regex.empty()) return regex_full_match(name, regex);
  for (const std::string& t : names) {
    if (has_regex_chars(t)) {
      if (regex_full_match(name, "(?:.*\\.)?(?:" + t + ")")) return true;
    } else if (name == t || (name.size() > t.size() && name.ends_with(t) &&
                             name[name.size() - t.size() - 1] == '.')) {
      return true;
    }
  }
  return false;
}

PeftConfig PeftConfig::make(PeftType type, const json& overrides, const std::string& where) {
  HEED_CHECK(overrides.is_object(), "{}: a PEFT config must be a JSON object, got {}", where,
             overrides.dump());
  PeftConfig c;
  c.type = type;
  c.fields = default_fields(type);
  for (const auto& [k, v] : overrides.items()) c.fields[k] = v;
  if (overrides.contains("peft_type") && !overrides["peft_type"].is_null()) {
    HEED_CHECK(overrides["peft_type"].is_string() &&
                   parse_peft_type(overrides["peft_type"].get<std::string>()) == type,
               "{}: field \"peft_type\" is {} but the method is {}", where,
               overrides["peft_type"].dump(), peft_type_name(type));
  }
  c.fields["peft_type"] = std::string(peft_type_name(type));
  const Reader rd{c.fields, where};

  c.task_type = rd.string("task_type", "");
  c.modules_to_save = rd.strings("modules_to_save");
  c.inference_mode = rd.boolean("inference_mode", false);
  if (type != PeftType::PrefixTuning && rd.present("layers_to_transform")) {
    const json& l = c.fields["layers_to_transform"];
    if (l.is_number_integer()) {
      c.layers_to_transform = {l.get<int64_t>()};
    } else {
      HEED_CHECK(l.is_array(), "{}: field \"layers_to_transform\" must be an integer or a list, got {}",
                 where, l.dump());
      for (const json& v : l) {
        HEED_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0,
                   "{}: field \"layers_to_transform\" must hold layer indices, got {}", where, l.dump());
        c.layers_to_transform.push_back(v.get<int64_t>());
      }
    }
  }
  if (type == PeftType::Lora || type == PeftType::AdaLora || type == PeftType::IA3) {
    c.target_modules = rd.targets("target_modules");
    c.exclude_modules = rd.targets("exclude_modules");
  }
  {  // PEFT lists the head twice, or adds "score", in some versions: keep each name once.
    std::vector<std::string> uniq;
    for (const auto& m : c.modules_to_save)
      if (std::find(uniq.begin(), uniq.end(), m) == uniq.end()) uniq.push_back(m);
    c.modules_to_save = uniq;
  }

  if (type == PeftType::Lora || type == PeftType::AdaLora) {
    c.r = rd.integer("r", 8);
    c.lora_alpha = rd.number("lora_alpha", 8);
    c.lora_dropout = rd.number("lora_dropout", 0.0);
    c.fan_in_fan_out = rd.boolean("fan_in_fan_out", false);
    c.bias = rd.string("bias", "none");
    c.use_rslora = rd.boolean("use_rslora", false);
    HEED_CHECK(c.lora_dropout >= 0 && c.lora_dropout < 1,
               "{}: field \"lora_dropout\" must be in [0, 1), got {}", where, c.lora_dropout);
    HEED_CHECK(c.bias == "none" || c.bias == "all" || c.bias == "lora_only",
               "{}: field \"bias\" must be \"none\", \"all\" or \"lora_only\", got \"{}\"", where, c.bias);
    HEED_CHECK(!rd.boolean("use_dora", false), "{}: use_dora (DoRA) is not supported by heed", where);
    const json& init = c.fields.contains("init_lora_weights") ? c.fields["init_lora_weights"] : json(true);
    HEED_CHECK(init.is_boolean() || init == "gaussian",
               "{}: init_lora_weights {} is not supported (true, false or \"gaussian\")", where,
               init.dump());
  }
  if (type == PeftType::Lora) {
    HEED_CHECK(c.r > 0, "{}: field \"r\" must be positive, got {}", where, c.r);
    if (rd.present("rank_pattern")) {
      HEED_CHECK(c.fields["rank_pattern"].is_object(), "{}: field \"rank_pattern\" must be an object",
                 where);
      for (const auto& [k, v] : c.fields["rank_pattern"].items()) {
        HEED_CHECK(v.is_number_integer() && v.get<int64_t>() > 0,
                   "{}: rank_pattern[\"{}\"] must be a positive integer, got {}", where, k, v.dump());
        c.rank_pattern[k] = v.get<int64_t>();
      }
    }
    if (rd.present("alpha_pattern")) {
      HEED_CHECK(c.fields["alpha_pattern"].is_object(), "{}: field \"alpha_pattern\" must be an object",
                 where);
      for (const auto& [k, v] : c.fields["alpha_pattern"].items()) {
        HEED_CHECK(v.is_number(), "{}: alpha_pattern[\"{}\"] must be a number, got {}", where, k, v.dump());
        c.alpha_pattern[k] = v.get<double>();
      }
    }
  }
  if (type == PeftType::AdaLora) {
    c.init_r = rd.integer("init_r", 12);
    c.target_r = rd.integer("target_r", 8);
    c.tinit = rd.integer("tinit", 0);
    c.tfinal = rd.integer("tfinal", 0);
    c.deltaT = rd.integer("deltaT", 1);
    c.total_step = rd.integer("total_step", 0);
    c.beta1 = rd.number("beta1", 0.85);
    c.beta2 = rd.number("beta2", 0.85);
    c.orth_reg_weight = rd.number("orth_reg_weight", 0.5);
    HEED_CHECK(c.init_r > 0 && c.target_r > 0 && c.target_r <= c.init_r,
               "{}: AdaLoRA needs 0 < target_r <= init_r, got target_r {} and init_r {}", where,
               c.target_r, c.init_r);
    HEED_CHECK(c.tinit >= 0 && c.tfinal >= 0 && c.deltaT > 0,
               "{}: AdaLoRA needs tinit >= 0, tfinal >= 0 and deltaT > 0, got {}, {}, {}", where,
               c.tinit, c.tfinal, c.deltaT);
    HEED_CHECK(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1,
               "{}: AdaLoRA's beta1 and beta2 must be in [0, 1), got {} and {}", where, c.beta1,
               c.beta2);
    if (rd.present("rank_pattern")) {
      HEED_CHECK(c.fields["rank_pattern"].is_object(), "{}: field \"rank_pattern\" must be an object",
                 where);
      for (const auto& [k, v] : c.fields["rank_pattern"].items()) {
        HEED_CHECK(v.is_array(), "{}: rank_pattern[\"{}\"] must be a list of booleans", where, k);
        std::vector<bool> keep;
        for (const json& b : v) {
          HEED_CHECK(b.is_boolean(), "{}: rank_pattern[\"{}\"] must be a list of booleans", where, k);
          keep.push_back(b.get<bool>());
        }
        HEED_CHECK(int64_t(keep.size()) == c.init_r,
                   "{}: rank_pattern[\"{}\"] has {} entries but init_r is {}", where, k, keep.size(),
                   c.init_r);
        c.adalora_rank_pattern[k] = keep;
      }
    }
  }
  if (type == PeftType::IA3) {
    c.feedforward_modules = rd.targets("feedforward_modules");
    c.fan_in_fan_out = rd.boolean("fan_in_fan_out", false);
    c.init_ia3_weights = rd.boolean("init_ia3_weights", true);
  }
  if (type == PeftType::PrefixTuning) {
    c.num_virtual_tokens = rd.integer("num_virtual_tokens", 20);
    c.token_dim = rd.integer("token_dim", 0);
    c.num_layers = rd.integer("num_layers", 0);
    c.num_attention_heads = rd.integer("num_attention_heads", 0);
    c.encoder_hidden_size = rd.integer("encoder_hidden_size", 0);
    c.num_transformer_submodules = rd.integer("num_transformer_submodules", 1);
    c.prefix_projection = rd.boolean("prefix_projection", false);
    HEED_CHECK(c.num_virtual_tokens > 0, "{}: field \"num_virtual_tokens\" must be positive, got {}",
               where, c.num_virtual_tokens);
    HEED_CHECK(c.num_transformer_submodules == 1,
               "{}: num_transformer_submodules {} is not supported (heed's BERT is an encoder: 1)",
               where, c.num_transformer_submodules);
  }
  if (type == PeftType::Bottleneck) {
    c.placement = rd.string("placement", "houlsby");
    c.reduction_factor = rd.integer("reduction_factor", 16);
    c.non_linearity = rd.string("non_linearity", "relu");
    HEED_CHECK(c.placement == "houlsby" || c.placement == "pfeiffer",
               "{}: field \"placement\" must be \"houlsby\" or \"pfeiffer\", got \"{}\"", where,
               c.placement);
    HEED_CHECK(c.reduction_factor > 0, "{}: field \"reduction_factor\" must be positive, got {}",
               where, c.reduction_factor);
    HEED_CHECK(c.non_linearity == "relu" || c.non_linearity == "gelu" ||
                   c.non_linearity == "gelu_new" || c.non_linearity == "tanh" ||
                   c.non_linearity == "swish",
               "{}: field \"non_linearity\" must be relu, gelu, gelu_new, tanh or swish, got \"{}\"",
               where, c.non_linearity);
  }
  return c;
}

PeftConfig PeftConfig::from_file(const std::string& path) {
  HEED_CHECK(std::filesystem::is_regular_file(path), "{}: no such file (an adapter directory holds "
             "adapter_config.json and adapter_model.safetensors)", path);
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    HEED_FAIL("{}: not valid JSON: {}", path, e.what());
  }
  HEED_CHECK(j.is_object(), "{}: must hold a JSON object", path);
  HEED_CHECK(j.contains("peft_type") && j["peft_type"].is_string(),
             "{}: field \"peft_type\" is missing (LORA, ADALORA, IA3, PREFIX_TUNING or BOTTLENECK)",
             path);
  const std::string t = j["peft_type"].get<std::string>();
  PeftType type;
  try {
    type = parse_peft_type(t);
  } catch (const Error&) {
    HEED_FAIL("{}: peft_type \"{}\" is not supported by heed (LORA, ADALORA, IA3, PREFIX_TUNING, "
              "BOTTLENECK)",
              path, t);
  }
  return make(type, j, path);
}

void PeftConfig::complete_for(const models::BertConfig& m) {
  if (fan_in_fan_out) {
    // As PEFT does for torch.nn.Linear targets (heed's are all Linear-shaped, (out, in)).
    std::fprintf(stderr, "peft: fan_in_fan_out is set to true but the target modules are Linear "
                         "layers; setting fan_in_fan_out to false\n");
    fan_in_fan_out = false;
    fields["fan_in_fan_out"] = false;
  }
  if (type == PeftType::Lora || type == PeftType::AdaLora) {
    // PEFT's TRANSFORMERS_MODELS_TO_{LORA,ADALORA}_TARGET_MODULES_MAPPING["bert"].
    if (target_modules.empty()) target_modules.names = {"query", "value"};
  }
  if (type == PeftType::IA3) {
    // TRANSFORMERS_MODELS_TO_IA3_{TARGET,FEEDFORWARD}_MODULES_MAPPING["bert"].
    if (target_modules.empty()) {
      target_modules.names = {"key", "value", "output.dense"};
      if (feedforward_modules.empty()) feedforward_modules.names = {"output.dense"};
    }
  }
  if (type == PeftType::PrefixTuning) {
    // PEFT's _prepare_prompt_learning_config fills these from the model's config.
    if (token_dim == 0) token_dim = m.hidden_size;
    if (num_layers == 0) num_layers = m.num_hidden_layers;
    if (num_attention_heads == 0) num_attention_heads = m.num_attention_heads;
    if (encoder_hidden_size == 0) encoder_hidden_size = token_dim;
    HEED_CHECK(token_dim == m.hidden_size && num_layers == m.num_hidden_layers &&
                   num_attention_heads == m.num_attention_heads,
               "prefix tuning: the adapter is for token_dim {}, {} layers, {} heads but the model "
               "has hidden_size {}, {} layers, {} heads",
               token_dim, num_layers, num_attention_heads, m.hidden_size, m.num_hidden_layers,
               m.num_attention_heads);
  }
  if (type == PeftType::Bottleneck)
    HEED_CHECK(m.hidden_size / reduction_factor >= 1,
               "bottleneck adapter: reduction_factor {} leaves no units of hidden_size {}",
               reduction_factor, m.hidden_size);
  // PEFT's PeftModelForSequenceClassification / ForTokenClassification add their heads
  // ("classifier", "score") to modules_to_save; heed's BERT heads are "classifier" (and
  // "qa_outputs" for question answering), so the head is always trained and saved.
  const std::string head = task_type == "QUESTION_ANS" ? "qa_outputs" : "classifier";
  if ((task_type == "SEQ_CLS" || task_type == "TOKEN_CLS" || task_type == "QUESTION_ANS") &&
      std::find(modules_to_save.begin(), modules_to_save.end(), head) == modules_to_save.end())
    modules_to_save.push_back(head);
}

json PeftConfig::to_json() const {
  json f = fields;
  f["task_type"] = task_type.empty() ? json(nullptr) : json(task_type);
  if (fields.contains("modules_to_save"))  // prompt-learning configs have no such field
    f["modules_to_save"] = modules_to_save.empty() ? json(nullptr) : json(modules_to_save);
  f["inference_mode"] = inference_mode;
  auto targets = [](const TargetModules& t) -> json {
    if (!t.regex.empty()) return t.regex;
    if (t.names.empty()) return nullptr;
    return t.names;
  };
  if (type == PeftType::Lora || type == PeftType::AdaLora || type == PeftType::IA3) {
    f["target_modules"] = targets(target_modules);
    f["exclude_modules"] = targets(exclude_modules);
  }
  if (type == PeftType::IA3) f["feedforward_modules"] = targets(feedforward_modules);
  if (type == PeftType::AdaLora) {
    if (adalora_rank_pattern.empty()) {
      f["rank_pattern"] = nullptr;
    } else {
      json rp = json::object();
      for (const auto& [k, v] : adalora_rank_pattern) rp[k] = v;
      f["rank_pattern"] = rp;
    }
    f["total_step"] = total_step > 0 ? json(total_step) : json(nullptr);
  }
  if (type == PeftType::PrefixTuning) {
    f["token_dim"] = token_dim;
    f["num_layers"] = num_layers;
    f["num_attention_heads"] = num_attention_heads;
    if (prefix_projection) f["encoder_hidden_size"] = encoder_hidden_size;
    f["num_transformer_submodules"] = num_transformer_submodules;
    f["num_virtual_tokens"] = num_virtual_tokens;
  }
  return f;
}

}  // namespace heed::peft
