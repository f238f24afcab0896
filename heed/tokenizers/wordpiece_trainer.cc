#include "heed/tokenizers/wordpiece_trainer.h"

#include "heed/base/text_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/base/progress.h"
#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

// ---- counting ----------------------------------------------------------------------

struct CountWorkspace {
  std::vector<TextPiece> pieces;
  NormalizedText norm, scratch;
  std::vector<Word> words;
  std::string word;
};

// Bytes read from a file per chunk; a longer line grows the chunk to hold it.
constexpr size_t kChunkBytes = size_t(8) << 20;

// ---- merging -----------------------------------------------------------------------

using PairKey = uint64_t;  // left id << 32 | right id
PairKey pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int32_t pair_left(PairKey k) { return int32_t(k >> 32); }
int32_t pair_right(PairKey k) { return int32_t(k & 0xFFFFFFFFu); }

struct PairStats {
  int64_t count = 0;
  std::vector<int32_t> where;  // words that contained the pair at some point (may repeat)
};

struct QueueItem {
  int64_t count;
  PairKey pair;
};

// Symbols of one word after merging (a, b) -> c; appends (pair, +-1) for each adjacent
// pair that appears or disappears, as HF's Word::merge does. The merged pair itself is
// not reported (it disappears everywhere at once).
void merge_word(std::vector<int32_t>& s, int32_t a, int32_t b, int32_t c,
                std::vector<std::pair<PairKey, int32_t>>& changes) {
  size_t out = 0;
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (i + 1 < n && s[i] == a && s[i + 1] == b) {
      if (out > 0) {
        changes.push_back({pair_key(s[out - 1], a), -1});
        changes.push_back({pair_key(s[out - 1], c), +1});
      }
      if (i + 2 < n) {
        changes.push_back({pair_key(b, s[i + 2]), -1});
        changes.push_back({pair_key(c, s[i + 2]), +1});
      }
      s[out++] = c;
      i += 2;
    } else {
      s[out++] = s[i++];
    }
  }
  s.resize(out);
}

std::string utf8_of(char32_t c) {
  std::string s;
  append_utf8(s, c);
  return s;
}

}  // namespace

// ---- WordCounter -------------------------------------------------------------------

WordCounter::WordCounter(const NormalizerConfig& normalizer,
                         const std::vector<std::string>& special_tokens)
    : normalizer_(normalizer) {
  std::vector<AddedToken> specials;
  for (const std::string& s : special_tokens) {
    if (!s.empty()) specials.push_back({.id = int32_t(specials.size()), .content = s});
  }
  specials_ = AddedTokens(std::move(specials));
}

