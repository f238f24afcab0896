// heed tokenize: JSONL in ({"text": ..., "text_pair": ..., other fields}), JSONL out
// (other fields, then tokens, input_ids, token_type_ids, attention_mask, offsets).
// Streams: reads a batch of lines, parses and encodes it on all threads
// (BertTokenizer::encode_batch), writes it in input order, then reads the next batch.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::cli {

namespace {

using tokenizers::BertTokenizer;
using tokenizers::EncodeOptions;
using tokenizers::Encoding;
using json = nlohmann::ordered_json;

struct TokenizeOptions {
  std::string model;
  bool no_lowercase = false, no_strip_accents = false;
  int32_t max_length = -1;
  std::string truncation, padding, input;
  int threads = 0;
  int64_t batch_lines = 8192;
};

// DIR (tokenizer.json and/or vocab.txt, optional tokenizer_config.json) or a vocab.txt;
// the flags override tokenizer_config.json.
BertTokenizer load_tokenizer(const TokenizeOptions& o) {
  namespace fs = std::filesystem;
  HEED_CHECK(fs::exists(o.model), "tokenize: --model {} does not exist", o.model);
  tokenizers::TokenizerConfigJson cfg;
  std::string tokenizer_json, vocab_txt = o.model;
  if (fs::is_directory(o.model)) {
    const fs::path dir(o.model);
    if (fs::exists(dir / "tokenizer_config.json")) {
      const std::string p = (dir / "tokenizer_config.json").string();
      cfg = tokenizers::parse_tokenizer_config(read_file(p), p);
    }
    if (fs::exists(dir / "tokenizer.json")) tokenizer_json = (dir / "tokenizer.json").string();
    vocab_txt = (dir / "vocab.txt").string();
    HEED_CHECK(!tokenizer_json.empty() || fs::exists(vocab_txt),
               "tokenize: --model {} holds neither tokenizer.json nor vocab.txt", o.model);
  }
  if (o.no_lowercase) cfg.do_lower_case = false;
  if (o.no_strip_accents) cfg.strip_accents = std::optional<bool>(false);
  if (!tokenizer_json.empty())
    return BertTokenizer(tokenizers::load_tokenizer_json(tokenizer_json), cfg);
  tokenizers::BertTokenizerConfig bc;
  bc.do_lower_case = cfg.do_lower_case.value_or(bc.do_lower_case);
  if (cfg.strip_accents) bc.strip_accents = *cfg.strip_accents;
  bc.tokenize_chinese_chars = cfg.tokenize_chinese_chars.value_or(bc.tokenize_chinese_chars);
  bc.unk_token = cfg.unk_token.value_or(bc.unk_token);
  bc.sep_token = cfg.sep_token.value_or(bc.sep_token);
  bc.pad_token = cfg.pad_token.value_or(bc.pad_token);
  bc.cls_token = cfg.cls_token.value_or(bc.cls_token);
  bc.mask_token = cfg.mask_token.value_or(bc.mask_token);
  return BertTokenizer::from_vocab_file(vocab_txt, bc);
}

EncodeOptions encode_options(const TokenizeOptions& o) {
  EncodeOptions e;
  e.max_length = o.max_length;
  if (o.truncation.empty()) {
    // As transformers with max_length and no strategy: truncation=True = longest_first.
    e.truncation =
        o.max_length > 0 ? tokenizers::Truncation::kLongestFirst : tokenizers::Truncation::kNone;
  } else {
    HEED_CHECK(o.max_length > 0, "tokenize: --truncation {} needs --max-length", o.truncation);
    e.truncation = o.truncation == "only_first"    ? tokenizers::Truncation::kOnlyFirst
                   : o.truncation == "only_second" ? tokenizers::Truncation::kOnlySecond
                                                   : tokenizers::Truncation::kLongestFirst;
  }
  if (!o.padding.empty()) {
    HEED_CHECK(o.max_length > 0, "tokenize: --padding {} needs --max-length", o.padding);
    e.padding = tokenizers::Padding::kMaxLength;
  }
  return e;
}

// Reads whole lines in batches, never the whole input; a line may exceed the buffer.
class LineReader {
 public:
  LineReader(FILE* f, std::string name) : f_(f), name_(std::move(name)) {}

  // Up to max_lines lines (without '\n'); false at end of input. Views stay valid until
  // the next call.
  bool next(int64_t max_lines, std::vector<std::string_view>& lines) {
    lines.clear();
    buf_.erase(0, consumed_);
    consumed_ = 0;
    size_t scan = 0;
    while (int64_t(lines.size()) < max_lines) {
      const size_t nl = buf_.find('\n', scan);
      if (nl != std::string::npos) {
        lines.push_back({});  // filled below: buf_ may still grow
        ends_.push_back(nl);
        scan = nl + 1;
        continue;
      }
      if (eof_) {
        if (scan < buf_.size()) {
          lines.push_back({});
          ends_.push_back(buf_.size());
          scan = buf_.size();
        }
        break;
      }
      const size_t old = buf_.size();
      buf_.resize(old + kChunk);
      const size_t got = std::fread(buf_.data() + old, 1, kChunk, f_);
      HEED_CHECK(!std::ferror(f_), "tokenize: {}: read failed: {}", name_, std::strerror(errno));
      buf_.resize(old + got);
      if (got < kChunk) eof_ = true;
    }
    size_t begin = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      lines[i] = std::string_view(buf_).substr(begin, ends_[i] - begin);
      begin = ends_[i] + 1;
    }
    consumed_ = std::min(begin, buf_.size());
    ends_.clear();
    return !lines.empty();
  }

