// heed tokenize end to end: the tokenizer goldens (tests/golden/tokenizer, HF Python's
// answers) pushed through the command as JSONL, in every way of naming the model.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kGolden = HEED_GOLDEN_DIR "/tokenizer";
const std::string kVocab = HEED_DATA_DIR "/bert_vocab/vocab.txt";

// A folder holding the golden tokenizer.json + tokenizer_config.json of `config`.
fs::path json_model_dir(const std::string& config) {
  const fs::path dir = test_path() / ("model_" + config);
  fs::create_directories(dir);
  fs::copy_file(kGolden + "/tokenizer_" + config + ".json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  fs::copy_file(kGolden + "/tokenizer_config_" + config + ".json", dir / "tokenizer_config.json",
                fs::copy_options::overwrite_existing);
  return dir;
}

// Checks one output line against a golden record's `config` answer.
void expect_matches_golden(const json& out, const json& golden, const std::string& config) {
  const json& g = golden.at(config);
  const std::string id = golden.at("id");
  EXPECT_EQ(out.at("id"), golden.at("id"));
  EXPECT_FALSE(out.contains("text")) << id;
  EXPECT_FALSE(out.contains("text_pair")) << id;
  EXPECT_EQ(out.at("input_ids"), g.at("input_ids")) << id;
  EXPECT_EQ(out.at("token_type_ids"), g.at("token_type_ids")) << id;
  EXPECT_EQ(out.at("attention_mask"), g.at("attention_mask")) << id;
  json flat = json::array();
  for (const json& o : out.at("offsets")) {
    flat.push_back(o.at(0));
    flat.push_back(o.at(1));
  }
  EXPECT_EQ(flat, g.at("offsets")) << id;
  // Text tokens: the golden tokens minus [CLS]/[SEP]/[PAD], which span no text.
  json tokens = json::array();
  for (size_t i = 0; i < g.at("tokens").size(); ++i) {
    if (g.at("offsets")[2 * i + 1] > g.at("offsets")[2 * i]) tokens.push_back(g.at("tokens")[i]);
  }
  EXPECT_EQ(out.at("tokens"), tokens) << id;
}

TEST(TokenizeCommand, AdversarialGoldens) {
  std::vector<json> cases;
  {
    std::ifstream in(kGolden + "/adversarial.jsonl");
    for (std::string line; std::getline(in, line);) cases.push_back(json::parse(line));
  }
  ASSERT_GT(cases.size(), 400u);
  // One run per (truncation, max_length, padding) group, per way of loading the model.
  std::map<std::tuple<std::string, int, std::string>, std::vector<const json*>> groups;
  for (const json& c : cases) {
    groups[{c.value("truncation", ""), c.value("max_length", -1), c.value("padding", "")}]
        .push_back(&c);
  }
  const fs::path dir = test_dir();
  const std::vector<std::pair<std::string, std::string>> models = {
      {"uncased", "--model '" + kVocab + "'"},
      {"uncased", "--model '" + json_model_dir("uncased").string() + "'"},
      {"cased", "--model '" + kVocab + "' --no-lowercase --no-strip-accents"},
      {"cased", "--model '" + json_model_dir("cased").string() + "'"},
  };
  for (const auto& [key, group] : groups) {
    const auto& [truncation, max_length, padding] = key;
    std::string input;
    for (size_t i = 0; i < group.size(); ++i) {
      json rec = {{"id", (*group[i])["id"]}, {"text", (*group[i])["text"]}};
      if (group[i]->contains("pair")) rec["text_pair"] = (*group[i])["pair"];
      rec["extra"] = {{"n", i}, {"x", 1.5}, {"s", "ü\"\\"}};  // carried over unchanged
      input += rec.dump() + "\n";
    }
    spit(dir / "in.jsonl", input);
    std::string opts;
    if (max_length > 0) opts += " --max-length " + std::to_string(max_length);
    if (!truncation.empty()) opts += " --truncation " + truncation;
    if (!padding.empty()) opts += " --padding " + padding;
    for (const auto& [config, model] : models) {
      const HeedRun r = run_heed("tokenize " + model + opts + " --batch-lines 7", dir / "in.jsonl");
      ASSERT_EQ(r.status, 0) << r.err;
      const std::vector<json> out = jsonl(r.out);
      ASSERT_EQ(out.size(), group.size()) << model << opts;
      for (size_t i = 0; i < out.size(); ++i) {
        expect_matches_golden(out[i], *group[i], config);
        EXPECT_EQ(out[i].at("extra"), (json{{"n", i}, {"x", 1.5}, {"s", "ü\"\\"}}));
      }
    }
  }
}

