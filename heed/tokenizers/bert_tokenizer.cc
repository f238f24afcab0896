#include "heed/tokenizers/bert_tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

// Per-thread reusable buffers: encoding a text allocates only its outputs.
struct Workspace {
  std::vector<TextPiece> pieces;
  NormalizedText norm, scratch;
  std::vector<Word> words;
  std::string utf8;
  std::vector<int32_t> pos;
};
Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

int32_t count_code_points(std::string_view s) {
  int32_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size(); ++n) {
    char32_t c;
    i += static_cast<size_t>(decode_utf8(p, s.size(), i, &c));
  }
  return n;
}

}  // namespace

BertTokenizer::BertTokenizer(Vocab vocab, const BertTokenizerConfig& config)
    : vocab_(std::make_shared<Vocab>(std::move(vocab))),
      normalizer_(NormalizerConfig{.clean_text = config.clean_text,
                                   .handle_chinese_chars = config.tokenize_chinese_chars,
                                   .strip_accents = config.strip_accents,
                                   .lowercase = config.do_lower_case}),
      cls_token_(config.cls_token),
      sep_token_(config.sep_token),
      pad_token_(config.pad_token),
      mask_token_(config.mask_token),
      clean_up_tokenization_spaces_(config.clean_up_tokenization_spaces) {
  wordpiece_ = WordPiece(vocab_.get(), WordPieceConfig{.unk_token = config.unk_token,
                                                       .continuing_subword_prefix = vocab_->continuing_prefix(),
                                                       .max_input_chars_per_word = config.max_input_chars_per_word});
  // HF's special tokens, in the order tokenizer.json lists them (by id).
  std::vector<AddedToken> added;
  for (const std::string& tok : {config.pad_token, config.unk_token, config.cls_token, config.sep_token,
                                 config.mask_token}) {
    const int32_t id = vocab_->token_to_id(tok);
    if (id >= 0) added.push_back({.id = id, .content = tok});
  }
  std::sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  init(added);
}

BertTokenizer::BertTokenizer(const TokenizerJson& tj, const TokenizerConfigJson& config)
    : vocab_(std::make_shared<Vocab>(tj.vocab, tj.model.continuing_subword_prefix)),
      cls_token_(tj.cls_token),
      sep_token_(tj.sep_token),
      pad_token_(config.pad_token.value_or("[PAD]")),
      mask_token_(config.mask_token.value_or("[MASK]")),
      clean_up_tokenization_spaces_(config.clean_up_tokenization_spaces.value_or(true)),
      decoder_cleanup_(tj.decoder_cleanup) {
  // As BertTokenizerFast.__init__: tokenizer_config.json options override the normalizer.
  NormalizerConfig norm = tj.normalizer;
  if (config.do_lower_case) norm.lowercase = *config.do_lower_case;
  if (config.strip_accents) norm.strip_accents = *config.strip_accents;
  if (config.tokenize_chinese_chars) norm.handle_chinese_chars = *config.tokenize_chinese_chars;
  normalizer_ = Normalizer(norm);
  for (const AddedToken& t : tj.added_tokens) {
    if (t.id >= vocab_->size() || vocab_->id_to_token(t.id) != t.content) vocab_->set(t.id, t.content);
  }
  wordpiece_ = WordPiece(vocab_.get(), tj.model);
  init(tj.added_tokens);
}

void BertTokenizer::init(const std::vector<AddedToken>& added) {
  added_ = AddedTokens(added);
  auto id_of = [&](const std::string& tok, const char* what) {
    const int32_t id = vocab_->token_to_id(tok);
    HEED_CHECK(id >= 0, "BertTokenizer: {} '{}' is not in the vocabulary", what, tok);
    return id;
  };
  const int32_t pad = vocab_->token_to_id(pad_token_);
  post_ = PostProcessor(id_of(cls_token_, "cls_token"), id_of(sep_token_, "sep_token"), pad);
  mask_id_ = vocab_->token_to_id(mask_token_);
  // never_split = all_special_tokens: the special added tokens.
  std::vector<std::string> never_split;
  for (const AddedToken& t : added) {
    if (t.special) never_split.push_back(t.content);
  }
  pre_tokenizer_ = PreTokenizer(never_split);
}

