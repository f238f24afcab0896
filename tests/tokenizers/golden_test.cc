// Replays tests/golden/tokenizer (made by make_goldens.py from HF Python BertTokenizer's
// algorithm, cross-checked against transformers.js): every field of every case must match.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "heed/base/fs.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::tokenizers {
namespace {

using json = nlohmann::json;

const std::string kGolden = std::string(HEED_GOLDEN_DIR) + "/tokenizer/";
const std::string kVocab = std::string(HEED_DATA_DIR) + "/bert_vocab/vocab.txt";

const BertTokenizer& tokenizer(const std::string& config) {
  static const BertTokenizer uncased = BertTokenizer::from_vocab_file(kVocab);
  static const BertTokenizer cased =
      BertTokenizer::from_vocab_file(kVocab, {.do_lower_case = false, .strip_accents = false});
  return config == "uncased" ? uncased : cased;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::string data;
  if (path.ends_with(".gz")) {
    // gzip(1) is part of every Debian system; this keeps the test free of a zlib link.
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(("gzip -dc '" + path + "'").c_str(), "r"), ::pclose);
    if (!p) throw std::runtime_error("cannot run gzip on " + path);
    char buf[1 << 16];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p.get())) > 0;) data.append(buf, n);
  } else {
    data = read_file(path);
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < data.size();) {
    size_t j = data.find('\n', i);
    if (j == std::string::npos) j = data.size();
    if (j > i) lines.push_back(data.substr(i, j - i));
    i = j + 1;
  }
  return lines;
}

Truncation truncation_of(const json& c) {
  if (!c.contains("truncation") || c["truncation"].is_null()) return Truncation::kNone;
  const std::string t = c["truncation"];
  if (t == "longest_first") return Truncation::kLongestFirst;
  if (t == "only_first") return Truncation::kOnlyFirst;
  if (t == "only_second") return Truncation::kOnlySecond;
  throw std::runtime_error("unknown truncation " + t);
}

// Compares one case in one configuration; returns "" or a description of the first mismatch.
std::string check_case(const json& c, const std::string& config) {
  const BertTokenizer& tok = tokenizer(config);
  EncodeOptions opt;
  opt.truncation = truncation_of(c);
  if (c.contains("max_length") && !c["max_length"].is_null()) opt.max_length = c["max_length"];
  if (c.contains("padding") && c["padding"] == "max_length") opt.padding = Padding::kMaxLength;
  const std::string text = c["text"];
  const bool has_pair = c.contains("pair") && !c["pair"].is_null();
  const Encoding e = has_pair ? tok.encode_pair(text, c["pair"].get<std::string>(), opt) : tok.encode(text, opt);
  const json& g = c[config];
  std::vector<int32_t> offsets;
  for (const Offset& o : e.offsets) {
    offsets.push_back(o.start);
    offsets.push_back(o.end);
  }
  std::vector<std::string> tokens;
  for (std::string_view t : tok.convert_ids_to_tokens(e.input_ids)) tokens.emplace_back(t);
  auto differ = [&](const char* field, const json& got) -> std::string {
    if (got == g[field]) return "";
    return fmt::format("{} [{}] {}:\n  text: {}\n  want: {}\n  got:  {}", c["id"].get<std::string>(), config,
                       field, json(text).dump(), g[field].dump(), got.dump());
  };
  for (const std::string& d :
       {differ("tokens", tokens), differ("input_ids", e.input_ids), differ("token_type_ids", e.token_type_ids),
        differ("attention_mask", e.attention_mask), differ("offsets", offsets)}) {
    if (!d.empty()) return d;
  }
  if (g.contains("decoded")) return differ("decoded", tok.decode(e.input_ids));
  return "";
}

void check_file(const std::string& name, size_t min_cases) {
  const std::vector<std::string> lines = read_lines(kGolden + name);
  ASSERT_GE(lines.size(), min_cases) << name;
  int failures = 0;
  for (const std::string& line : lines) {
    const json c = json::parse(line);
    for (const char* config : {"uncased", "cased"}) {
      const std::string d = check_case(c, config);
      if (!d.empty() && ++failures <= 10) ADD_FAILURE() << d;
    }
  }
  EXPECT_EQ(failures, 0) << name << ": " << failures << " mismatching cases of " << 2 * lines.size();
}

TEST(TokenizerGolden, Adversarial) { check_file("adversarial.jsonl", 300); }

TEST(TokenizerGolden, Corpus20kLines) { check_file("corpus.jsonl.gz", 20000); }

}  // namespace
}  // namespace heed::tokenizers
