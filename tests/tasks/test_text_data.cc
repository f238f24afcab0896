// Labelled text tables -> examples -> batches: label mapping, tokenization with
// truncation, dynamic padding, the resumable shuffled stream, and bad data named by file,
// line and column (or skipped and counted).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/tasks/text_batches.h"
#include "heed/tasks/text_classification.h"
#include "heed/tasks/text_data.h"
#include "tests/tasks/task_test_util.h"

namespace heed::tasks {
namespace {

using testing::ScratchDir;

tokenizers::BertTokenizer tiny_tokenizer(const ScratchDir& d) {
  testing::write_tiny_bert(d.file("bert"));
  return tokenizers::BertTokenizer::from_pretrained(d.file("bert"));
}

TEST(TextData, EncodesLabelsAndTruncates) {
  ScratchDir d("td_encode");
  const auto tok = tiny_tokenizer(d);
  d.write("t.jsonl",
          "{\"text\": \"good movie\", \"label\": \"pos\"}\n"
          "{\"text\": \"the very very very very very bad plot\", \"label\": \"neg\"}\n");
  train::Table t = read_text_table(d.file("t.jsonl"), {}, true);
  EXPECT_EQ(sorted_labels(t), (std::vector<std::string>{"neg", "pos"}));
  const auto ex = encode_examples(
      t, tok, {.max_seq_length = 6, .label2id = {{"neg", 0}, {"pos", 1}}});
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].input_ids.size(), 4u);  // [CLS] good movie [SEP]
  EXPECT_EQ(ex[0].input_ids.front(), tok.cls_token_id());
  EXPECT_EQ(ex[0].label, 1);
  EXPECT_EQ(ex[0].line, 1);
  EXPECT_EQ(ex[1].input_ids.size(), 6u);  // truncated
  EXPECT_EQ(ex[1].input_ids.back(), tok.sep_token_id());
  EXPECT_EQ(ex[1].label, 0);
  EXPECT_EQ(ex[1].line, 2);