TEST(TokenizeCommand, CorpusLinesMatchGoldensOnAnyThreadCount) {
  const fs::path dir = test_dir();
  std::vector<json> golden;
  std::string input;
  {
    const std::string cmd = "gzip -dc '" + kGolden + "/corpus.jsonl.gz'";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[1 << 16];
    std::string line;
    while (golden.size() < 3000 && std::fgets(buf, sizeof buf, p)) {
      line += buf;
      if (line.back() != '\n') continue;
      golden.push_back(json::parse(line));
      input += json{{"id", golden.back()["id"]}, {"text", golden.back()["text"]}}.dump() + "\n";
      line.clear();
    }
    pclose(p);
  }
  ASSERT_EQ(golden.size(), 3000u);
  spit(dir / "in.jsonl", input);
  const HeedRun one =
      run_heed(std::string("tokenize --model '") + HEED_DATA_DIR "/bert_vocab' --threads 1",
               dir / "in.jsonl");
  ASSERT_EQ(one.status, 0) << one.err;
  const HeedRun two =
      run_heed("tokenize --model '" + kVocab + "' --threads 2 --batch-lines 100 --input '" +
               (dir / "in.jsonl").string() + "'");
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(one.out, two.out);  // same bytes, same order
  const std::vector<json> out = jsonl(two.out);
  ASSERT_EQ(out.size(), golden.size());
  for (size_t i = 0; i < out.size(); ++i) expect_matches_golden(out[i], golden[i], "uncased");
}

TEST(TokenizeCommand, BadLinesNameTheLineNumber) {
  const fs::path dir = test_dir();
  const std::string good = "{\"text\": \"hello\"}\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"text\": \"a\"", "invalid JSON"},
      {"{\"id\": 3}", "missing field \"text\""},
      {"{\"text\": 5}", "\"text\" must be a string, got number"},
      {"{\"text\": \"a\", \"text_pair\": [1]}",
       "\"text_pair\" must be a string or null, got array"},
      {"[\"text\"]", "expected a JSON object, got array"},
      {"{\"text\": \"\xFF\"}", "invalid JSON"},  // not UTF-8
  };
  for (const auto& [line, message] : bad) {
    for (const char* batch : {"1", "2", "100"}) {
      // Line 4 is bad; line 2 is blank (skipped, but counted).
      spit(dir / "in.jsonl", good + "\n" + good + line + "\n" + good);
      const HeedRun r =
          run_heed("tokenize --model '" + kVocab + "' --batch-lines " + batch, dir / "in.jsonl");
      EXPECT_NE(r.status, 0) << line;
      EXPECT_NE(r.err.find("<stdin> line 4: "), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
      EXPECT_EQ(jsonl(r.out).size(), 2u)
          << line << " batch " << batch;  // lines before it are written
    }
  }
}

TEST(TokenizeCommand, OptionErrors) {
  const fs::path dir = test_dir();
  spit(dir / "in.jsonl", "{\"text\": \"hello\"}\n");
  const std::string in = (dir / "in.jsonl").string();
  for (const char* args :
       {"--padding max_length", "--truncation only_first", "--truncation sideways",
        "--max-length 0", "--input /nonexistent.jsonl"}) {
    const HeedRun r = run_heed("tokenize --model '" + kVocab + "' " + args, in);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_FALSE(r.err.empty()) << args;
  }
  const HeedRun r = run_heed("tokenize --model /nonexistent/dir", in);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("/nonexistent/dir"), std::string::npos) << r.err;
  // --max-length alone truncates (longest_first), as transformers does.
  spit(dir / "in2.jsonl", "{\"text\": \"hello world\"}\n");
  const HeedRun t = run_heed("tokenize --model '" + kVocab + "' --max-length 3", dir / "in2.jsonl");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(jsonl(t.out).at(0).at("input_ids"), (json{101, 7592, 102}));
}

}  // namespace
}  // namespace heed::cli_test