void WordCounter::add_texts(std::span<const std::string_view> texts) {
  std::mutex mu;
  int64_t bytes = 0;
  for (std::string_view t : texts) bytes += int64_t(t.size());
  const int64_t cost = texts.empty() ? 1 : std::max<int64_t>(1, bytes / int64_t(texts.size()));
  // Each thread counts its share into a local map, then adds it to counts_: sums do not
  // depend on the split, so the result is the same for any thread count.
  auto count_words = [&](int64_t begin, int64_t end, CountWorkspace& ws, WordCounts& local) {
    for (int64_t i = begin; i < end; ++i) {
      const std::string_view text = texts[size_t(i)];
      ws.pieces.clear();
      specials_.split(text, ws.pieces);
      for (const TextPiece& p : ws.pieces) {
        if (p.added >= 0) continue;
        normalizer_.normalize(text.substr(p.begin, p.end - p.begin), 0, ws.norm, ws.scratch);
        ws.words.clear();
        pre_tokenizer_.pre_tokenize(ws.norm, ws.words);
        for (const Word& w : ws.words) {
          ws.word.clear();
          for (int32_t k = w.begin; k < w.end; ++k) append_utf8(ws.word, ws.norm.chars[size_t(k)]);
          ++local[ws.word];
        }
      }
    }
  };
  std::exception_ptr error;  // exceptions must not leave the OpenMP region
  parallel_for(int64_t(texts.size()), cost, [&](int64_t begin, int64_t end) {
    CountWorkspace ws;
    WordCounts local;
    try {
      count_words(begin, end, ws, local);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (counts_.empty()) {
      counts_ = std::move(local);
      return;
    }
    for (auto& [word, n] : local) counts_[word] += n;
  });
  if (error) std::rethrow_exception(error);
}

void WordCounter::add_file(const std::string& path, const std::function<void(int64_t)>& on_bytes) {
  TextReader f(path);  // .xz is decompressed on the fly
  std::string buf;
  std::vector<std::string_view> lines;
  size_t filled = 0;  // bytes of buf holding data (the tail of the previous chunk first)
  bool eof = false;
  while (!eof) {
    if (buf.size() < filled + kChunkBytes) buf.resize(filled + kChunkBytes);
    const size_t got = f.read(buf.data() + filled, buf.size() - filled);
    filled += got;
    eof = got == 0;
    // Count whole lines only; the partial last line waits for the next chunk.
    const std::string_view data(buf.data(), filled);
    size_t cut = eof ? filled : data.rfind('\n') + 1;  // npos + 1 == 0: no full line yet
    lines.clear();
    for (size_t i = 0; i < cut;) {
      size_t j = data.find('\n', i);
      if (j == std::string_view::npos || j > cut) j = cut;
      if (j > i) lines.push_back(data.substr(i, j - i));
      i = j + 1;
    }
    add_texts(lines);
    buf.erase(0, cut);
    filled -= cut;
    if (on_bytes) on_bytes(f.file_bytes_read());
  }
}

// ---- training ----------------------------------------------------------------------

WordPieceVocab train_wordpiece(const WordCounts& word_counts,
                               const WordPieceTrainerConfig& config) {
  const std::string& prefix = config.continuing_subword_prefix;
  WordPieceVocab result;
  std::vector<std::string>& vocab = result.vocab;
  std::unordered_map<std::string, int32_t> token_id;
  auto add_token = [&](const std::string& t) -> int32_t {
    auto [it, inserted] = token_id.emplace(t, int32_t(vocab.size()));
    if (inserted) vocab.push_back(t);
    return it->second;
  };

  // 1. Special tokens.
  for (const std::string& s : config.special_tokens) add_token(s);
  const size_t num_specials = vocab.size();

  // Words in lexicographic order, so every later step sees the same order.
  std::vector<std::pair<std::u32string, int64_t>> words;
  words.reserve(word_counts.size());
  {
    std::vector<const std::pair<const std::string, int64_t>*> sorted;
    sorted.reserve(word_counts.size());
    for (const auto& e : word_counts) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
    for (const auto* e : sorted) {
      std::u32string u;
      const auto* p = reinterpret_cast<const unsigned char*>(e->first.data());
      for (size_t i = 0; i < e->first.size();) {
        char32_t c;
        i += size_t(decode_utf8(p, e->first.size(), i, &c));
        u.push_back(c);
      }
      if (!u.empty() && e->second > 0) words.emplace_back(std::move(u), e->second);
    }
  }

  // 2. Alphabet: the limit_alphabet most frequent characters (initial_alphabet first),
  // ties to the smaller code point; added in code-point order.
  std::unordered_map<char32_t, int64_t> char_count;
  for (const auto& [w, n] : words) {
    for (char32_t c : w) char_count[c] += n;
  }
  for (char32_t c : config.initial_alphabet) char_count[c] = INT64_MAX;
  std::vector<std::pair<char32_t, int64_t>> alphabet(char_count.begin(), char_count.end());
  std::sort(alphabet.begin(), alphabet.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  });
  if (config.limit_alphabet >= 0 && alphabet.size() > size_t(config.limit_alphabet)) {
    alphabet.resize(size_t(config.limit_alphabet));
  }
  std::sort(alphabet.begin(), alphabet.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  std::unordered_map<char32_t, std::pair<int32_t, int32_t>> char_ids;  // c -> (id of c, id of ##c)
  for (const auto& [c, n] : alphabet) char_ids[c] = {add_token(utf8_of(c)), -1};
  result.alphabet_size = int32_t(alphabet.size());

  // 3. Words as symbols; "##c" for characters seen inside a word. HF skips characters
  // outside the alphabet (the tokenizer turns such words into [UNK] anyway).
  std::vector<char> continues(alphabet.size(), 0);
  for (const auto& [w, n] : words) {
    for (size_t i = 1; i < w.size(); ++i) {
      auto it = std::lower_bound(alphabet.begin(), alphabet.end(), w[i],
                                 [](const auto& x, char32_t c) { return x.first < c; });
      if (it != alphabet.end() && it->first == w[i]) continues[size_t(it - alphabet.begin())] = 1;
    }
  }
  for (size_t k = 0; k < alphabet.size(); ++k) {
    if (continues[k])
      char_ids[alphabet[k].first].second = add_token(prefix + utf8_of(alphabet[k].first));
  }
  HEED_CHECK(vocab.size() <= size_t(std::max(config.vocab_size, 0)),
             "wordpiece trainer: vocab size {} is smaller than the initial vocabulary of {} tokens "
             "({} special tokens, {} characters, {} '{}' continuations); raise the size or lower "
             "limit_alphabet",
             config.vocab_size, vocab.size(), num_specials, alphabet.size(),
             vocab.size() - num_specials - alphabet.size(), prefix);

  std::vector<std::vector<int32_t>> symbols(words.size());
  std::vector<int64_t> counts(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const std::u32string& w = words[i].first;
    counts[i] = words[i].second;
    for (size_t k = 0; k < w.size(); ++k) {
      auto it = char_ids.find(w[k]);
      if (it == char_ids.end()) continue;
      symbols[i].push_back(k == 0 ? it->second.first : it->second.second);  // as HF: by position
    }
  }
  words.clear();
  words.shrink_to_fit();

  // 4. Pair counts, and for each pair the words holding it.
  std::unordered_map<PairKey, PairStats> pairs;
  pairs.reserve(symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    const std::vector<int32_t>& s = symbols[i];
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      PairStats& p = pairs[pair_key(s[k], s[k + 1])];
      p.count += counts[i];
      if (p.where.empty() || p.where.back() != int32_t(i)) p.where.push_back(int32_t(i));
    }
  }
  // Max-heap on count; equal counts: lexicographically smaller (left, right) first.
  auto lower_priority = [&vocab](const QueueItem& x, const QueueItem& y) {
    if (x.count != y.count) return x.count < y.count;
    const std::string& xl = vocab[size_t(pair_left(x.pair))];
    const std::string& yl = vocab[size_t(pair_left(y.pair))];
    if (xl != yl) return xl > yl;
    return vocab[size_t(pair_right(x.pair))] > vocab[size_t(pair_right(y.pair))];
  };
  std::priority_queue<QueueItem, std::vector<QueueItem>, decltype(lower_priority)> queue(
      lower_priority);
  for (const auto& [k, p] : pairs) queue.push({p.count, k});

  // 5. Merges. A queue entry is stale when its pair's count changed since it was
  // pushed: counts only fall except for pairs a merge creates, which are pushed anew.
  const int64_t min_count = std::max<int64_t>(config.min_frequency, 1);
  const int64_t initial = int64_t(vocab.size());
  ProgressBar bar("vocab: merging", config.vocab_size - initial, config.show_progress);
  std::vector<std::pair<PairKey, int32_t>> changes;
  std::vector<PairKey> grown;
  while (vocab.size() < size_t(config.vocab_size) && !queue.empty()) {
    const QueueItem top = queue.top();
    queue.pop();
    auto it = pairs.find(top.pair);
    if (it == pairs.end() || it->second.count <= 0) continue;
    if (it->second.count != top.count) {
      queue.push({it->second.count, top.pair});
      continue;
    }
    if (top.count < min_count) break;
    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    std::string_view right = vocab[size_t(b)];
    if (right.starts_with(prefix)) right.remove_prefix(prefix.size());
    const int32_t c = add_token(vocab[size_t(a)] + std::string(right));
    result.merges.push_back({vocab[size_t(a)], vocab[size_t(b)], top.count});

    std::vector<int32_t> where = std::move(it->second.where);
    pairs.erase(it);  // (a, b) never reappears: new neighbours always involve c
    std::sort(where.begin(), where.end());
    where.erase(std::unique(where.begin(), where.end()), where.end());
    grown.clear();
    for (int32_t w : where) {
      changes.clear();
      merge_word(symbols[size_t(w)], a, b, c, changes);
      for (const auto& [key, delta] : changes) {
        if (key == top.pair) continue;
        PairStats& p = pairs[key];
        p.count += delta * counts[size_t(w)];
        if (delta > 0) {
          if (p.where.empty() || p.where.back() != w) p.where.push_back(w);
          grown.push_back(key);
        }
      }
    }
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (PairKey key : grown) {
      auto g = pairs.find(key);
      if (g->second.count > 0) queue.push({g->second.count, key});
    }
    bar.update(int64_t(vocab.size()) - initial, fmt::format("{} merges", result.merges.size()));
  }
  bar.finish(fmt::format("{} merges, vocab {}", result.merges.size(), vocab.size()));
  return result;
}

