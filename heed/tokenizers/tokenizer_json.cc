#include "heed/tokenizers/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Typed field access that names the file and the JSON path on failure.
struct Reader {
  const std::string& name;

  const json& field(const json& obj, const char* key, const std::string& path) const {
    HEED_CHECK(obj.is_object(), "{}: {} is not an object", name, path);
    auto it = obj.find(key);
    HEED_CHECK(it != obj.end(), "{}: missing field {}.{}", name, path, key);
    return *it;
  }
  bool boolean(const json& obj, const char* key, const std::string& path) const {
    const json& v = field(obj, key, path);
    HEED_CHECK(v.is_boolean(), "{}: {}.{} must be a boolean, got {}", name, path, key, v.type_name());
    return v.get<bool>();
  }
  std::string string(const json& obj, const char* key, const std::string& path) const {
    const json& v = field(obj, key, path);
    HEED_CHECK(v.is_string(), "{}: {}.{} must be a string, got {}", name, path, key, v.type_name());
    return v.get<std::string>();
  }
  int64_t integer(const json& obj, const char* key, const std::string& path) const {
    const json& v = field(obj, key, path);
    HEED_CHECK(v.is_number_integer(), "{}: {}.{} must be an integer, got {}", name, path, key,
               v.type_name());
    return v.get<int64_t>();
  }
  std::optional<bool> optional_bool(const json& obj, const char* key, const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    HEED_CHECK(it->is_boolean(), "{}: {}.{} must be a boolean or null, got {}", name, path, key,
               it->type_name());
    return it->get<bool>();
  }
};

json parse(std::string_view text, const std::string& name) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    HEED_FAIL("{}: invalid JSON: {}", name, e.what());
  }
}

// Checks a TemplateProcessing list against the BERT shape; returns its special tokens
// in order. `want` holds "S" (SpecialToken) or "A"/"B" (Sequence) with their type ids.
std::vector<std::string> template_specials(const Reader& r, const json& items, const std::string& path,
                                           const std::vector<std::pair<std::string, int>>& want) {
  HEED_CHECK(items.is_array() && items.size() == want.size(),
             "{}: {} must list {} items for a BERT template", r.name, path, want.size());
  std::vector<std::string> specials;
  for (size_t i = 0; i < want.size(); ++i) {
    const json& item = items[i];
    const std::string p = fmt::format("{}[{}]", path, i);
    HEED_CHECK(item.is_object() && item.size() == 1, "{}: {} must be one SpecialToken or Sequence", r.name, p);
    const auto& [kind, type_id] = want[i];
    const char* key = kind == "S" ? "SpecialToken" : "Sequence";
    const json& s = r.field(item, key, p);
    const std::string id = r.string(s, "id", p + "." + key);
    HEED_CHECK(r.integer(s, "type_id", p + "." + key) == type_id, "{}: {}.{}.type_id must be {}", r.name, p,
               key, type_id);
    if (kind == "S") {
      specials.push_back(id);
    } else {
      HEED_CHECK(id == kind, "{}: {}.Sequence.id must be {}", r.name, p, kind);
    }
  }
  return specials;
}

}  // namespace

