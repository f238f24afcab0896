// from_pretrained / save_pretrained: HF's directory layout, key handling, messages,
// bit-identical round trips, and errors for bad checkpoints and configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bert_test_util.h"
#include "heed/base/fs.h"
#include "heed/io/checkpoint_io.h"
#include "heed/models/bert_runner.h"

namespace heed {

namespace {

namespace fs = std::filesystem;
using models::BertHead;

models::BertLoadResult load(const std::string& dir, std::optional<BertHead> head,
                            models::WeightsFormat format = models::WeightsFormat::Auto,
                            bool strict = false) {
  models::BertFromPretrainedOptions o;
  o.head = head;
  o.load.format = format;
  o.load.strict = strict;
  o.load.quiet = true;
  return models::bert_from_pretrained(dir, o);
}

void copy_dir(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

std::set<std::string> safetensors_keys(const std::string& path) {
  const auto f = io::load_safetensors(path);
  return {f.names.begin(), f.names.end()};
}

void expect_same_state(const models::BertPreTrainedModel& a, const models::BertPreTrainedModel& b) {
  const auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(testing::all_close(sa[i].second, sb[i].second, 0.0, 0.0)) << sa[i].first;
  }
}

// ---- layout and round trips ------------------------------------------------------

TEST(BertSavePretrained, RoundTripIsBitIdenticalAndHasHFLayout) {
  for (auto format : {models::WeightsFormat::Safetensors, models::WeightsFormat::Torch}) {
    testing::TempDir tmp;
    auto a = load(testing::bert_dir("pretraining"), std::nullopt, format);
    EXPECT_EQ(a.model->head(), BertHead::PreTraining);  // from config.json architectures
    models::bert_save_pretrained(*a.model, tmp.str());
    auto b = load(tmp.str(), std::nullopt);
    EXPECT_TRUE(b.report.messages.empty());
    expect_same_state(*a.model, *b.model);

    // Exactly two files; the safetensors key set is HF's (no tied decoder weight/bias).
    std::set<std::string> files;
    for (const auto& e : fs::directory_iterator(tmp.str()))
      files.insert(e.path().filename().string());
    EXPECT_EQ(files, (std::set<std::string>{"config.json", "model.safetensors"}));
    const auto keys = safetensors_keys(tmp / "model.safetensors");
    EXPECT_EQ(keys, safetensors_keys(testing::bert_dir("pretraining/model.safetensors")));
    EXPECT_FALSE(keys.count("cls.predictions.decoder.weight"));
    EXPECT_FALSE(keys.count("cls.predictions.decoder.bias"));
    EXPECT_EQ(io::load_safetensors(tmp / "model.safetensors").metadata,
              (std::map<std::string, std::string>{{"format", "pt"}}));
    // Byte for byte the files the Python script wrote in HF's layout.
    EXPECT_EQ(read_file(tmp / "model.safetensors"),
              read_file(testing::bert_dir("pretraining/model.safetensors")));
    EXPECT_EQ(read_file(tmp / "config.json"), read_file(testing::bert_dir("pretraining/config.json")));
  }
}

TEST(BertSavePretrained, BaseModelKeysHaveNoPrefixAndHeadsKeepUnknownConfigKeys) {
  testing::TempDir tmp;
  auto a = load(testing::bert_dir("seqcls"), BertHead::Base);
  models::bert_save_pretrained(*a.model, tmp.str());
  for (const auto& k : safetensors_keys(tmp / "model.safetensors"))
    EXPECT_NE(k.rfind("bert.", 0), 0u) << k;
  const auto cfg = read_json(tmp / "config.json");
  EXPECT_EQ(cfg["architectures"], nlohmann::json::array({"BertModel"}));
  EXPECT_EQ(cfg["model_type"], "bert");
  EXPECT_EQ(cfg["use_cache"], true);  // unknown to heed, kept
  EXPECT_EQ(cfg["id2label"]["2"], "POS");
  EXPECT_EQ(cfg["label2id"]["NEG"], 0);
  // And a task model loads that bare checkpoint (prefix added), reporting only its head.
  auto c = load(tmp.str(), BertHead::SequenceClassification);
  EXPECT_EQ(c.report.missing_keys,
            (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_TRUE(c.report.unexpected_keys.empty());
  EXPECT_TRUE(c.report.missing_required.empty());
}

TEST(BertSavePretrained, OverwritesAnEarlierShardedSave) {
  testing::TempDir tmp;
  write_file_atomic(tmp / "model-00001-of-00002.safetensors", "stale");
  write_file_atomic(tmp / "model.safetensors.index.json", "{}");
  auto a = load(testing::bert_dir("qa"), std::nullopt);
  models::bert_save_pretrained(*a.model, tmp.str());
  EXPECT_FALSE(fs::exists(tmp / "model-00001-of-00002.safetensors"));
  EXPECT_FALSE(fs::exists(tmp / "model.safetensors.index.json"));
  expect_same_state(*a.model, *load(tmp.str(), std::nullopt).model);
}

TEST(BertFromPretrained, ShardedSafetensorsIndex) {
  testing::TempDir tmp;
  fs::copy(testing::bert_dir("pretraining/config.json"), tmp / "config.json");
  const auto f = io::load_safetensors(testing::bert_dir("pretraining/model.safetensors"));
  std::vector<std::pair<std::string, Tensor>> s1, s2;
  nlohmann::json map = nlohmann::json::object();
  for (const auto& n : f.names) {
    const bool first = n.rfind("bert.encoder", 0) != 0;
    (first ? s1 : s2).emplace_back(n, f.at(n));
    map[n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  io::save_safetensors(tmp / "model-00001-of-00002.safetensors", s1, {{"format", "pt"}});
  io::save_safetensors(tmp / "model-00002-of-00002.safetensors", s2, {{"format", "pt"}});
  write_file_atomic(tmp / "model.safetensors.index.json",
                    nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump());
  auto sharded = load(tmp.str(), std::nullopt);
  EXPECT_EQ(sharded.report.files.size(), 2u);
  EXPECT_TRUE(sharded.report.messages.empty());
  expect_same_state(*sharded.model, *load(testing::bert_dir("pretraining"), std::nullopt).model);
}

TEST(BertFromPretrained, Bfloat16CheckpointIsWidenedToF32) {
  testing::TempDir tmp;
  fs::copy(testing::bert_dir("pretraining/config.json"), tmp / "config.json");
  const auto f = io::load_safetensors(testing::bert_dir("pretraining/model.safetensors"));
  std::vector<std::pair<std::string, Tensor>> bf16;
  for (const auto& n : f.names) bf16.emplace_back(n, f.at(n).to(DType::BF16));
  io::save_safetensors(tmp / "model.safetensors", bf16, {{"format", "pt"}});
  auto r = load(tmp.str(), std::nullopt);
  EXPECT_TRUE(r.report.messages.empty());
  for (const auto& [name, t] : r.model->state_dict()) {
    EXPECT_EQ(t.dtype(), DType::F32);
    EXPECT_TRUE(testing::all_close(t, f.at(name).to(DType::BF16).to(DType::F32), 0, 0)) << name;
  }
}

// ---- the tied decoder -------------------------------------------------------------

TEST(BertTiedDecoder, IsTheWordEmbeddingTensorAndCountedOnce) {
  auto r = load(testing::bert_dir("pretraining"), BertHead::PreTraining);
  const auto& m = dynamic_cast<const models::BertForPreTraining&>(*r.model);
  EXPECT_TRUE(m.cls_predictions().decoder_weight().is_same(m.bert().embeddings().word_embeddings()));
  for (const auto& [name, p] : m.named_parameters())
    EXPECT_EQ(name.find("decoder"), std::string::npos) << name;
  EXPECT_EQ(m.num_parameters(), models::bert_num_parameters(m.config(), BertHead::PreTraining));
  // .bin holds the alias (same storage); it is accepted silently.
  auto bin = load(testing::bert_dir("pretraining"), BertHead::PreTraining, models::WeightsFormat::Torch);
  EXPECT_TRUE(bin.report.unexpected_keys.empty()) << models::python_list(bin.report.unexpected_keys);
  EXPECT_TRUE(bin.report.missing_keys.empty());
}

TEST(BertTiedDecoder, AliasFillsTheEmbeddingWhenOnlyTheAliasIsStored) {
  testing::TempDir tmp;
  fs::copy(testing::bert_dir("pretraining/config.json"), tmp / "config.json");
  const auto f = io::load_checkpoint(testing::bert_dir("pretraining/pytorch_model.bin"));
  std::vector<std::pair<std::string, Tensor>> kept;
  for (const auto& n : f.names)
    if (n != "bert.embeddings.word_embeddings.weight") kept.emplace_back(n, f.at(n).contiguous());
  io::save_safetensors(tmp / "model.safetensors", kept, {{"format", "pt"}});
  auto r = load(tmp.str(), std::nullopt);
  EXPECT_TRUE(r.report.missing_keys.empty()) << models::python_list(r.report.missing_keys);
  expect_same_state(*r.model, *load(testing::bert_dir("pretraining"), std::nullopt).model);
}

// ---- HF's messages ----------------------------------------------------------------

TEST(BertFromPretrained, NewHeadIsInitialisedAndReportedInHFWords) {
  const std::string dir = testing::bert_dir("pretraining");
  auto r = load(dir, BertHead::SequenceClassification);
  EXPECT_EQ(r.report.missing_keys, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_TRUE(r.report.missing_required.empty());
  const std::vector<std::string> unused = {
      "cls.predictions.bias",          "cls.predictions.transform.LayerNorm.bias",
      "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
      "cls.predictions.transform.dense.weight",     "cls.seq_relationship.bias",
      "cls.seq_relationship.weight"};
  EXPECT_EQ(r.report.unexpected_keys, unused);
  ASSERT_EQ(r.report.messages.size(), 2u);
  EXPECT_EQ(r.report.messages[0].substr(0, 200),
            fmt::format("Some weights of the model checkpoint at {} were not used when initializing "
                        "BertForSequenceClassification: ['cls.predictions.bias', "
                        "'cls.predictions.transform.LayerNorm.bias', ",
                        dir)
                .substr(0, 200));
  EXPECT_NE(r.report.messages[0].find("- This IS expected if you are initializing "
                                      "BertForSequenceClassification from the checkpoint of a model "
                                      "trained on another task"),
            std::string::npos);
  EXPECT_EQ(r.report.messages[1],
            fmt::format("Some weights of BertForSequenceClassification were not initialized from "
                        "the model checkpoint at {} and are newly initialized: "
                        "['classifier.weight', 'classifier.bias']\nYou should probably TRAIN this "
                        "model on a down-stream task to be able to use it for predictions and "
                        "inference.",
                        dir));
  // normal(0, initializer_range) weight, zero bias.
  const auto sd = r.model->state_dict();
  for (const auto& [name, t] : sd) {
    if (name == "classifier.bias") {
      for (float v : t.to_vector()) EXPECT_EQ(v, 0.0f);
    } else if (name == "classifier.weight") {
      double ss = 0;
      for (float v : t.to_vector()) ss += double(v) * v;
      const double std_dev = std::sqrt(ss / double(t.numel()));
      EXPECT_GT(std_dev, 0.01);
      EXPECT_LT(std_dev, 0.04);
    }
  }
  EXPECT_EQ(r.model->config().num_labels, 2);  // pretraining config: HF's default
}

TEST(BertFromPretrained, NumLabelsOverride) {
  models::BertFromPretrainedOptions o;
  o.head = BertHead::TokenClassification;
  o.num_labels = 5;
  o.load.quiet = true;
  auto r = models::bert_from_pretrained(testing::bert_dir("pretraining"), o);
  const auto logits = r.model->forward({.input_ids = testing::bert_goldens().at("input_ids")}).logits;
  EXPECT_EQ(logits.shape(), Shape({3, 11, 5}));
}

// ---- bad checkpoints and configs --------------------------------------------------

TEST(BertBadCheckpoint, ShapeDisagreeingWithConfigNamesFileKeyAndShapes) {
  testing::TempDir tmp;
  copy_dir(testing::bert_dir("pretraining"), tmp.str());
  auto cfg = read_json(tmp / "config.json");
  cfg["intermediate_size"] = 40;
  write_file_atomic(tmp / "config.json", cfg.dump(2));
  for (auto format : {models::WeightsFormat::Safetensors, models::WeightsFormat::Torch}) {
    try {
      load(tmp.str(), std::nullopt, format);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      const std::string file = format == models::WeightsFormat::Torch ? "pytorch_model.bin"
                                                                      : "model.safetensors";
      EXPECT_NE(msg.find(tmp / file), std::string::npos) << msg;
      EXPECT_NE(msg.find("bert.encoder.layer.0.intermediate.dense.weight"), std::string::npos) << msg;
      EXPECT_NE(msg.find("(37, 32)"), std::string::npos) << msg;
      EXPECT_NE(msg.find("(40, 32)"), std::string::npos) << msg;
      EXPECT_NE(msg.find(tmp / "config.json"), std::string::npos) << msg;
    }
  }
}

TEST(BertBadCheckpoint, MissingEncoderWeightWarnsLoudlyOrFailsWhenStrict) {
  testing::TempDir tmp;
  fs::copy(testing::bert_dir("pretraining/config.json"), tmp / "config.json");
  const auto f = io::load_safetensors(testing::bert_dir("pretraining/model.safetensors"));
  const std::string dropped = "bert.encoder.layer.1.attention.self.value.weight";
  std::vector<std::pair<std::string, Tensor>> kept;
  for (const auto& n : f.names)
    if (n != dropped) kept.emplace_back(n, f.at(n));
  io::save_safetensors(tmp / "model.safetensors", kept, {{"format", "pt"}});

  auto r = load(tmp.str(), std::nullopt);
  EXPECT_EQ(r.report.missing_keys, std::vector<std::string>{dropped});
  EXPECT_EQ(r.report.missing_required, std::vector<std::string>{dropped});
  ASSERT_EQ(r.report.messages.size(), 2u);
  EXPECT_EQ(r.report.messages[0].rfind("WARNING: weights of the base model are missing", 0), 0u);
  EXPECT_NE(r.report.messages[0].find(dropped), std::string::npos);
  try {
    load(tmp.str(), std::nullopt, models::WeightsFormat::Auto, /*strict=*/true);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dropped), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(tmp.str()), std::string::npos) << e.what();
  }
  // A missing head weight is not "required": strict still loads.
  auto head = load(testing::bert_dir("pretraining"), BertHead::SequenceClassification,
                   models::WeightsFormat::Auto, /*strict=*/true);
  EXPECT_EQ(head.report.missing_keys.size(), 2u);
}

TEST(BertBadCheckpoint, NoWeightsNamesTheDirectory) {
  testing::TempDir tmp;
  fs::copy(testing::bert_dir("pretraining/config.json"), tmp / "config.json");
  try {
    load(tmp.str(), std::nullopt);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.str() + ": no weights found"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load(tmp / "nope", std::nullopt), Error);
}

struct BadConfigCase {
  const char* name;
  std::string text;
  const char* expect;  // substring of the error, besides the path
};

class BertBadConfig : public ::testing::TestWithParam<BadConfigCase> {};

TEST_P(BertBadConfig, ErrorNamesFileAndField) {
  testing::TempDir tmp;
  copy_dir(testing::bert_dir("pretraining"), tmp.str());
  write_file_atomic(tmp / "config.json", GetParam().text);
  try {
    load(tmp.str(), std::nullopt);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(tmp / "config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(GetParam().expect), std::string::npos) << msg;
  }
}

std::string config_with(const char* key, const nlohmann::json& value) {
  auto j = read_json(testing::bert_dir("pretraining/config.json"));
  j[key] = value;
  return j.dump(2);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BertBadConfig,
    ::testing::Values(
        BadConfigCase{"malformed", "{\"hidden_size\": 32,", "malformed JSON"},
        BadConfigCase{"not_object", "[1, 2]", "expected a JSON object"},
        BadConfigCase{"type", config_with("hidden_size", "big"), "\"hidden_size\" must be an integer"},
        BadConfigCase{"heads", config_with("num_attention_heads", 5), "\"hidden_size\" (32) is not a multiple"},
        BadConfigCase{"act", config_with("hidden_act", "swish"), "\"hidden_act\" is \"swish\""},
        BadConfigCase{"relative", config_with("position_embedding_type", "relative_key"),
                      "only \"absolute\" is supported"},
        BadConfigCase{"model_type", config_with("model_type", "gpt2"), "\"model_type\""},
        BadConfigCase{"dropout", config_with("hidden_dropout_prob", 1.5), "\"hidden_dropout_prob\""},
        BadConfigCase{"pad", config_with("pad_token_id", 500), "\"pad_token_id\" 500"},
        BadConfigCase{"labels", config_with("id2label", nlohmann::json{{"x", "A"}}), "\"id2label\""}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- config -----------------------------------------------------------------------

TEST(BertConfigJson, UnknownKeysRoundTripAndLabelMaps) {
  nlohmann::json j = read_json(testing::bert_dir("seqcls/config.json"));
  j["custom_thing"] = {{"nested", {1, 2, 3}}};
  j["problem_type"] = "multi_label_classification";
  const auto c = models::BertConfig::from_json(j, "test");
  EXPECT_EQ(c.num_labels, 3);
  EXPECT_EQ(c.label_name(2), "POS");
  EXPECT_EQ(c.problem_type, "multi_label_classification");
  EXPECT_EQ(c.to_json(), j);
  // HF drops the default 2-label maps; a bare config gets every BERT key.
  const auto d = models::BertConfig::from_json(nlohmann::json::object(), "empty");
  const auto dj = d.to_json();
  EXPECT_FALSE(dj.contains("id2label"));
  for (const char* k : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "hidden_act", "hidden_dropout_prob",
                        "attention_probs_dropout_prob", "max_position_embeddings",
                        "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id",
                        "position_embedding_type", "classifier_dropout", "model_type"})
    EXPECT_TRUE(dj.contains(k)) << k;
  EXPECT_EQ(dj["vocab_size"], 30522);
  EXPECT_EQ(dj["layer_norm_eps"].get<double>(), 1e-12);
  // num_labels alone generates LABEL_i maps; disagreeing with id2label is an error.
  const auto e = models::BertConfig::from_json({{"num_labels", 4}}, "x");
  EXPECT_EQ(e.to_json()["id2label"]["3"], "LABEL_3");
  EXPECT_THROW(models::BertConfig::from_json({{"num_labels", 4}, {"id2label", {{"0", "A"}}}}, "x"),
               Error);
}

}  // namespace

}  // namespace heed