BertTokenizer BertTokenizer::from_vocab_file(const std::string& vocab_txt, const BertTokenizerConfig& config) {
  return BertTokenizer(load_vocab_txt(vocab_txt), config);
}

BertTokenizer BertTokenizer::from_tokenizer_json(const std::string& tokenizer_json,
                                                 const std::string& tokenizer_config_json) {
  TokenizerConfigJson cfg;
  if (!tokenizer_config_json.empty()) {
    cfg = parse_tokenizer_config(read_file(tokenizer_config_json), tokenizer_config_json);
  }
  return BertTokenizer(load_tokenizer_json(tokenizer_json), cfg);
}

BertTokenizer BertTokenizer::from_pretrained(const std::string& dir) {
  namespace fs = std::filesystem;
  HEED_CHECK(fs::is_directory(dir), "BertTokenizer::from_pretrained: {} is not a directory", dir);
  const std::string tj = (fs::path(dir) / "tokenizer.json").string();
  const std::string vocab = (fs::path(dir) / "vocab.txt").string();
  const std::string cfg_path = (fs::path(dir) / "tokenizer_config.json").string();
  const bool has_cfg = fs::exists(cfg_path);
  if (fs::exists(tj)) return from_tokenizer_json(tj, has_cfg ? cfg_path : "");
  HEED_CHECK(fs::exists(vocab), "BertTokenizer::from_pretrained: {} has neither tokenizer.json nor vocab.txt",
             dir);
  BertTokenizerConfig config;
  if (has_cfg) {
    const TokenizerConfigJson c = parse_tokenizer_config(read_file(cfg_path), cfg_path);
    config.do_lower_case = c.do_lower_case.value_or(config.do_lower_case);
    if (c.strip_accents) config.strip_accents = *c.strip_accents;
    config.tokenize_chinese_chars = c.tokenize_chinese_chars.value_or(config.tokenize_chinese_chars);
    config.clean_up_tokenization_spaces =
        c.clean_up_tokenization_spaces.value_or(config.clean_up_tokenization_spaces);
    config.unk_token = c.unk_token.value_or(config.unk_token);
    config.sep_token = c.sep_token.value_or(config.sep_token);
    config.pad_token = c.pad_token.value_or(config.pad_token);
    config.cls_token = c.cls_token.value_or(config.cls_token);
    config.mask_token = c.mask_token.value_or(config.mask_token);
  }
  return from_vocab_file(vocab, config);
}

std::string BertTokenizer::to_tokenizer_json() const {
  TokenizerJson tj;
  tj.normalizer = normalizer_.config();
  tj.model = wordpiece_.config();
  tj.vocab = vocab_->tokens();
  tj.added_tokens = added_.tokens();
  tj.cls_token = cls_token_;
  tj.sep_token = sep_token_;
  tj.decoder_cleanup = decoder_cleanup_;
  return dump_tokenizer_json(tj);
}

void BertTokenizer::save(const std::string& tokenizer_json_path) const {
  write_file_atomic(tokenizer_json_path, to_tokenizer_json());
}

void BertTokenizer::tokenize_into(std::string_view text, std::vector<Token>& out) const {
  HEED_CHECK(text.size() < static_cast<size_t>(INT32_MAX), "tokenize: text of {} bytes exceeds 2 GiB",
             text.size());
  Workspace& ws = workspace();
  ws.pieces.clear();
  added_.split(text, ws.pieces);
  int32_t base = 0;  // code point index of the current piece in `text`
  for (const TextPiece& p : ws.pieces) {
    const std::string_view piece = text.substr(p.begin, p.end - p.begin);
    if (p.added >= 0) {
      const int32_t n = count_code_points(piece);
      out.push_back({added_.tokens()[static_cast<size_t>(p.added)].id, base, base + n});
      base += n;
      continue;
    }
    normalizer_.normalize(piece, base, ws.norm, ws.scratch);
    base += count_code_points(piece);
    ws.words.clear();
    pre_tokenizer_.pre_tokenize(ws.norm, ws.words);
    for (const Word& w : ws.words) wordpiece_.tokenize_word(ws.norm, w, out, ws.utf8, ws.pos);
  }
}