TokenizerJson parse_tokenizer_json(std::string_view text, const std::string& name) {
  const json root = parse(text, name);
  const Reader r{name};
  HEED_CHECK(root.is_object(), "{}: top level is not an object", name);
  TokenizerJson tj;

  // model
  const json& model = r.field(root, "model", "$");
  HEED_CHECK(r.string(model, "type", "model") == "WordPiece", "{}: model.type must be WordPiece, got '{}'",
             name, r.string(model, "type", "model"));
  tj.model.unk_token = r.string(model, "unk_token", "model");
  tj.model.continuing_subword_prefix = r.string(model, "continuing_subword_prefix", "model");
  const int64_t max_chars = r.integer(model, "max_input_chars_per_word", "model");
  HEED_CHECK(max_chars > 0 && max_chars < INT32_MAX, "{}: model.max_input_chars_per_word {} out of range",
             name, max_chars);
  tj.model.max_input_chars_per_word = static_cast<int32_t>(max_chars);
  const json& vocab = r.field(model, "vocab", "model");
  HEED_CHECK(vocab.is_object() && !vocab.empty(), "{}: model.vocab must be a non-empty object", name);
  tj.vocab.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    HEED_CHECK(it->is_number_integer(), "{}: model.vocab['{}'] must be an integer id", name, it.key());
    const int64_t id = it->get<int64_t>();
    HEED_CHECK(id >= 0 && id < static_cast<int64_t>(vocab.size()),
               "{}: model.vocab['{}'] = {} is outside 0..{}", name, it.key(), id, vocab.size() - 1);
    HEED_CHECK(!seen[static_cast<size_t>(id)], "{}: model.vocab id {} is used twice (again by '{}')", name,
               id, it.key());
    seen[static_cast<size_t>(id)] = true;
    tj.vocab[static_cast<size_t>(id)] = it.key();
  }

  // normalizer
  const json& norm = r.field(root, "normalizer", "$");
  HEED_CHECK(!norm.is_null() && r.string(norm, "type", "normalizer") == "BertNormalizer",
             "{}: normalizer.type must be BertNormalizer", name);
  tj.normalizer.clean_text = r.boolean(norm, "clean_text", "normalizer");
  tj.normalizer.handle_chinese_chars = r.boolean(norm, "handle_chinese_chars", "normalizer");
  tj.normalizer.strip_accents = r.optional_bool(norm, "strip_accents", "normalizer");
  tj.normalizer.lowercase = r.boolean(norm, "lowercase", "normalizer");

  // pre_tokenizer
  const json& pre = r.field(root, "pre_tokenizer", "$");
  HEED_CHECK(!pre.is_null() && r.string(pre, "type", "pre_tokenizer") == "BertPreTokenizer",
             "{}: pre_tokenizer.type must be BertPreTokenizer", name);

  // post_processor
  const json& post = r.field(root, "post_processor", "$");
  HEED_CHECK(!post.is_null(), "{}: post_processor is null; BERT needs [CLS]/[SEP]", name);
  const std::string post_type = r.string(post, "type", "post_processor");
  if (post_type == "TemplateProcessing") {
    const auto single = template_specials(r, r.field(post, "single", "post_processor"),
                                          "post_processor.single", {{"S", 0}, {"A", 0}, {"S", 0}});
    tj.cls_token = single[0];
    tj.sep_token = single[1];
    const auto pair = template_specials(r, r.field(post, "pair", "post_processor"), "post_processor.pair",
                                        {{"S", 0}, {"A", 0}, {"S", 0}, {"B", 1}, {"S", 1}});
    HEED_CHECK(pair == (std::vector<std::string>{tj.cls_token, tj.sep_token, tj.sep_token}),
               "{}: post_processor.pair must use the single template's tokens {} and {}", name, tj.cls_token,
               tj.sep_token);
    const json& sp = r.field(post, "special_tokens", "post_processor");
    for (const std::string& tok : {tj.cls_token, tj.sep_token}) {
      HEED_CHECK(sp.is_object() && sp.contains(tok), "{}: post_processor.special_tokens lacks '{}'", name, tok);
    }
  } else if (post_type == "BertProcessing") {
    const json& sep = r.field(post, "sep", "post_processor");
    const json& cls = r.field(post, "cls", "post_processor");
    HEED_CHECK(sep.is_array() && sep.size() == 2 && sep[0].is_string(), "{}: post_processor.sep must be [token, id]", name);
    HEED_CHECK(cls.is_array() && cls.size() == 2 && cls[0].is_string(), "{}: post_processor.cls must be [token, id]", name);
    tj.sep_token = sep[0].get<std::string>();
    tj.cls_token = cls[0].get<std::string>();
  } else {
    HEED_FAIL("{}: post_processor.type must be TemplateProcessing or BertProcessing, got '{}'", name, post_type);
  }

  // decoder (optional in HF; when present it must be WordPiece)
  auto dec = root.find("decoder");
  if (dec != root.end() && !dec->is_null()) {
    HEED_CHECK(r.string(*dec, "type", "decoder") == "WordPiece", "{}: decoder.type must be WordPiece", name);
    HEED_CHECK(r.string(*dec, "prefix", "decoder") == tj.model.continuing_subword_prefix,
               "{}: decoder.prefix differs from model.continuing_subword_prefix", name);
    tj.decoder_cleanup = r.boolean(*dec, "cleanup", "decoder");
  }

  // added_tokens
  const json& added = r.field(root, "added_tokens", "$");
  HEED_CHECK(added.is_array(), "{}: added_tokens must be an array", name);
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string p = fmt::format("added_tokens[{}]", i);
    const json& a = added[i];
    AddedToken t;
    const int64_t id = r.integer(a, "id", p);
    HEED_CHECK(id >= 0 && id < INT32_MAX, "{}: {}.id {} out of range", name, p, id);
    t.id = static_cast<int32_t>(id);
    t.content = r.string(a, "content", p);
    HEED_CHECK(!t.content.empty(), "{}: {}.content is empty", name, p);
    t.single_word = r.boolean(a, "single_word", p);
    t.lstrip = r.boolean(a, "lstrip", p);
    t.rstrip = r.boolean(a, "rstrip", p);
    t.normalized = r.boolean(a, "normalized", p);
    t.special = r.boolean(a, "special", p);
    tj.added_tokens.push_back(std::move(t));
  }
  for (const std::string& tok : {tj.model.unk_token, tj.cls_token, tj.sep_token}) {
    bool found = std::find(tj.vocab.begin(), tj.vocab.end(), tok) != tj.vocab.end();
    for (const AddedToken& t : tj.added_tokens) found |= t.content == tok;
    HEED_CHECK(found, "{}: special token '{}' is in neither model.vocab nor added_tokens", name, tok);
  }
  return tj;
}

