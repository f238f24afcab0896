#include "heed/train/table_reader.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "heed/base/error.h"
#include "heed/base/fs.h"

namespace heed::train {

size_t valid_utf8_prefix(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;  // continuation byte, overlong lead (C0/C1) or F5..FF
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return n;
}

TableFormat parse_table_format(const std::string& name) {
  if (name == "auto") return TableFormat::Auto;
  if (name == "csv") return TableFormat::Csv;
  if (name == "tsv") return TableFormat::Tsv;
  if (name == "jsonl") return TableFormat::Jsonl;
  HEED_FAIL("unknown table format \"{}\" (expected auto, csv, tsv or jsonl)", name);
}

int64_t Table::num_skipped() const {
  int64_t n = 0;
  for (const auto& [reason, s] : skipped) n += s.count;
  return n;
}

std::string Table::summary() const {
  std::string out = fmt::format("{}: kept {} rows", path, rows.size());
  if (skipped.empty()) return out;
  out += fmt::format(", skipped {} (", num_skipped());
  bool first = true;
  for (const auto& [reason, s] : skipped) {
    out +=
        fmt::format("{}{} {}, first at line {}", first ? "" : "; ", s.count, reason, s.first_line);
    first = false;
  }
  return out + ")";
}

namespace {

TableFormat format_from_path(const std::string& path) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    if (path.size() < e.size()) return false;
    std::string tail = path.substr(path.size() - e.size());
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return tail == e;
  };
  if (ends(".csv")) return TableFormat::Csv;
  if (ends(".tsv")) return TableFormat::Tsv;
  if (ends(".jsonl") || ends(".json") || ends(".ndjson")) return TableFormat::Jsonl;
  HEED_FAIL(
      "{}: cannot tell the table format from the extension (expected .csv, .tsv or .jsonl); "
      "pass the format explicitly",
      path);
}

// One record of a delimited file. `error` is set for malformed quoting.
struct RawRecord {
  std::vector<std::string> fields;
  int64_t line = 0;
  bool blank = false;
  std::string error;
};

