#include "heed/tasks/text_data.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "heed/base/error.h"

namespace heed::tasks {

TextTask parse_text_task(std::string_view name) {
  if (name == "classify") return TextTask::Classify;
  if (name == "regress") return TextTask::Regress;
  HEED_FAIL("unknown task \"{}\" (expected classify or regress)", name);
}

const char* text_task_name(TextTask task) {
  return task == TextTask::Classify ? "classify" : "regress";
}

namespace {

train::TableReaderConfig reader_config(const TextColumns& c, bool labelled) {
  HEED_CHECK(!c.text_col.empty(), "no text column named");
  HEED_CHECK(!labelled || !c.label_col.empty(), "no label column named");
  return {.text_col = c.text_col,
          .text_pair_col = c.text_pair_col,
          .label_col = labelled ? c.label_col : "",
          .format = c.format,
          .bad_rows = c.bad_rows};
}

// Python's float() on a stripped string: finite decimal or scientific numbers only.
bool parse_number(std::string_view s, float& out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return false;
  out = float(v);
  return std::isfinite(out);
}

void count_skip(train::Table& t, const char* reason, int64_t line, const std::string& msg) {
  train::SkipCount& s = t.skipped[reason];
  if (s.count++ == 0) {
    s.first_line = line;
    s.first_message = msg;
  }
}

}  // namespace

train::Table read_text_table(const std::string& path, const TextColumns& columns, bool labelled) {
  return train::read_table(path, reader_config(columns, labelled));
}

train::Table parse_text_table(const std::string& text, const std::string& name,
                              const TextColumns& columns, bool labelled) {
  return train::parse_table(text, name, reader_config(columns, labelled));
}

std::vector<std::string> sorted_labels(const train::Table& table) {
  std::set<std::string> s;
  for (const auto& r : table.rows) s.insert(r.label);
  return {s.begin(), s.end()};
}

std::vector<TextExample> encode_examples(train::Table& table,
                                         const tokenizers::BertTokenizer& tokenizer,
                                         const EncodeConfig& cfg) {
  HEED_CHECK(cfg.max_seq_length >= 3, "max_seq_length must be at least 3 ([CLS] x [SEP]), got {}",
             cfg.max_seq_length);
  HEED_CHECK(cfg.task == TextTask::Regress || !cfg.labelled || !cfg.label2id.empty(),
             "{}: no label set to map the labels to", table.path);
  // Labels first, so that dropped rows are never tokenized.
  std::vector<int64_t> ids;
  std::vector<float> values;
  if (cfg.labelled) {
    std::vector<train::TableRow> kept;
    kept.reserve(table.rows.size());
    for (auto& row : table.rows) {
      std::string problem;
      const char* reason = nullptr;
      if (cfg.task == TextTask::Classify) {
        const auto it = cfg.label2id.find(row.label);
        if (it != cfg.label2id.end()) {
          ids.push_back(it->second);
        } else {
          std::vector<std::string> known;
          for (const auto& [name, id] : cfg.label2id) known.push_back(name);
          reason = kSkipUnknownLabel;
          problem = fmt::format("label \"{}\" in column '{}' is not one of the model's labels ({})",
                                row.label, cfg.label_col, fmt::join(known, ", "));
        }
      } else {
        float v = 0.0f;
        if (parse_number(row.label, v)) {
          values.push_back(v);
        } else {
          reason = kSkipNonNumericLabel;
          problem = fmt::format("label \"{}\" in column '{}' is not a number (regression)",
                                row.label, cfg.label_col);
        }
      }
      if (reason == nullptr) {
        kept.push_back(std::move(row));
        continue;
      }
      const std::string msg = fmt::format("{}:{}: {}: {}", table.path, row.line, reason, problem);
      if (cfg.bad_rows == train::BadRows::Error)
        HEED_FAIL("{} (pass skip mode to skip such rows and count them)", msg);
      count_skip(table, reason, row.line, msg);
    }
    table.rows = std::move(kept);
  }
  HEED_CHECK(!table.rows.empty(), "{}: no usable rows ({})", table.path, table.summary());

  std::vector<std::string_view> texts, pairs;
  texts.reserve(table.rows.size());
  const bool paired = std::any_of(table.rows.begin(), table.rows.end(),
                                  [](const train::TableRow& r) { return !r.text_pair.empty(); });
  for (const auto& r : table.rows) {
    texts.push_back(r.text);
    if (paired) pairs.push_back(r.text_pair);
  }
  const std::vector<tokenizers::Encoding> enc = tokenizer.encode_batch(
      texts, pairs,
      {.truncation = tokenizers::Truncation::kLongestFirst,
       .max_length = int32_t(cfg.max_seq_length)});
  std::vector<TextExample> out(enc.size());
  for (size_t i = 0; i < enc.size(); ++i) {
    out[i].input_ids = enc[i].input_ids;
    out[i].token_type_ids = enc[i].token_type_ids;
    out[i].line = table.rows[i].line;
    if (cfg.labelled) {
      if (cfg.task == TextTask::Classify)
        out[i].label = ids[i];
      else
        out[i].value = values[i];
    }
  }
  return out;
}

}  // namespace heed::tasks