std::vector<Token> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<Token> out;
  tokenize_into(text, out);
  return out;
}

Encoding BertTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<Token> a;
  a.reserve(text.size() / 4 + 4);
  tokenize_into(text, a);
  return post_.process(a, nullptr, options);
}

Encoding BertTokenizer::encode_pair(std::string_view text, std::string_view pair,
                                    const EncodeOptions& options) const {
  std::vector<Token> a, b;
  tokenize_into(text, a);
  tokenize_into(pair, b);
  return post_.process(a, &b, options);
}

std::vector<Encoding> BertTokenizer::encode_batch(std::span<const std::string_view> texts,
                                                  std::span<const std::string_view> pairs,
                                                  const EncodeOptions& options) const {
  HEED_CHECK(pairs.empty() || pairs.size() == texts.size(), "encode_batch: {} texts but {} pairs",
             texts.size(), pairs.size());
  std::vector<Encoding> out(texts.size());
  // Errors must not escape an OpenMP region: keep the first and rethrow after.
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  parallel_for(static_cast<int64_t>(texts.size()), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e && !failed.load(std::memory_order_relaxed); ++i) {
      try {
        const auto k = static_cast<size_t>(i);
        out[k] = pairs.empty() ? encode(texts[k], options) : encode_pair(texts[k], pairs[k], options);
      } catch (...) {
#pragma omp critical(heed_tokenizer_error)
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
  return out;
}

std::vector<Encoding> BertTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                  const EncodeOptions& options) const {
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return encode_batch(views, {}, options);
}

bool BertTokenizer::is_special_id(int32_t id) const {
  for (const AddedToken& t : added_.tokens()) {
    if (t.special && t.id == id) return true;
  }
  return false;
}

int32_t BertTokenizer::token_to_id(std::string_view token) const {
  const int32_t id = vocab_->token_to_id(token);
  return id >= 0 ? id : wordpiece_.unk_id();
}

std::string_view BertTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_->size()) return wordpiece_.config().unk_token;
  return vocab_->id_to_token(id);
}

std::vector<std::string_view> BertTokenizer::convert_ids_to_tokens(std::span<const int32_t> ids) const {
  std::vector<std::string_view> out;
  out.reserve(ids.size());
  for (int32_t id : ids) out.push_back(id_to_token(id));
  return out;
}

std::string BertTokenizer::convert_tokens_to_string(std::span<const std::string_view> tokens) {
  // " ".join(tokens).replace(" ##", "").strip()
  std::string joined;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) joined += ' ';
    joined += tokens[i];
  }
  std::string out;
  out.reserve(joined.size());
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 3, " ##") == 0) {
      i += 3;
    } else {
      out += joined[i++];
    }
  }
  // Python's str.strip() removes Unicode whitespace; tokens hold none, so ASCII suffices
  // for everything but a caller-supplied token list.
  const size_t b = out.find_first_not_of(" \t\n\r\v\f");
  if (b == std::string::npos) return "";
  const size_t e = out.find_last_not_of(" \t\n\r\v\f");
  return out.substr(b, e - b + 1);
}

std::string BertTokenizer::clean_up_tokenization(std::string s) {
  // transformers' clean_up_tokenization, replacement by replacement, left to right.
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    for (size_t j; (j = s.find(from, i)) != std::string::npos; i = j + from.size()) {
      out.append(s, i, j - i);
      out += to;
    }
    out.append(s, i, std::string::npos);
    s = std::move(out);
  }
  return s;
}

std::string BertTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string_view> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special_id(id)) continue;
    tokens.push_back(id_to_token(id));
  }
  std::string s = convert_tokens_to_string(tokens);
  return clean_up_tokenization_spaces_ ? clean_up_tokenization(std::move(s)) : s;
}

}  // namespace heed::tokenizers