 private:
  static constexpr size_t kChunk = size_t(1) << 20;
  FILE* f_;
  std::string name_, buf_;
  std::vector<size_t> ends_;
  size_t consumed_ = 0;
  bool eof_ = false;
};

// One parsed input line.
struct Record {
  json fields;  // everything but text / text_pair, carried to the output
  std::string text, pair;
  bool has_pair = false, blank = false;
  std::string error;  // non-empty: the line is bad
};

void parse_record(std::string_view line, Record& r) {
  r = Record{};
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
    r.blank = true;  // blank lines are skipped
    return;
  }
  try {
    r.fields = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {
    r.error = fmt::format("invalid JSON: {}", e.what());
    return;
  }
  if (!r.fields.is_object()) {
    r.error = fmt::format("expected a JSON object, got {}", r.fields.type_name());
    return;
  }
  auto text = r.fields.find("text");
  if (text == r.fields.end()) {
    r.error = "missing field \"text\"";
    return;
  }
  if (!text->is_string()) {
    r.error = fmt::format("field \"text\" must be a string, got {}", text->type_name());
    return;
  }
  r.text = std::move(text->get_ref<std::string&>());
  r.fields.erase("text");
  auto pair = r.fields.find("text_pair");
  if (pair != r.fields.end()) {
    if (!pair->is_null()) {
      if (!pair->is_string()) {
        r.error =
            fmt::format("field \"text_pair\" must be a string or null, got {}", pair->type_name());
        return;
      }
      r.pair = std::move(pair->get_ref<std::string&>());
      r.has_pair = true;
    }
    r.fields.erase("text_pair");
  }
}

// Writes into a buffer sized for the worst case up front, so appends need no bounds or
// capacity checks (they were most of the output cost).
class LineWriter {
 public:
  LineWriter(std::string& out, size_t capacity) : out_(out) {
    out_.resize(capacity);
    p_ = out_.data();
  }
  void put(char c) { *p_++ = c; }
  void put(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void put_int(int32_t v) { p_ = std::to_chars(p_, p_ + 11, v).ptr; }
  void put_ints(std::string_view key, const std::vector<int32_t>& v) {
    put(key);
    put('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) put(',');
      put_int(v[i]);
    }
    put(']');
  }
  void finish() { out_.resize(size_t(p_ - out_.data())); }

 private:
  std::string& out_;
  char* p_;
};

// JSON string literals of the vocabulary, by id.
struct TokenStrings {
  std::vector<std::string> json;
  size_t max_size = 0;
};

// The output line: carried fields, then the encoding.
void write_record(const Record& r, const Encoding& e, const TokenStrings& tokens,
                  std::string& out) {
  std::string carried;
  for (auto it = r.fields.begin(); it != r.fields.end(); ++it) {
    carried += json(it.key()).dump();
    carried += ':';
    carried += it.value().dump(-1, ' ', false, json::error_handler_t::strict);
    carried += ',';
  }
  // Per token at most: its string and a comma, three ints of 11 chars and commas, and
  // an offset pair "[s,e],".
  LineWriter w(out, 128 + carried.size() + e.size() * (tokens.max_size + 1 + 3 * 12 + 26));
  w.put('{');
  w.put(carried);
  // Text tokens: skip the [CLS] ... [SEP] ([SEP]) frame the post-processor added and
  // the padding, leaving the WordPiece tokens of text then text_pair.
  w.put("\"tokens\":[");
  size_t real = 0, first_len = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    real += size_t(e.attention_mask[i]);
    first_len += size_t(e.token_type_ids[i] == 0 && e.attention_mask[i]);
  }
  const size_t first_sep = first_len - 1;
  bool comma = false;
  for (size_t i = 1; i + 1 < real; ++i) {
    if (r.has_pair && i == first_sep) continue;
    if (comma) w.put(',');
    w.put(tokens.json[size_t(e.input_ids[i])]);
    comma = true;
  }
  w.put(']');
  w.put_ints(",\"input_ids\":", e.input_ids);
  w.put_ints(",\"token_type_ids\":", e.token_type_ids);
  w.put_ints(",\"attention_mask\":", e.attention_mask);
  w.put(",\"offsets\":[");
  for (size_t i = 0; i < e.size(); ++i) {
    if (i) w.put(',');
    w.put('[');
    w.put_int(e.offsets[i].start);
    w.put(',');
    w.put_int(e.offsets[i].end);
    w.put(']');
  }
  w.put("]}\n");
  w.finish();
}

