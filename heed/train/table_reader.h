// Reads labelled text tables for fine-tuning: CSV (RFC 4180), TSV (GLUE style: tab
// separated, no quoting) and JSONL (one object per line), selecting columns by name.
// Bad data is never dropped silently: by default it is a heed::Error naming the file,
// the line and the column; in skip mode the row is skipped and counted per reason.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace heed::train {

enum class TableFormat { Auto, Csv, Tsv, Jsonl };  // Auto: by extension (.csv .tsv .jsonl/.json)
enum class BadRows { Error, Skip };

struct TableReaderConfig {
  std::string text_col{};       // required
  std::string text_pair_col{};  // optional second segment ("" = none)
  std::string label_col{};      // optional ("" = unlabelled, e.g. prediction input)
  TableFormat format = TableFormat::Auto;
  BadRows bad_rows = BadRows::Error;
  bool allow_empty_pair = false;  // an empty text_pair is accepted (text must not be empty)
};

struct TableRow {
  std::string text{}, text_pair{}, label{};  // JSON numbers/bools in a label become their JSON text
  int64_t line = 0;                    // 1-based physical line where the record starts
};

struct SkipCount {
  int64_t count = 0;
  int64_t first_line = 0;
  std::string first_message;  // the full message of the first occurrence
};

struct Table {
  std::string path;
  std::vector<TableRow> rows;
  std::map<std::string, SkipCount> skipped;  // reason -> count (skip mode; blank lines always)
  int64_t num_skipped() const;
  // "data/x.csv: kept 98 rows, skipped 3 (2 ragged row, first at line 5; 1 ...)".
  std::string summary() const;
};

// Skip reasons (keys of Table::skipped).
inline constexpr const char* kSkipRagged = "ragged row";
inline constexpr const char* kSkipEmptyText = "empty text";
inline constexpr const char* kSkipEmptyLabel = "empty label";
inline constexpr const char* kSkipBadUtf8 = "invalid UTF-8";
inline constexpr const char* kSkipBadJson = "malformed JSON";
inline constexpr const char* kSkipMissingField = "missing field";
inline constexpr const char* kSkipBadQuote = "malformed quoting";
inline constexpr const char* kSkipBlankLine = "blank line";

// Errors that no skip mode can fix: unreadable or empty file, a requested column absent
// from the CSV/TSV header, no usable rows at all.
Table read_table(const std::string& path, const TableReaderConfig& cfg);
// Same over text in memory; `path` names it in messages and picks the Auto format.
Table parse_table(const std::string& text, const std::string& path, const TableReaderConfig& cfg);

TableFormat parse_table_format(const std::string& name);  // "auto" | "csv" | "tsv" | "jsonl"

// Length of the valid UTF-8 prefix of s (== s.size() when valid). Rejects overlong forms,
// surrogates and code points above U+10FFFF, as Python's strict decoder.
size_t valid_utf8_prefix(const std::string& s);

}  // namespace heed::train