  // Pairs: segment ids 1 on the second text.
  d.write("p.csv", "a,b,label\ngood,bad plot,1.5\n");
  train::Table p = read_text_table(d.file("p.csv"), {.text_col = "a", .text_pair_col = "b"}, true);
  const auto pe = encode_examples(p, tok, {.task = TextTask::Regress});
  EXPECT_EQ(pe[0].token_type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_FLOAT_EQ(pe[0].value, 1.5f);
}

TEST(TextData, CollatePadsToTheLongest) {
  std::vector<TextExample> ex(3);
  ex[0] = {.input_ids = {2, 7, 3}, .token_type_ids = {0, 0, 0}, .label = 1};
  ex[1] = {.input_ids = {2, 7, 8, 9, 3}, .token_type_ids = {0, 0, 0, 1, 1}, .label = 0};
  ex[2] = {.input_ids = {2, 3}, .token_type_ids = {0, 0}, .label = 1};
  const std::vector<int64_t> rows = {2, 0};
  const train::Batch b = collate_text(ex, rows, 0, TextTask::Classify, true);
  EXPECT_EQ(b.at("input_ids").shape(), Shape({2, 3}));
  EXPECT_EQ(b.at("input_ids").to_ids(), (std::vector<int64_t>{2, 3, 0, 2, 7, 3}));
  EXPECT_EQ(b.at("attention_mask").to_ids(), (std::vector<int64_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(b.at("labels").to_ids(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b.num_tokens, 5);
  const train::Batch r = collate_text(ex, rows, 0, TextTask::Regress, false);
  EXPECT_FALSE(r.tensors.count("labels"));
}

TEST(TextData, ShuffledBatchesAreResumable) {
  std::vector<TextExample> ex(10);
  for (int i = 0; i < 10; ++i) ex[size_t(i)] = {.input_ids = {2, 5 + i, 3}, .token_type_ids = {0, 0, 0}, .label = i};
  auto labels_of = [](const train::Batch& b) { return b.at("labels").to_ids(); };
  ShuffledTextBatches a(ex, {.batch_size = 4, .seed = 11});
  EXPECT_EQ(a.batches_per_epoch(), 3);
  // Each epoch visits every example once, in a new order, ending with a short batch.
  std::vector<std::vector<int64_t>> epochs(2);
  for (int e = 0; e < 2; ++e)
    for (int k = 0; k < 3; ++k) {
      const auto y = labels_of(a.next_batch());
      EXPECT_EQ(y.size(), k < 2 ? 4u : 2u);
      epochs[size_t(e)].insert(epochs[size_t(e)].end(), y.begin(), y.end());
    }
  for (auto e : epochs) {
    std::sort(e.begin(), e.end());
    EXPECT_EQ(e, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(a.epoch_order(0), ShuffledTextBatches(ex, {.batch_size = 4, .seed = 12}).epoch_order(0));
  // restore(state()) continues exactly.
  const nlohmann::json s = a.state();
  std::vector<std::vector<int64_t>> next;
  for (int k = 0; k < 4; ++k) next.push_back(labels_of(a.next_batch()));
  ShuffledTextBatches b(ex, {.batch_size = 4, .seed = 11});
  b.restore(s);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(labels_of(b.next_batch()), next[size_t(k)]);
  // A state from other data is refused.
  std::vector<TextExample> fewer(ex.begin(), ex.begin() + 5);
  ShuffledTextBatches c(fewer, {.batch_size = 4, .seed = 11});
  HEED_EXPECT_ERROR(c.restore(s), "10 examples", "now has 5");
}

TEST(TextData, BadDataNamesFileLineAndColumn) {
  ScratchDir d("td_bad");
  const auto tok = tiny_tokenizer(d);
  HEED_EXPECT_ERROR(read_text_table(d.write("empty.csv", ""), {}, true), "empty.csv");
  HEED_EXPECT_ERROR(read_text_table(d.write("cols.csv", "sentence,label\ngood,pos\n"), {}, true),
                    "cols.csv", "'text'");
  HEED_EXPECT_ERROR(read_text_table(d.write("blank.csv", "text,label\ngood,pos\n ,neg\n"), {}, true),
                    "blank.csv:3", "empty text", "'text'");
  HEED_EXPECT_ERROR(
      read_text_table(d.write("utf8.csv", "text,label\ngood,pos\nbad \xff\xfe movie,neg\n"), {}, true),
      "utf8.csv:3", "UTF-8");
  HEED_EXPECT_ERROR(read_text_table(d.write("nolabel.jsonl", "{\"text\": \"good\"}\n"), {}, true),
                    "nolabel.jsonl:1", "label");
  // A label the model does not know.
  train::Table t = read_text_table(d.write("dev.csv", "text,label\ngood,pos\nfine,meh\n"), {}, true);
  HEED_EXPECT_ERROR(encode_examples(t, tok, {.label2id = {{"neg", 0}, {"pos", 1}}}), "dev.csv:3",
                    "\"meh\"", "neg, pos");
}

TEST(TextData, SkipModeCountsEveryDroppedRow) {
  ScratchDir d("td_skip");
  const auto tok = tiny_tokenizer(d);
  d.write("dev.csv",
          "text,label\n"
          "good,pos\n"
          " ,neg\n"
          "bad \xff movie,neg\n"
          "fine,meh\n"
          "ok,\n"
          "awful,neg\n");
  const TextColumns cols{.bad_rows = train::BadRows::Skip};
  train::Table t = read_text_table(d.file("dev.csv"), cols, true);
  const auto ex = encode_examples(
      t, tok, {.label2id = {{"neg", 0}, {"pos", 1}}, .bad_rows = train::BadRows::Skip});
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[1].line, 7);
  EXPECT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.num_skipped(), 4);
  EXPECT_EQ(t.skipped.at(kSkipUnknownLabel).count, 1);
  EXPECT_EQ(t.skipped.at(kSkipUnknownLabel).first_line, 5);
  EXPECT_EQ(t.skipped.at(train::kSkipEmptyText).count, 1);
  EXPECT_EQ(t.skipped.at(train::kSkipBadUtf8).count, 1);
  EXPECT_EQ(t.skipped.at(train::kSkipEmptyLabel).count, 1);
  EXPECT_NE(t.summary().find("1 unknown label, first at line 5"), std::string::npos) << t.summary();
  // Nothing usable left is still an error.
  d.write("none.csv", "text,label\nfine,meh\n");
  train::Table n = read_text_table(d.file("none.csv"), cols, true);
  HEED_EXPECT_ERROR(
      encode_examples(n, tok, {.label2id = {{"neg", 0}, {"pos", 1}}, .bad_rows = train::BadRows::Skip}),
      "none.csv", "no usable rows");
}

TEST(TextData, EvaluateRefusesModelsWithoutAHead) {
  ScratchDir d("td_nohead");
  testing::write_tiny_bert(d.file("bert"));  // a masked-LM checkpoint: no classifier
  HEED_EXPECT_ERROR(TextClassifier::load(d.file("bert")), "classifier.weight", "heed finetune");
}

}  // namespace
}  // namespace heed::tasks
