// The table options shared by `heed finetune`, `heed eval` and `heed predict`: which
// columns hold the text, the optional second text and the label, the file format, and
// what to do with bad rows.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "heed/tasks/text_data.h"

namespace heed::cli {

struct TextTableFlags {
  std::string format = "auto";
  std::string bad_rows = "error";
};

// labelled: a label column is read and bad rows may be skipped (prediction input must
// keep one output per row, so there every bad row is an error).
inline void add_text_table_options(CLI::App* sub, tasks::TextColumns& c, TextTableFlags& f,
                                   bool labelled) {
  sub->add_option("--text-col", c.text_col, "Column (CSV/TSV header or JSONL key) of the text")
      ->capture_default_str();
  sub->add_option("--text-pair-col", c.text_pair_col,
                  "Column of the second text, for sentence-pair tasks (NLI, paraphrase, ...)");
  if (labelled)
    sub->add_option("--label-col", c.label_col, "Column of the label (a class name, or a number "
                                                "for regression)")
        ->capture_default_str();
  sub->add_option("--format", f.format,
                  "Table format; auto: by extension (.csv, .tsv, .jsonl/.json)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "csv", "tsv", "jsonl"}));
  if (!labelled) return;
  sub->add_option("--bad-rows", f.bad_rows,
                  "error: stop at the first bad row, naming file, line and column; skip: skip "
                  "bad rows (empty text, invalid UTF-8, unknown label, ...) and report counts "
                  "on stderr")
      ->capture_default_str()
      ->check(CLI::IsMember({"error", "skip"}));
}

inline void apply_text_table_flags(tasks::TextColumns& c, const TextTableFlags& f) {
  c.format = train::parse_table_format(f.format);
  c.bad_rows = f.bad_rows == "skip" ? train::BadRows::Skip : train::BadRows::Error;
}

}  // namespace heed::cli
