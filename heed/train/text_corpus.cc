#include "heed/train/text_corpus.h"

#include "heed/base/text_reader.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "heed/base/error.h"
#include "heed/base/parallel.h"
#include "heed/base/progress.h"

namespace heed::train {

void TextCorpus::add_line(std::vector<int32_t> ids) {
  if (ids.empty()) return;
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  line_begin_.push_back(int64_t(tokens_.size()));
  open_ = true;
}

void TextCorpus::end_document() {
  if (!open_) return;
  doc_begin_.push_back(int64_t(line_begin_.size()) - 1);
  open_ = false;
}

namespace {

std::string_view strip(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool is_upper_ascii(char c) { return c >= 'A' && c <= 'Z'; }
bool at(std::string_view s, size_t pos, std::string_view what) {
  return pos <= s.size() && s.substr(pos).starts_with(what);
}

}  // namespace

std::vector<std::string_view> split_sentences(std::string_view line) {
  static constexpr std::string_view kAbbrev[] = {
      "Mr", "Mrs", "Ms",  "Dr",  "St",   "Jr", "Sr",  "Prof", "vs", "etc",    "e.g", "i.e",
      "No", "Mt",  "Gen", "Col", "Capt", "Lt", "Rev", "Hon",  "cf", "approx", "Fig"};
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c != '.' && c != '!' && c != '?') continue;
    size_t end = i + 1;  // past closing quotes/brackets
    while (true) {
      if (end < line.size() &&
          (line[end] == '"' || line[end] == '\'' || line[end] == ')' || line[end] == ']'))
        ++end;
      else if (at(line, end, "\u201D") || at(line, end, "\u2019"))  // curly closing quotes
        end += 3;
      else
        break;
    }
    if (end >= line.size() || (line[end] != ' ' && line[end] != '\t')) continue;
    size_t next = end;
    while (next < line.size() && (line[next] == ' ' || line[next] == '\t')) ++next;
    if (next >= line.size()) continue;
    const char n = line[next];
    const bool opens = is_upper_ascii(n) || (n >= '0' && n <= '9') || n == '"' || n == '\'' ||
                       n == '(' || at(line, next, "\u201C") || at(line, next, "\u2018");
    if (!opens) continue;
    if (c == '.') {
      // The word before the period: an abbreviation or a single initial does not end a sentence.
      size_t w = i;
      while (w > start && line[w - 1] != ' ' && line[w - 1] != '\t' && line[w - 1] != '(' &&
             line[w - 1] != '"')
        --w;
      const std::string_view word = line.substr(w, i - w);
      if (word.size() == 1 && is_upper_ascii(word[0])) continue;
      bool abbrev = false;
      for (const auto a : kAbbrev) abbrev |= word == a;
      if (abbrev) continue;
    }
    out.push_back(line.substr(start, end - start));
    start = next;
    i = next - 1;
  }
  if (start < line.size()) out.push_back(line.substr(start));
  return out;
}

namespace {

// Lines of one document waiting to be tokenized, with their source line numbers.
struct PendingLine {
  std::string text;
  int64_t line = 0;
  int64_t doc = 0;  // global document index
};

}  // namespace

CorpusSplits load_text_corpus(const std::vector<std::string>& files, const TokenizeFn& tokenize,
                              const CorpusConfig& cfg) {
  HEED_CHECK(!files.empty(), "load_text_corpus: no input files");
  HEED_CHECK(cfg.validation_every >= 0, "load_text_corpus: validation_every must be >= 0, got {}",
             cfg.validation_every);
  int64_t total_bytes = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto sz = std::filesystem::file_size(f, ec);
    HEED_CHECK(!ec, "{}: cannot read: {}", f, ec.message());
    total_bytes += int64_t(sz);
  }
  ProgressBar bar("tokenize", total_bytes, cfg.progress);
  CorpusSplits out;
  int64_t doc = 0, bytes_done = 0;
  bool doc_has_lines = false;
  auto is_val = [&](int64_t d) {
    return cfg.validation_every > 0 && d % cfg.validation_every == cfg.validation_every - 1;
  };
  constexpr size_t kChunk = 4096;  // lines tokenized per parallel batch
  std::vector<PendingLine> pending;
  std::vector<std::vector<int32_t>> ids;

  std::string file;  // for messages
  auto flush = [&] {
    ids.assign(pending.size(), {});
    std::vector<std::string> errors(pending.size());
    // Exceptions must not leave an OpenMP region: keep each message, rethrow the first.
    auto work = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        try {
          ids[size_t(i)] = tokenize(pending[size_t(i)].text);
        } catch (const std::exception& ex) {
          errors[size_t(i)] = ex.what();
        }
      }
    };
    if (cfg.parallel_tokenize)
      parallel_for(int64_t(pending.size()), 1 << 14, work);
    else
      work(0, int64_t(pending.size()));
    for (size_t i = 0; i < pending.size(); ++i)
      HEED_CHECK(errors[i].empty(), "{}:{}: tokenizer failed: {}", file, pending[i].line,
                 errors[i]);
    int64_t cur_doc = -1;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].doc != cur_doc && cur_doc >= 0)
        (is_val(cur_doc) ? out.validation : out.train).end_document();
      cur_doc = pending[i].doc;
      (is_val(cur_doc) ? out.validation : out.train).add_line(std::move(ids[i]));
    }
    // A flush always holds whole documents, so the last one ends here too.
    if (cur_doc >= 0) (is_val(cur_doc) ? out.validation : out.train).end_document();
    pending.clear();
  };

  for (const auto& f : files) {
    file = f;
    TextReader in(f);  // .xz is decompressed on the fly
    std::string raw;
    int64_t line = 0;
    while (in.getline(raw)) {
      ++line;
      const std::string_view s = strip(raw);
      if (s.empty()) {
        // Empty lines are document delimiters (create_pretraining_data.py).
        if (doc_has_lines) {
          ++doc;
          // Flush only here, between documents, so a flush always holds whole ones.
          if (pending.size() >= kChunk) flush();
        }
        doc_has_lines = false;
        continue;
      }
      if (cfg.split_sentences) {
        for (const std::string_view piece : split_sentences(s))
          pending.push_back({std::string(piece), line, doc});
      } else {
        pending.push_back({std::string(s), line, doc});
      }
      doc_has_lines = true;
      if ((line & 1023) == 0) bar.update(bytes_done + in.file_bytes_read());
    }
    bytes_done += in.file_bytes_read();
    // Each file starts a new document.
    if (doc_has_lines) ++doc;
    doc_has_lines = false;
    flush();
  }
  bar.update(bytes_done);
  bar.finish();
  HEED_CHECK(out.train.num_documents() > 0, "load_text_corpus: no training documents in {}",
             fmt::join(files, ", "));
  return out;
}

}  // namespace heed::train