void run_tokenize(const TokenizeOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const EncodeOptions options = encode_options(o);
  const BertTokenizer tok = load_tokenizer(o);
  TokenStrings tokens;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    tokens.json.push_back(json(std::string(tok.id_to_token(id)))
                              .dump(-1, ' ', false, json::error_handler_t::replace));
    tokens.max_size = std::max(tokens.max_size, tokens.json.back().size());
  }

  std::unique_ptr<FILE, int (*)(FILE*)> owned(nullptr, &std::fclose);
  FILE* in = stdin;
  const std::string name = o.input.empty() ? "<stdin>" : o.input;
  if (!o.input.empty()) {
    owned.reset(std::fopen(o.input.c_str(), "rb"));
    HEED_CHECK(owned != nullptr, "tokenize: cannot open --input {}: {}", o.input,
               std::strerror(errno));
    in = owned.get();
  }
  LineReader reader(in, name);
  std::vector<std::string_view> lines;
  std::vector<Record> records;
  std::vector<std::string> out;
  std::vector<std::string_view> texts, pairs, single_texts;
  std::vector<size_t> pair_idx, single_idx;
  int64_t line_base = 0;  // 1-based number of the batch's first line, minus one
  while (reader.next(o.batch_lines, lines)) {
    const int64_t n = int64_t(lines.size());
    records.resize(size_t(n));
    out.resize(size_t(n));
    parallel_for(n, 256, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) parse_record(lines[size_t(i)], records[size_t(i)]);
    });
    // Lines before the first bad one are still tokenized and written.
    int64_t good = n;
    for (int64_t i = 0; i < n; ++i) {
      if (!records[size_t(i)].error.empty()) {
        good = i;
        break;
      }
    }
    single_idx.clear(), pair_idx.clear(), single_texts.clear(), texts.clear(), pairs.clear();
    for (int64_t i = 0; i < good; ++i) {
      const Record& r = records[size_t(i)];
      if (r.blank) continue;
      if (r.has_pair) {
        pair_idx.push_back(size_t(i));
        texts.push_back(r.text);
        pairs.push_back(r.pair);
      } else {
        single_idx.push_back(size_t(i));
        single_texts.push_back(r.text);
      }
    }
    const std::vector<Encoding> enc_single = tok.encode_batch(single_texts, {}, options);
    const std::vector<Encoding> enc_pair = tok.encode_batch(texts, pairs, options);
    std::vector<const Encoding*> enc(size_t(n), nullptr);
    for (size_t k = 0; k < single_idx.size(); ++k) enc[single_idx[k]] = &enc_single[k];
    for (size_t k = 0; k < pair_idx.size(); ++k) enc[pair_idx[k]] = &enc_pair[k];
    parallel_for(good, 256, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (enc[size_t(i)])
          write_record(records[size_t(i)], *enc[size_t(i)], tokens, out[size_t(i)]);
      }
    });
    for (int64_t i = 0; i < good; ++i) {
      if (!enc[size_t(i)]) continue;
      const std::string& s = out[size_t(i)];
      HEED_CHECK(std::fwrite(s.data(), 1, s.size(), stdout) == s.size(),
                 "tokenize: write to stdout failed: {}", std::strerror(errno));
    }
    if (good < n) {
      std::fflush(stdout);
      HEED_FAIL("tokenize: {} line {}: {}", name, line_base + good + 1,
                records[size_t(good)].error);
    }
    line_base += n;
  }
  HEED_CHECK(std::fflush(stdout) == 0, "tokenize: write to stdout failed: {}",
             std::strerror(errno));
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "tokenize",
      "Tokenize JSONL ({\"text\": ..., \"text_pair\": ...}) with a BERT WordPiece tokenizer; "
      "writes JSONL with tokens, input_ids, token_type_ids, attention_mask, offsets");
  sub->add_option("--model", opt->model,
                  "Tokenizer folder (tokenizer.json and/or vocab.txt, tokenizer_config.json) "
                  "or a vocab.txt file")
      ->required();
  sub->add_flag("--no-lowercase", opt->no_lowercase, "Do not lowercase (do_lower_case=false)");
  sub->add_flag("--no-strip-accents", opt->no_strip_accents, "Keep accents (strip_accents=false)");
  sub->add_option("--max-length", opt->max_length, "Truncate (and pad) to this many tokens")
      ->check(CLI::PositiveNumber);
  sub->add_option("--truncation", opt->truncation,
                  "Truncation strategy (default longest_first with --max-length)")
      ->check(CLI::IsMember({"longest_first", "only_first", "only_second"}));
  sub->add_option("--padding", opt->padding, "Pad every line to --max-length")
      ->check(CLI::IsMember({"max_length"}));
  sub->add_option("--input", opt->input, "JSONL input file (default: stdin)");
  sub->add_option("--threads", opt->threads, "Threads (0 = all cores)")->capture_default_str();
  sub->add_option("--batch-lines", opt->batch_lines, "Lines read and encoded per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->callback([opt] { run_tokenize(*opt); });
}

}  // namespace heed::cli
