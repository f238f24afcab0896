// CSV / TSV / JSONL readers: quoting, column selection, and every kind of bad input,
// each error naming the file and the line (and the column where one is at fault).
#include <gtest/gtest.h>

#include "heed/base/error.h"
#include "heed/train/table_reader.h"
#include "train_test_util.h"

namespace heed::train {
namespace {

const TableReaderConfig kCfg{.text_col = "text", .label_col = "label"};

TableReaderConfig skip_cfg() {
  TableReaderConfig c = kCfg;
  c.bad_rows = BadRows::Skip;
  return c;
}

TEST(TableReader, CsvQuoting) {
  const std::string csv =
      "id,text,label\n"
      "1,\"hello, world\",pos\n"
      "2,\"she said \"\"hi\"\"\",neg\n"
      "3,\"multi\nline\",pos\n"
      "4,plain 5\" screen,neg\n";
  const Table t = parse_table(csv, "mem.csv", kCfg);
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0].text, "hello, world");
  EXPECT_EQ(t.rows[1].text, "she said \"hi\"");
  EXPECT_EQ(t.rows[2].text, "multi\nline");
  EXPECT_EQ(t.rows[2].line, 4);
  EXPECT_EQ(t.rows[3].text, "plain 5\" screen");  // a quote inside an unquoted field is data
  EXPECT_EQ(t.rows[3].line, 6);
  EXPECT_EQ(t.rows[3].label, "neg");
  EXPECT_EQ(t.num_skipped(), 0);
}

TEST(TableReader, CsvCrlfBomAndPair) {
  const std::string csv = "\xEF\xBB\xBFsentence1,sentence2,label\r\na,b,1\r\n\"c\r\nd\",e,0\r\n";
  const Table t = parse_table(
      csv, "p.csv", {.text_col = "sentence1", .text_pair_col = "sentence2", .label_col = "label"});
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].text, "a");
  EXPECT_EQ(t.rows[0].text_pair, "b");
  EXPECT_EQ(t.rows[0].label, "1");
  EXPECT_EQ(t.rows[1].text, "c\r\nd");
  EXPECT_EQ(t.rows[1].label, "0");
}

TEST(TableReader, TsvHasNoQuoting) {
  const Table t = parse_table("sentence\tlabel\nthe \"best\" film\t1\n", "sst.tsv",
                              {.text_col = "sentence", .label_col = "label"});
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].text, "the \"best\" film");
}

TEST(TableReader, Jsonl) {
  const Table t = parse_table(
      "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \"x\", \"other\": [1]}\n"
      "{\"text\": \"c\", \"label\": 2.5}\n",
      "d.jsonl", kCfg);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].label, "1");
  EXPECT_EQ(t.rows[1].label, "x");
  EXPECT_EQ(t.rows[2].label, "2.5");
  EXPECT_EQ(t.rows[2].line, 3);
}

TEST(TableReader, ErrorsNameFileLineAndColumn) {
  HEED_EXPECT_ERROR(parse_table("", "empty.csv", kCfg), "empty.csv", "empty");
  HEED_EXPECT_ERROR(parse_table("\n\n", "blank.csv", kCfg), "blank.csv", "empty");
  HEED_EXPECT_ERROR(parse_table("sentence,label\nx,1\n", "m.csv", kCfg),
                    "m.csv:1:", "no column 'text'", "--text-col", "sentence, label");
  HEED_EXPECT_ERROR(parse_table("text,label\na,1\nb,2,3\n", "r.csv", kCfg), "r.csv:3:", "ragged",
                    "3 fields", "header has 2");
  HEED_EXPECT_ERROR(parse_table("text,label\na,1\nb\n", "r2.csv", kCfg), "r2.csv:3:", "ragged");
  HEED_EXPECT_ERROR(parse_table("text,label\na,1\n ,1\n", "e.csv", kCfg), "e.csv:3:", "empty text",
                    "column 'text'");
  HEED_EXPECT_ERROR(parse_table("text,label\na,\n", "l.csv", kCfg), "l.csv:2:", "empty label",
                    "column 'label'");
  HEED_EXPECT_ERROR(parse_table("text,label\na,1\nb\xff\xfe,1\n", "u.csv", kCfg),
                    "u.csv:3:", "invalid UTF-8", "column 'text'");
  HEED_EXPECT_ERROR(parse_table("text,label\na,1\n\"never closed,1\nb,2\n", "q.csv", kCfg),
                    "q.csv:3:", "never closed");
  HEED_EXPECT_ERROR(parse_table("text,label\n\"a\"x,1\n", "q2.csv", kCfg),
                    "q2.csv:2:", "closing quote");
  HEED_EXPECT_ERROR(
      parse_table("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \n", "j.jsonl", kCfg),
      "j.jsonl:2:", "malformed JSON");
  HEED_EXPECT_ERROR(parse_table("{\"text\": \"a\"}\n", "k.jsonl", kCfg),
                    "k.jsonl:1:", "missing field", "'label'");
  HEED_EXPECT_ERROR(parse_table("[1, 2]\n", "o.jsonl", kCfg), "o.jsonl:1:", "not a JSON object");
  HEED_EXPECT_ERROR(parse_table("{\"text\": \"\xc3\x28\", \"label\": 1}\n", "v.jsonl", kCfg),
                    "v.jsonl:1:", "invalid UTF-8");
  HEED_EXPECT_ERROR(parse_table("text,label\n", "h.csv", kCfg), "h.csv", "no usable rows");
  HEED_EXPECT_ERROR(parse_table("a\n", "x.txt", kCfg), "x.txt", "extension");
}