// Splits the record starting at `pos` (RFC 4180 when `quoting`: a field that starts with
// '"' runs to the matching '"', "" is a literal quote, and commas and newlines inside are
// data; a quote inside an unquoted field is literal, as Python's csv). Advances pos past
// the record's line end and `line` by the physical lines consumed.
void next_record(const std::string& s, size_t& pos, int64_t& line, char sep, bool quoting,
                 RawRecord& rec) {
  rec = RawRecord{};
  rec.line = line;
  const size_t n = s.size();
  auto at_line_end = [&](size_t i) {
    return i >= n || s[i] == '\n' || (s[i] == '\r' && (i + 1 >= n || s[i + 1] == '\n'));
  };
  auto skip_line_end = [&](size_t& i) {
    if (i < n && s[i] == '\r') ++i;
    if (i < n && s[i] == '\n') ++i;
    ++line;
  };
  if (at_line_end(pos)) {
    rec.blank = true;
    skip_line_end(pos);
    return;
  }
  size_t i = pos;
  while (true) {
    std::string field;
    if (quoting && i < n && s[i] == '"') {
      const int64_t quote_line = line;
      ++i;
      bool closed = false;
      while (i < n) {
        if (s[i] == '"') {
          if (i + 1 < n && s[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        if (s[i] == '\n') ++line;
        field.push_back(s[i++]);
      }
      if (!closed || !(at_line_end(i) || s[i] == sep)) {
        rec.error = closed ? fmt::format("field {}: unexpected character after a closing quote",
                                         rec.fields.size() + 1)
                           : fmt::format("field {}: quoted field opened at line {} is never closed",
                                         rec.fields.size() + 1, quote_line);
        // Recover at the end of the record's first physical line.
        line = rec.line;
        i = pos;
        while (i < n && s[i] != '\n') ++i;
        skip_line_end(i);
        pos = i;
        return;
      }
    } else {
      while (!at_line_end(i) && s[i] != sep) field.push_back(s[i++]);
    }
    rec.fields.push_back(std::move(field));
    if (at_line_end(i)) break;
    ++i;  // separator
  }
  skip_line_end(i);
  pos = i;
}

class Collector {
 public:
  Collector(Table& t, const TableReaderConfig& cfg) : t_(t), cfg_(cfg) {}

  // Records a bad row: throws in Error mode, counts it in Skip mode.
  void bad(const char* reason, int64_t line, const std::string& detail) {
    const std::string msg = fmt::format("{}:{}: {}: {}", t_.path, line, reason, detail);
    if (cfg_.bad_rows == BadRows::Error)
      HEED_FAIL("{} (pass skip mode to skip such rows and count them)", msg);
    count(reason, line, msg);
  }
  void count(const char* reason, int64_t line, const std::string& msg) {
    SkipCount& s = t_.skipped[reason];
    if (s.count++ == 0) {
      s.first_line = line;
      s.first_message = msg;
    }
  }
  // Validates and appends a row built from the selected values.
  void add(TableRow row) {
    if (row.text.find_first_not_of(" \t\r\n") == std::string::npos)
      return bad(kSkipEmptyText, row.line, fmt::format("column '{}' is empty", cfg_.text_col));
    if (!cfg_.text_pair_col.empty() && !cfg_.allow_empty_pair &&
        row.text_pair.find_first_not_of(" \t\r\n") == std::string::npos)
      return bad(kSkipEmptyText, row.line, fmt::format("column '{}' is empty", cfg_.text_pair_col));
    if (!cfg_.label_col.empty() && row.label.find_first_not_of(" \t\r\n") == std::string::npos)
      return bad(kSkipEmptyLabel, row.line, fmt::format("column '{}' is empty", cfg_.label_col));
    t_.rows.push_back(std::move(row));
  }

 private:
  Table& t_;
  const TableReaderConfig& cfg_;
};

void parse_delimited(const std::string& text, const TableReaderConfig& cfg, char sep, bool quoting,
                     Table& t) {
  Collector col(t, cfg);
  size_t pos = 0;
  int64_t line = 1;
  RawRecord rec;
  // Header: the first non-blank record.
  do {
    HEED_CHECK(pos < text.size(), "{}: the file is empty (no header line)", t.path);
    next_record(text, pos, line, sep, quoting, rec);
  } while (rec.blank);
  HEED_CHECK(rec.error.empty(), "{}:{}: header: {}", t.path, rec.line, rec.error);
  const std::vector<std::string> header = rec.fields;
  for (size_t c = 0; c < header.size(); ++c) {
    const size_t ok = valid_utf8_prefix(header[c]);
    HEED_CHECK(ok == header[c].size(), "{}:{}: header column {}: invalid UTF-8 at byte {}", t.path,
               rec.line, c + 1, ok);
  }
  auto column = [&](const std::string& name, const char* flag) -> int64_t {
    if (name.empty()) return -1;
    const auto it = std::find(header.begin(), header.end(), name);
    HEED_CHECK(it != header.end(), "{}:{}: no column '{}' (for {}) in the header; columns are: {}",
               t.path, rec.line, name, flag, fmt::join(header, ", "));
    return it - header.begin();
  };
  const int64_t ci_text = column(cfg.text_col, "--text-col");
  const int64_t ci_pair = column(cfg.text_pair_col, "--text-pair-col");
  const int64_t ci_label = column(cfg.label_col, "--label-col");
  while (pos < text.size()) {
    next_record(text, pos, line, sep, quoting, rec);
    if (rec.blank) {
      col.count(kSkipBlankLine, rec.line, fmt::format("{}:{}: blank line", t.path, rec.line));
      continue;
    }
    if (!rec.error.empty()) {
      col.bad(kSkipBadQuote, rec.line, rec.error);
      continue;
    }
    if (rec.fields.size() != header.size()) {
      col.bad(kSkipRagged, rec.line,
              fmt::format("{} fields but the header has {}{}", rec.fields.size(), header.size(),
                          sep == '\t' ? " (TSV fields may not contain tabs)" : ""));
      continue;
    }
    bool utf8_ok = true;
    for (size_t c = 0; c < rec.fields.size() && utf8_ok; ++c) {
      const size_t ok = valid_utf8_prefix(rec.fields[c]);
      if (ok != rec.fields[c].size()) {
        col.bad(kSkipBadUtf8, rec.line,
                fmt::format("column '{}' (field {}): invalid byte 0x{:02X} at offset {}", header[c],
                            c + 1, uint8_t(rec.fields[c][ok]), ok));
        utf8_ok = false;
      }
    }
    if (!utf8_ok) continue;
    TableRow row;
    row.line = rec.line;
    row.text = std::move(rec.fields[size_t(ci_text)]);
    if (ci_pair >= 0) row.text_pair = std::move(rec.fields[size_t(ci_pair)]);
    if (ci_label >= 0) row.label = std::move(rec.fields[size_t(ci_label)]);
    col.add(std::move(row));
  }
}

void parse_jsonl(const std::string& text, const TableReaderConfig& cfg, Table& t) {
  Collector col(t, cfg);
  size_t pos = 0;
  int64_t line = 0;
  bool any = false;
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string s = text.substr(pos, end - pos);
    pos = end + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    if (s.find_first_not_of(" \t") == std::string::npos) {
      col.count(kSkipBlankLine, line, fmt::format("{}:{}: blank line", t.path, line));
      continue;
    }
    any = true;
    const size_t ok = valid_utf8_prefix(s);
    if (ok != s.size()) {
      col.bad(kSkipBadUtf8, line,
              fmt::format("invalid byte 0x{:02X} at offset {}", uint8_t(s[ok]), ok));
      continue;
    }
    nlohmann::json obj = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded() || !obj.is_object()) {
      col.bad(kSkipBadJson, line, obj.is_discarded() ? "not valid JSON" : "not a JSON object");
      continue;
    }
    TableRow row;
    row.line = line;
    bool missing = false;
    auto get = [&](const std::string& key, std::string& out) {
      if (key.empty() || missing) return;
      const auto it = obj.find(key);
      if (it == obj.end() || it->is_null()) {
        col.bad(kSkipMissingField, line, fmt::format("field '{}' is missing or null", key));
        missing = true;
      } else {
        out = it->is_string() ? it->get<std::string>() : it->dump();
      }
    };
    get(cfg.text_col, row.text);
    get(cfg.text_pair_col, row.text_pair);
    get(cfg.label_col, row.label);
    if (!missing) col.add(std::move(row));
  }
  HEED_CHECK(any, "{}: the file is empty (no JSON lines)", t.path);
}

}  // namespace

Table parse_table(const std::string& text_in, const std::string& path,
                  const TableReaderConfig& cfg) {
  HEED_CHECK(!cfg.text_col.empty(), "{}: no text column given (--text-col)", path);
  Table t;
  t.path = path;
  // A UTF-8 byte-order mark is not part of the first column's name.
  const bool bom = text_in.size() >= 3 && text_in.compare(0, 3, "\xEF\xBB\xBF") == 0;
  const std::string text = bom ? text_in.substr(3) : text_in;
  HEED_CHECK(!text.empty(), "{}: the file is empty", path);
  const TableFormat f = cfg.format == TableFormat::Auto ? format_from_path(path) : cfg.format;
  if (f == TableFormat::Jsonl)
    parse_jsonl(text, cfg, t);
  else
    parse_delimited(text, cfg, f == TableFormat::Csv ? ',' : '\t', f == TableFormat::Csv, t);
  HEED_CHECK(!t.rows.empty(), "{}: no usable rows{}", path,
             t.skipped.empty() ? std::string() : " (" + t.summary() + ")");
  return t;
}

Table read_table(const std::string& path, const TableReaderConfig& cfg) {
  return parse_table(read_file(path), path, cfg);
}

}  // namespace heed::train