WordPieceVocab train_wordpiece_from_files(const std::vector<std::string>& files,
                                          const NormalizerConfig& normalizer,
                                          const WordPieceTrainerConfig& config) {
  namespace fs = std::filesystem;
  HEED_CHECK(!files.empty(), "wordpiece trainer: no corpus files");
  int64_t total = 0;
  for (const std::string& f : files) {
    std::error_code ec;
    HEED_CHECK(fs::is_regular_file(f, ec),
               "wordpiece trainer: corpus file {} does not exist or is not a file", f);
    total += int64_t(fs::file_size(f, ec));
    std::unique_ptr<FILE, int (*)(FILE*)> probe(std::fopen(f.c_str(), "rb"), &std::fclose);
    HEED_CHECK(probe != nullptr, "wordpiece trainer: cannot open corpus file {}: {}", f,
               std::strerror(errno));
  }
  WordCounter counter(normalizer, config.special_tokens);
  {
    ProgressBar bar("vocab: counting words", total, config.show_progress);
    int64_t done = 0;
    for (const std::string& f : files) {
      counter.add_file(f, [&](int64_t bytes) {
        bar.update(done + bytes, fmt::format("{} distinct words", counter.counts().size()));
      });
      done += int64_t(fs::file_size(f));
    }
    bar.finish(fmt::format("{} distinct words", counter.counts().size()));
  }
  return train_wordpiece(counter.counts(), config);
}

