#include "heed/tokenizers/tokenizer_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::tokenizers {
namespace {

using json = nlohmann::json;
const std::string kGolden = std::string(HEED_GOLDEN_DIR) + "/tokenizer/";
const std::string kVocab = std::string(HEED_DATA_DIR) + "/bert_vocab/vocab.txt";

const char* kTexts[] = {"Hello, World! naïve café", "ΟΔΟΣ 你好 [MASK] x", "e\u0301 İ a\u2028b", "",
                        "unaffable UNAFFABLE", "[CL\u200bS] \xFF bad byte"};

void expect_same_encodings(const BertTokenizer& a, const BertTokenizer& b) {
  for (const char* t : kTexts) {
    const EncodeOptions opt{.truncation = Truncation::kLongestFirst, .max_length = 12, .padding = Padding::kMaxLength};
    const Encoding x = a.encode_pair(t, "second text", opt), y = b.encode_pair(t, "second text", opt);
    EXPECT_EQ(x.input_ids, y.input_ids) << t;
    EXPECT_EQ(x.token_type_ids, y.token_type_ids) << t;
    EXPECT_EQ(x.attention_mask, y.attention_mask) << t;
    EXPECT_EQ(x.offsets, y.offsets) << t;
    EXPECT_EQ(a.decode(x.input_ids), b.decode(y.input_ids)) << t;
  }
}

TEST(TokenizerJson, SaveMatchesHuggingFaceLayout) {
  // tokenizer_{uncased,cased}.json were written by tools/tokenizer_ref (HF tokenizers'
  // layout) and loaded by transformers.js when the goldens were made.
  const BertTokenizer uncased = BertTokenizer::from_vocab_file(kVocab);
  EXPECT_EQ(json::parse(uncased.to_tokenizer_json()), json::parse(read_file(kGolden + "tokenizer_uncased.json")));
  const BertTokenizer cased = BertTokenizer::from_vocab_file(kVocab, {.do_lower_case = false, .strip_accents = false});
  EXPECT_EQ(json::parse(cased.to_tokenizer_json()), json::parse(read_file(kGolden + "tokenizer_cased.json")));
  // Key order too: version, truncation, padding, added_tokens, normalizer, ... model last.
  const std::string s = uncased.to_tokenizer_json();
  EXPECT_LT(s.find("\"version\""), s.find("\"added_tokens\""));
  EXPECT_LT(s.find("\"decoder\""), s.find("\"model\""));
}

TEST(TokenizerJson, LoadSaveLoadGivesIdenticalEncodings) {
  const BertTokenizer from_vocab = BertTokenizer::from_vocab_file(kVocab);
  const BertTokenizer from_json = BertTokenizer::from_tokenizer_json(kGolden + "tokenizer_uncased.json",
                                                                     kGolden + "tokenizer_config_uncased.json");
  expect_same_encodings(from_vocab, from_json);
  const std::string path = (std::filesystem::temp_directory_path() / "heed_tokenizer_rt.json").string();
  from_json.save(path);
  const BertTokenizer reloaded = BertTokenizer::from_tokenizer_json(path);
  expect_same_encodings(from_json, reloaded);
  EXPECT_EQ(read_file(path), from_json.to_tokenizer_json());
  std::filesystem::remove(path);

  const BertTokenizer cased = BertTokenizer::from_tokenizer_json(kGolden + "tokenizer_cased.json");
  expect_same_encodings(cased, BertTokenizer::from_vocab_file(kVocab, {.do_lower_case = false, .strip_accents = false}));
}

TEST(TokenizerJson, TokenizerConfigOverridesNormalizer) {
  const std::string dir = (std::filesystem::temp_directory_path() / "heed_tok_cfg").string();
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kGolden + "tokenizer_uncased.json", dir + "/tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);
  write_file_atomic(dir + "/tokenizer_config.json",
                    R"({"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": false})");
  const BertTokenizer tok = BertTokenizer::from_pretrained(dir);
  EXPECT_FALSE(tok.normalizer_config().lowercase);
  EXPECT_FALSE(tok.normalizer_config().strips_accents());
  EXPECT_FALSE(tok.normalizer_config().handle_chinese_chars);
  std::filesystem::remove_all(dir);
}

// A small valid tokenizer.json, then one broken field at a time.
json small() {
  BertTokenizer tok(Vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"}), BertTokenizerConfig{});
  return json::parse(tok.to_tokenizer_json());
}

TEST(TokenizerJson, MalformedFilesNameTheField) {
  struct Row {
    const char* what;
    std::function<void(json&)> edit;
    const char* must_mention;
  };
  const Row rows[] = {
      {"model type", [](json& j) { j["model"]["type"] = "BPE"; }, "model.type"},
      {"no vocab", [](json& j) { j["model"].erase("vocab"); }, "model.vocab"},
      {"vocab id type", [](json& j) { j["model"]["vocab"]["a"] = "x"; }, "model.vocab['a']"},
      {"vocab id range", [](json& j) { j["model"]["vocab"]["a"] = 99; }, "model.vocab['a']"},
      {"vocab id twice", [](json& j) { j["model"]["vocab"]["a"] = 6; }, "used twice"},
      {"unk missing", [](json& j) { j["model"]["unk_token"] = "<unk>"; }, "<unk>"},
      {"max chars", [](json& j) { j["model"]["max_input_chars_per_word"] = "100"; }, "max_input_chars_per_word"},
      {"normalizer", [](json& j) { j["normalizer"] = {{"type", "NFC"}}; }, "normalizer.type"},
      {"lowercase", [](json& j) { j["normalizer"]["lowercase"] = 1; }, "normalizer.lowercase"},
      {"strip_accents", [](json& j) { j["normalizer"]["strip_accents"] = "yes"; }, "strip_accents"},
      {"pre_tokenizer", [](json& j) { j["pre_tokenizer"]["type"] = "Whitespace"; }, "pre_tokenizer.type"},
      {"post null", [](json& j) { j["post_processor"] = nullptr; }, "post_processor"},
      {"template", [](json& j) { j["post_processor"]["single"].erase(0); }, "post_processor.single"},
      {"template pair", [](json& j) { j["post_processor"]["pair"][3]["Sequence"]["type_id"] = 0; },
       "post_processor.pair[3]"},
      {"decoder", [](json& j) { j["decoder"]["type"] = "BPE"; }, "decoder.type"},
      {"added id", [](json& j) { j["added_tokens"][0].erase("id"); }, "added_tokens[0].id"},
      {"added flag", [](json& j) { j["added_tokens"][1]["special"] = "true"; }, "added_tokens[1].special"},
      {"not object", [](json& j) { j = json::array(); }, "top level"},
  };
  for (const Row& r : rows) {
    json j = small();
    r.edit(j);
    try {
      parse_tokenizer_json(j.dump(), "bad/tokenizer.json");
      ADD_FAILURE() << r.what << ": no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("bad/tokenizer.json"), std::string::npos) << r.what << ": " << msg;
      EXPECT_NE(msg.find(r.must_mention), std::string::npos) << r.what << ": " << msg;
    }
  }
  EXPECT_THROW(parse_tokenizer_json("{\"model\": ", "trunc.json"), Error);
  EXPECT_THROW(BertTokenizer::from_tokenizer_json("/nonexistent/tokenizer.json"), Error);
  EXPECT_THROW(BertTokenizer::from_pretrained("/nonexistent"), Error);
  EXPECT_THROW(parse_tokenizer_config("{\"do_lower_case\": \"yes\"}", "tokenizer_config.json"), Error);
}

}  // namespace
}  // namespace heed::tokenizers
