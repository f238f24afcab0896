// Labelled text tables for sequence classification and regression: read a CSV / TSV /
// JSONL table (heed/train/table_reader.h), map its labels to class ids or parse them as
// numbers, and tokenize each row ([CLS] text [SEP] (pair [SEP]), truncated to
// max_seq_length) into a TextExample. Bad rows are errors naming the file, the line and
// the column, or (skip mode) are skipped and counted in Table::skipped.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/train/table_reader.h"

namespace heed::tasks {

enum class TextTask { Classify, Regress };
TextTask parse_text_task(std::string_view name);  // "classify" | "regress"
const char* text_task_name(TextTask task);

// Which columns hold what, and what to do with bad rows.
struct TextColumns {
  std::string text_col = "text";
  std::string text_pair_col{};  // "" = single-text task
  std::string label_col = "label";
  train::TableFormat format = train::TableFormat::Auto;
  train::BadRows bad_rows = train::BadRows::Error;
};

// Skip reasons added to Table::skipped by encode_examples.
inline constexpr const char* kSkipUnknownLabel = "unknown label";
inline constexpr const char* kSkipNonNumericLabel = "non-numeric label";

// One tokenized row: input ids with special tokens, at most max_seq_length of them.
struct TextExample {
  std::vector<int32_t> input_ids, token_type_ids;
  int64_t label = -1;  // class id (classify); -1 when unlabelled
  float value = 0.0f;  // target (regress)
  int64_t line = 0;    // where the row starts in its file (1-based)
};

// Reads the table; with labelled = false the label column is not read (prediction input).
train::Table read_text_table(const std::string& path, const TextColumns& columns, bool labelled);
// Same over text in memory (e.g. stdin); `name` stands for the file in messages.
train::Table parse_text_table(const std::string& text, const std::string& name,
                              const TextColumns& columns, bool labelled);

// The distinct labels of the table's rows, sorted (byte order, as Python's sorted()).
std::vector<std::string> sorted_labels(const train::Table& table);

struct EncodeConfig {
  TextTask task = TextTask::Classify;
  int64_t max_seq_length = 128;
  bool labelled = true;
  // Classify: label name -> class id. A label not in it is an error naming the file, the
  // line, the label and the known labels, or is skipped and counted (skip mode).
  std::map<std::string, int64_t> label2id{};
  std::string label_col = "label";  // for messages
  train::BadRows bad_rows = train::BadRows::Error;
};

// Tokenizes every row (on all heed threads). Rows dropped for their label are removed
// from table.rows and counted in table.skipped, so rows and examples stay parallel;
// errors if no row is left.
std::vector<TextExample> encode_examples(train::Table& table,
                                         const tokenizers::BertTokenizer& tokenizer,
                                         const EncodeConfig& cfg);

}  // namespace heed::tasks