void save_wordpiece_tokenizer(const std::string& dir, const std::vector<std::string>& vocab,
                              const NormalizerConfig& normalizer) {
  std::filesystem::create_directories(dir);
  const BertTokenizer tok(
      Vocab(vocab), BertTokenizerConfig{.do_lower_case = normalizer.lowercase,
                                        .strip_accents = normalizer.strip_accents,
                                        .tokenize_chinese_chars = normalizer.handle_chinese_chars,
                                        .clean_text = normalizer.clean_text});
  save_vocab_txt(tok.vocab(), dir + "/vocab.txt");
  tok.save(dir + "/tokenizer.json");
  // transformers' BertTokenizer options, in the order its save_pretrained writes them.
  nlohmann::ordered_json cfg;
  cfg["tokenizer_class"] = "BertTokenizer";
  cfg["do_lower_case"] = normalizer.lowercase;
  if (normalizer.strip_accents) {
    cfg["strip_accents"] = *normalizer.strip_accents;
  } else {
    cfg["strip_accents"] = nullptr;
  }
  cfg["tokenize_chinese_chars"] = normalizer.handle_chinese_chars;
  cfg["clean_up_tokenization_spaces"] = true;
  cfg["unk_token"] = "[UNK]";
  cfg["sep_token"] = "[SEP]";
  cfg["pad_token"] = "[PAD]";
  cfg["cls_token"] = "[CLS]";
  cfg["mask_token"] = "[MASK]";
  write_file_atomic(dir + "/tokenizer_config.json", cfg.dump(2) + "\n");
}

}  // namespace heed::tokenizers
