// heed/viz: the JSON behind the pages (BertViz's format for attention, series for the
// report) and the self-contained HTML around it. The pages' behaviour in a browser is
// tested by tests/browser.
#include <gtest/gtest.h>

#include <filesystem>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/viz/metrics_log.h"
#include "tests/viz/synthetic.h"

namespace heed::viz {
namespace {

using nlohmann::json;
namespace vt = testing;

// The JSON island a page carries.
json embedded(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"heed-data\">";
  const size_t a = html.find(open) + open.size();
  const size_t b = html.find("</script>", a);
  return json::parse(html.substr(a, b - a));
}

const MetricSeries* find(const MetricsLog& log, const std::string& name) {
  for (const auto& s : log.series)
    if (s.name == name) return &s;
  return nullptr;
}

TEST(Html, PageIsSelfContained) {
  const Page page = attention_page(vt::sentence_input());
  const std::string& html = page.html;
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  for (const char* bad : {"<script src", "<link", "src=\"http", "href=\"http", "@import", "url(http"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  EXPECT_NE(html.find("function heedData"), std::string::npos);   // page.js inlined
  EXPECT_NE(html.find("Neuron view"), std::string::npos);         // attention.js inlined
  EXPECT_NE(html.find("--accent"), std::string::npos);            // page.css inlined
}

TEST(Html, JsonIslandCannotEndTheScript) {
  const std::string s = json_for_html(json{{"t", "</script><b>"}});
  EXPECT_EQ(s.find('<'), std::string::npos);
  EXPECT_EQ(json::parse(s)["t"], "</script><b>");
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(Html, JsonPathBesideHtml) {
  EXPECT_EQ(json_path_for("out/attention.html"), "out/attention.json");
  EXPECT_EQ(json_path_for("report"), "report.json");
}

TEST(Attention, BertVizShape) {
  const auto in = vt::sentence_input();  // 4 layers x 6 heads, T = 9, D = 8
  const json d = attention_data(in);
  ASSERT_TRUE(d["attention"].contains("all"));
  const json& all = d["attention"]["all"];
  ASSERT_EQ(all["attn"].size(), 4u);
  ASSERT_EQ(all["attn"][0].size(), 6u);
  ASSERT_EQ(all["attn"][0][0].size(), 9u);
  ASSERT_EQ(all["attn"][0][0][0].size(), 9u);
  EXPECT_EQ(all["left_text"], json(in.tokens));
  EXPECT_EQ(all["right_text"], json(in.tokens));
  ASSERT_EQ(all["queries"][3][5][8].size(), 8u);
  ASSERT_EQ(all["keys"][3][5][8].size(), 8u);
  EXPECT_EQ(d["default_filter"], "all");
  EXPECT_EQ(d["include_layers"], json({0, 1, 2, 3}));
  EXPECT_FALSE(d["attention"].contains("aa"));
  // Values: (layer 2, head 3, row 4, col 7) of the (H, T, T) float array, rounded to 1e-6.
  const float w = in.attention.layers[2][(3 * 9 + 4) * 9 + 7];
  EXPECT_NEAR(all["attn"][2][3][4][7].get<double>(), w, 1e-6);
  double row = 0;
  for (const auto& v : all["attn"][1][2][0]) row += v.get<double>();
  EXPECT_NEAR(row, 1.0, 1e-5);
}

TEST(Attention, SentencePairSlicesLikeBertViz) {
  const auto in = vt::pair_input();  // T = 15, second segment from 9
  const json d = attention_data(in);
  const json& a = d["attention"];
  for (const char* k : {"all", "aa", "bb", "ab", "ba"}) ASSERT_TRUE(a.contains(k)) << k;
  EXPECT_EQ(a["aa"]["left_text"].size(), 9u);
  EXPECT_EQ(a["ab"]["right_text"], json({"it", "was", "very", "tired", ".", "[SEP]"}));
  EXPECT_EQ(a["ba"]["attn"][0][0].size(), 6u);     // rows: sentence B
  EXPECT_EQ(a["ba"]["attn"][0][0][0].size(), 9u);  // cols: sentence A
  // ab[l][h][i][j] == all[l][h][i][9 + j]; keys of ab are B's, queries A's.
  EXPECT_EQ(a["ab"]["attn"][2][1][3][2], a["all"]["attn"][2][1][3][11]);
  EXPECT_EQ(a["ab"]["keys"][0][0].size(), 6u);
  EXPECT_EQ(a["ab"]["queries"][0][0].size(), 9u);
  EXPECT_EQ(d["heed"]["sentence_b_start"], 9);
  EXPECT_EQ(d["heed"]["filters"].size(), 5u);
  // The page derives the slices itself; the .json beside it carries them.
  EXPECT_FALSE(embedded(attention_page(in).html)["attention"].contains("aa"));
  EXPECT_TRUE(json::parse(attention_page(in).json)["attention"].contains("aa"));
}

TEST(Attention, EncoderDecoder) {
  const json d = attention_data(vt::cross_input());
  const json& a = d["attention"];
  EXPECT_EQ(d["default_filter"], "encoder");
  EXPECT_EQ(a["cross"]["left_text"].size(), 5u);   // target tokens attend...
  EXPECT_EQ(a["cross"]["right_text"].size(), 7u);  // ...to source tokens
  EXPECT_EQ(a["cross"]["attn"][1][3].size(), 5u);
  EXPECT_EQ(a["cross"]["attn"][1][3][0].size(), 7u);
  EXPECT_EQ(a["decoder"]["attn"][0][0].size(), 5u);
}

TEST(Attention, LayerIdsAndChecks) {
  auto in = vt::sentence_input();
  in.layer_ids = {4, 5, 6, 7};
  EXPECT_EQ(attention_data(in)["include_layers"], json({4, 5, 6, 7}));
  in.layer_ids = {1};
  EXPECT_THROW(attention_data(in), Error);
  in = vt::sentence_input();
  in.tokens.pop_back();
  try {
    attention_data(in);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention"), std::string::npos) << e.what();
  }
  in = vt::sentence_input();
  in.attention.layers[1].resize(10);
  EXPECT_THROW(attention_data(in), Error);
  in = vt::sentence_input();
  in.sentence_b_start = 9;
  EXPECT_THROW(attention_data(in), Error);
  auto both = vt::sentence_input();
  both.cross_attention = vt::cross_input().cross_attention;
  EXPECT_THROW(attention_data(both), Error);
}

TEST(MetricsLog, SyntheticRun) {
  const MetricsLog log = parse_metrics_jsonl(vt::synthetic_metrics(1000));
  EXPECT_EQ(log.x_key, "step");
  EXPECT_EQ(log.records, 1010);  // 1000 training + 10 evaluation records
  ASSERT_EQ(log.warnings.size(), 1u);  // the broken line
  EXPECT_NE(log.warnings[0].find("line"), std::string::npos);
  ASSERT_TRUE(find(log, "loss") && find(log, "eval_loss") && find(log, "eval_accuracy"));
  EXPECT_EQ(find(log, "loss")->y.size(), 1000u);
  EXPECT_EQ(find(log, "eval_loss")->y.size(), 10u);
  EXPECT_EQ(find(log, "eval_loss")->x.front(), 100);
  EXPECT_EQ(find(log, "grad_norm")->y.size(), 996u);  // NaN at 250, 500, 750, 1000
  EXPECT_EQ(find(log, "eval_loss")->group, "loss");
  EXPECT_EQ(find(log, "eval_accuracy")->group, "accuracy");
  EXPECT_TRUE(find(log, "eval_accuracy")->eval);
  EXPECT_FALSE(find(log, "lr")->eval);
}

TEST(MetricsLog, TrainerRecordTypes) {
  // heed::train::Trainer's metrics.jsonl: {"type": "train"} and {"type": "eval"} records
  // share key names; the eval ones become eval_* series beside the training ones.
  const MetricsLog log = parse_metrics_jsonl(
      "{\"type\": \"train\", \"step\": 5, \"loss\": 0.9, \"accuracy\": 0.5}\n"
      "{\"type\": \"eval\", \"step\": 5, \"loss\": 0.7, \"accuracy\": 0.6, \"epoch\": 1}\n"
      "{\"type\": \"train\", \"step\": 10, \"loss\": 0.5, \"accuracy\": 0.8}\n");
  ASSERT_TRUE(find(log, "loss") && find(log, "eval_loss") && find(log, "eval_accuracy"));
  EXPECT_EQ(find(log, "loss")->y, (std::vector<double>{0.9, 0.5}));
  EXPECT_EQ(find(log, "eval_loss")->y, (std::vector<double>{0.7}));
  EXPECT_EQ(find(log, "eval_loss")->group, "loss");
  EXPECT_TRUE(find(log, "eval_accuracy")->eval);
}

TEST(MetricsLog, Tolerant) {
  // heed demo's epoch log, nested values, strings, bools, nulls, Infinity, CRLF.
  const MetricsLog log = parse_metrics_jsonl(
      "{\"epoch\": 1, \"train_loss\": 2.0, \"eval_accuracy\": 0.5, \"seconds\": 1.5}\r\n"
      "{\"epoch\": 2, \"train_loss\": 1.0, \"eval_accuracy\": 0.7, \"note\": \"x\", \"ok\": true}\n"
      "{\"train_loss\": Infinity, \"loss\": {\"mlm\": 3.5, \"nsp\": null}}\n"
      "[1, 2]\n");
  EXPECT_EQ(log.x_key, "epoch");
  EXPECT_EQ(log.records, 3);
  EXPECT_EQ(log.warnings.size(), 1u);
  EXPECT_EQ(find(log, "train_loss")->y.size(), 2u);
  EXPECT_EQ(find(log, "train_loss")->group, "loss");
  EXPECT_EQ(find(log, "eval_accuracy")->group, "accuracy");
  ASSERT_TRUE(find(log, "loss.mlm"));
  EXPECT_EQ(find(log, "loss.mlm")->x, std::vector<double>{2});  // no epoch: the last one seen
  EXPECT_EQ(find(log, "loss.mlm")->group, "loss");
  EXPECT_FALSE(find(log, "note") || find(log, "ok") || find(log, "epoch") || find(log, "loss.nsp"));
  // No step-like key at all: x is the line number.
  const MetricsLog bare = parse_metrics_jsonl("{\"a\": 1}\n\n{\"a\": 2}\n");
  EXPECT_EQ(bare.x_key, "record");
  EXPECT_EQ(find(bare, "a")->x, (std::vector<double>{1, 3}));
  EXPECT_EQ(parse_metrics_jsonl("").records, 0);
}

TEST(Report, GroupsConfigsAndEvaluation) {
  ReportInput in;
  in.metrics_jsonl = vt::synthetic_metrics(200);
  in.configs = {{"config.json", vt::synthetic_config()}, {"run_config.json", vt::synthetic_run_config()}};
  in.evaluation = vt::synthetic_eval();
  in.evaluation_file = "eval.json";
  const json d = report_data(in);
  const json& groups = d["metrics"]["groups"];
  ASSERT_GE(groups.size(), 5u);
  EXPECT_EQ(groups[0]["name"], "loss");
  EXPECT_EQ(groups[0]["series"], json({"loss", "eval_loss"}));
  EXPECT_EQ(groups[1]["name"], "accuracy");
  EXPECT_EQ(groups[2]["name"], "lr");
  EXPECT_EQ(groups.back()["name"], "elapsed");
  const json& rows = d["configs"][1]["rows"];
  bool saw_nested = false;
  for (const auto& r : rows) saw_nested = saw_nested || r[0] == "optimizer.betas";
  EXPECT_TRUE(saw_nested);
  const json& ev = d["evaluation"];
  EXPECT_EQ(ev["labels"], json({"negative", "neutral", "positive"}));
  EXPECT_EQ(ev["per_class"][1]["label"], "neutral");
  EXPECT_EQ(ev["per_class"][1]["support"], 50);
  EXPECT_EQ(ev["summary"]["accuracy"], 0.8333);
  EXPECT_EQ(ev["confusion_matrix"][2][2], 65);
  const Page page = report_page(in);
  EXPECT_EQ(embedded(page.html), json::parse(page.json));
}

TEST(Report, PerClassDerivedAndBadMatrix) {
  ReportInput in;
  in.evaluation = json{{"confusion_matrix", {{3, 1}, {0, 4}}}};
  json ev = report_data(in)["evaluation"];
  EXPECT_EQ(ev["labels"], json({"0", "1"}));
  EXPECT_TRUE(ev["per_class_derived"].get<bool>());
  EXPECT_NEAR(ev["per_class"][0]["precision"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(ev["per_class"][0]["recall"].get<double>(), 0.75, 1e-12);
  EXPECT_NEAR(ev["per_class"][1]["precision"].get<double>(), 0.8, 1e-12);
  in.evaluation = json{{"labels", {"a", "b", "c"}}, {"confusion_matrix", {{1, 2}, {3, 4}}}};
  const json d = report_data(in);
  EXPECT_TRUE(d["evaluation"]["confusion_matrix"].is_null());
  EXPECT_FALSE(d["warnings"].empty());
}

TEST(Report, LoadRunDir) {
  const auto dir = std::filesystem::temp_directory_path() / "heed_viz_test_run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_THROW(load_run_dir((dir / "missing").string()), Error);
  ReportInput empty = load_run_dir(dir.string());
  EXPECT_EQ(empty.warnings.size(), 1u);  // no metrics.jsonl
  write_file_atomic((dir / "metrics.jsonl").string(), vt::synthetic_metrics(10));
  write_file_atomic((dir / "config.json").string(), "{\"hidden_size\": 8}");
  write_file_atomic((dir / "run_config.json").string(), "{not json");
  write_file_atomic((dir / "eval_results.json").string(), vt::synthetic_eval().dump());
  const ReportInput in = load_run_dir(dir.string());
  EXPECT_EQ(in.configs.size(), 1u);
  EXPECT_EQ(in.warnings.size(), 1u);  // run_config.json is not JSON
  ASSERT_TRUE(in.evaluation.has_value());
  EXPECT_EQ(in.evaluation_file, "eval_results.json");
  const Page page = report_page(in);
  write_page(page, (dir / "out" / "report.html").string());
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "report.json"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace heed::viz

namespace heed::viz {
namespace {

TEST(Attention, ParseLayers) {
  EXPECT_EQ(parse_layers("all", 4), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(parse_layers("", 2), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(parse_layers("2", 4), (std::vector<int64_t>{2}));
  EXPECT_EQ(parse_layers("0-3", 12), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(parse_layers("5-6,0,6", 12), (std::vector<int64_t>{0, 5, 6}));
  for (const char* bad : {"4", "0-4", "3-1", "-1", "a", "1-", "1,,2", "1x"})
    EXPECT_THROW(parse_layers(bad, 4), Error) << bad;
}

}  // namespace
}  // namespace heed::viz