TokenizerJson load_tokenizer_json(const std::string& path) {
  return parse_tokenizer_json(read_file(path), path);
}

std::string dump_tokenizer_json(const TokenizerJson& tj) {
  auto id_of = [&](const std::string& tok) -> int64_t {
    for (const AddedToken& t : tj.added_tokens) {
      if (t.content == tok) return t.id;
    }
    auto it = std::find(tj.vocab.begin(), tj.vocab.end(), tok);
    HEED_CHECK(it != tj.vocab.end(), "tokenizer.json: special token '{}' has no id", tok);
    return it - tj.vocab.begin();
  };
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ordered_json added = ordered_json::array();
  for (const AddedToken& t : tj.added_tokens) {
    ordered_json a;
    a["id"] = t.id;
    a["content"] = t.content;
    a["single_word"] = t.single_word;
    a["lstrip"] = t.lstrip;
    a["rstrip"] = t.rstrip;
    a["normalized"] = t.normalized;
    a["special"] = t.special;
    added.push_back(std::move(a));
  }
  root["added_tokens"] = std::move(added);
  ordered_json norm;
  norm["type"] = "BertNormalizer";
  norm["clean_text"] = tj.normalizer.clean_text;
  norm["handle_chinese_chars"] = tj.normalizer.handle_chinese_chars;
  if (tj.normalizer.strip_accents) {
    norm["strip_accents"] = *tj.normalizer.strip_accents;
  } else {
    norm["strip_accents"] = nullptr;
  }
  norm["lowercase"] = tj.normalizer.lowercase;
  root["normalizer"] = std::move(norm);
  root["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  auto special = [](const std::string& id, int type_id) {
    ordered_json s;
    s["id"] = id;
    s["type_id"] = type_id;
    return ordered_json{{"SpecialToken", s}};
  };
  auto sequence = [](const char* id, int type_id) {
    ordered_json s;
    s["id"] = id;
    s["type_id"] = type_id;
    return ordered_json{{"Sequence", s}};
  };
  ordered_json post;
  post["type"] = "TemplateProcessing";
  post["single"] = {special(tj.cls_token, 0), sequence("A", 0), special(tj.sep_token, 0)};
  post["pair"] = {special(tj.cls_token, 0), sequence("A", 0), special(tj.sep_token, 0), sequence("B", 1),
                  special(tj.sep_token, 1)};
  ordered_json specials;
  for (const std::string& tok : {tj.cls_token, tj.sep_token}) {
    ordered_json s;
    s["id"] = tok;
    s["ids"] = {id_of(tok)};
    s["tokens"] = {tok};
    specials[tok] = std::move(s);
  }
  post["special_tokens"] = std::move(specials);
  root["post_processor"] = std::move(post);
  ordered_json dec;
  dec["type"] = "WordPiece";
  dec["prefix"] = tj.model.continuing_subword_prefix;
  dec["cleanup"] = tj.decoder_cleanup;
  root["decoder"] = std::move(dec);
  ordered_json model;
  model["type"] = "WordPiece";
  model["unk_token"] = tj.model.unk_token;
  model["continuing_subword_prefix"] = tj.model.continuing_subword_prefix;
  model["max_input_chars_per_word"] = tj.model.max_input_chars_per_word;
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < tj.vocab.size(); ++i) vocab[tj.vocab[i]] = i;
  model["vocab"] = std::move(vocab);
  root["model"] = std::move(model);
  return root.dump(2) + "\n";
}

TokenizerConfigJson parse_tokenizer_config(std::string_view text, const std::string& name) {
  const json root = parse(text, name);
  const Reader r{name};
  HEED_CHECK(root.is_object(), "{}: top level is not an object", name);
  TokenizerConfigJson c;
  auto opt_bool = [&](const char* key) -> std::optional<bool> {
    auto it = root.find(key);
    if (it == root.end()) return std::nullopt;
    HEED_CHECK(it->is_boolean(), "{}: {} must be a boolean, got {}", name, key, it->type_name());
    return it->get<bool>();
  };
  c.do_lower_case = opt_bool("do_lower_case");
  c.tokenize_chinese_chars = opt_bool("tokenize_chinese_chars");
  c.clean_up_tokenization_spaces = opt_bool("clean_up_tokenization_spaces");
  if (auto it = root.find("strip_accents"); it != root.end()) {
    c.strip_accents = r.optional_bool(root, "strip_accents", "$");
  }
  auto token = [&](const char* key) -> std::optional<std::string> {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    // An AddedToken object: {"__type": "AddedToken", "content": ...} or {"content": ...}.
    return r.string(*it, "content", key);
  };
  c.unk_token = token("unk_token");
  c.sep_token = token("sep_token");
  c.pad_token = token("pad_token");
  c.cls_token = token("cls_token");
  c.mask_token = token("mask_token");
  return c;
}

}  // namespace heed::tokenizers