TEST(TableReader, MissingFileNamesPath) {
  HEED_EXPECT_ERROR(read_table("/nonexistent/dir/train.csv", kCfg), "/nonexistent/dir/train.csv");
}

TEST(TableReader, ReadsFromDisk) {
  testing::ScratchDir dir("table");
  const std::string p = dir.write("t.tsv", "text\tlabel\nhi\t1\n");
  const Table t = read_table(p, kCfg);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.path, p);
  HEED_EXPECT_ERROR(read_table(dir.write("bad.tsv", "text\tlabel\nhi\t1\t2\n"), kCfg),
                    "bad.tsv:2:");
}

// Skip mode: every bad row is counted under its reason; nothing vanishes silently.
TEST(TableReader, SkipModeCountsEveryReason) {
  const std::string csv =
      "text,label\n"
      "good one,1\n"      // 2
      "ragged,1,extra\n"  // 3
      ",1\n"              // 4 empty text
      "\n"                // 5 blank line
      "bad \xc0\xaf,0\n"  // 6 overlong UTF-8
      "no label,\n"       // 7
      "\"a\"b,1\n"        // 8 malformed quoting
      "good two,0\n";     // 9
  const Table t = parse_table(csv, "s.csv", skip_cfg());
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[1].line, 9);
  EXPECT_EQ(t.num_skipped(), 6);
  EXPECT_EQ(t.skipped.at(kSkipRagged).count, 1);
  EXPECT_EQ(t.skipped.at(kSkipRagged).first_line, 3);
  EXPECT_EQ(t.skipped.at(kSkipEmptyText).first_line, 4);
  EXPECT_EQ(t.skipped.at(kSkipBlankLine).first_line, 5);
  EXPECT_EQ(t.skipped.at(kSkipBadUtf8).first_line, 6);
  EXPECT_EQ(t.skipped.at(kSkipEmptyLabel).first_line, 7);
  EXPECT_EQ(t.skipped.at(kSkipBadQuote).first_line, 8);
  EXPECT_NE(t.skipped.at(kSkipBadUtf8).first_message.find("s.csv:6:"), std::string::npos);
  const std::string s = t.summary();
  for (const char* want :
       {"s.csv", "kept 2", "skipped 6", "ragged row", "first at line 3", "invalid UTF-8"})
    EXPECT_NE(s.find(want), std::string::npos) << s << " lacks " << want;

  const Table j = parse_table("{\"text\": \"a\", \"label\": 1}\nnot json\n{\"label\": 1}\n",
                              "s.jsonl", skip_cfg());
  EXPECT_EQ(j.rows.size(), 1u);
  EXPECT_EQ(j.skipped.at(kSkipBadJson).first_line, 2);
  EXPECT_EQ(j.skipped.at(kSkipMissingField).first_line, 3);
  // A missing header column is not a row problem: still an error in skip mode.
  HEED_EXPECT_ERROR(parse_table("txt,label\na,1\n", "s2.csv", skip_cfg()),
                    "s2.csv:1:", "no column 'text'");
  // All rows bad: an error that carries the summary.
  HEED_EXPECT_ERROR(parse_table("text,label\n,1\n", "s3.csv", skip_cfg()), "s3.csv",
                    "no usable rows", "empty text");
}

TEST(TableReader, Utf8Validator) {
  EXPECT_EQ(valid_utf8_prefix("abc"), 3u);
  EXPECT_EQ(valid_utf8_prefix("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), 15u);
  EXPECT_EQ(valid_utf8_prefix("a\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(valid_utf8_prefix("ab\xe0\x80\xaf"), 2u);    // overlong
  EXPECT_EQ(valid_utf8_prefix("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
  EXPECT_EQ(valid_utf8_prefix("ok\xe2\x82"), 2u);        // truncated
}

}  // namespace
}  // namespace heed::train
