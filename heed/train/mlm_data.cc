#include "heed/train/mlm_data.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "heed/base/error.h"

namespace heed::train {

namespace {

// Independent seeded streams derived from the one user seed.
enum Stream : uint64_t { kDocOrder = 1, kDocument, kWindowShuffle, kMask, kValDocument, kValMask };

uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  const auto a = philox4x32(seed, stream);
  const auto b = philox4x32((uint64_t(a[0]) << 32) | a[1], index);
  return (uint64_t(b[0]) << 32) | b[1];
}

// Python's random.randint(a, b): inclusive bounds.
int64_t randint_incl(Generator& g, int64_t a, int64_t b) {
  return a + int64_t(g.randint(uint64_t(b - a + 1)));
}

template <class T>
void shuffle(std::vector<T>& v, Generator& g) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(g.randint(i))]);
}

bool is_special(int32_t id, const MlmVocab& v) {
  return id == v.cls_id || id == v.sep_id || id == v.mask_id || id == v.pad_id ||
         std::find(v.other_special_ids.begin(), v.other_special_ids.end(), id) !=
             v.other_special_ids.end();
}

void check_setup(const MlmVocab& v, const MlmDataConfig& cfg) {
  HEED_CHECK(v.vocab_size > 0, "mlm data: vocab_size must be positive");
  for (const auto& [name, id] : {std::pair{"cls_id", v.cls_id}, std::pair{"sep_id", v.sep_id},
                                 std::pair{"mask_id", v.mask_id}, std::pair{"pad_id", v.pad_id}})
    HEED_CHECK(id >= 0 && id < v.vocab_size, "mlm data: {} {} is outside the vocabulary [0, {})",
               name, id, v.vocab_size);
  HEED_CHECK(v.vocab_size > int64_t(4 + v.other_special_ids.size()),
             "mlm data: the vocabulary has no ordinary tokens to draw random replacements from");
  HEED_CHECK(v.is_continuation.empty() || int64_t(v.is_continuation.size()) == v.vocab_size,
             "mlm data: is_continuation has {} entries for a vocabulary of {}",
             v.is_continuation.size(), v.vocab_size);
  // BERT needs max_num_tokens = max_seq_length - 3 >= 2 (randint(2, max_num_tokens)).
  HEED_CHECK(cfg.max_seq_length >= (cfg.nsp ? 5 : 3), "mlm data: max_seq_length {} is too small",
             cfg.max_seq_length);
  HEED_CHECK(cfg.batch_size > 0, "mlm data: batch_size must be positive, got {}", cfg.batch_size);
  HEED_CHECK(cfg.window_documents > 0, "mlm data: window_documents must be positive");
  HEED_CHECK(cfg.masked_lm_prob >= 0 && cfg.masked_lm_prob <= 1,
             "mlm data: masked_lm_prob {} not in [0, 1]", cfg.masked_lm_prob);
  HEED_CHECK(cfg.mask_token_frac >= 0 && cfg.random_token_frac >= 0 &&
                 cfg.mask_token_frac + cfg.random_token_frac <= 1.0f + 1e-6f,
             "mlm data: mask_token_frac {} + random_token_frac {} must be within [0, 1]",
             cfg.mask_token_frac, cfg.random_token_frac);
}

void extend(std::vector<int32_t>& dst, std::span<const int32_t> src) {
  dst.insert(dst.end(), src.begin(), src.end());
}

}  // namespace

// create_pretraining_data.py: truncate_seq_pair. Trims the longer side, from the front
// or the back at random, "to add more randomness and avoid biases".
void truncate_seq_pair(std::vector<int32_t>& a, std::vector<int32_t>& b, int64_t max_num_tokens,
                       Generator& gen) {
  while (int64_t(a.size() + b.size()) > max_num_tokens) {
    std::vector<int32_t>& t = a.size() > b.size() ? a : b;
    if (gen.uniform() < 0.5f)
      t.erase(t.begin());
    else
      t.pop_back();
  }
}

// create_pretraining_data.py: create_instances_from_document, step for step.
void append_instances_from_document(const TextCorpus& corpus, int64_t doc, const MlmDataConfig& cfg,
                                    const MlmVocab& vocab, Generator& gen,
                                    std::vector<MlmInstance>& out) {
  // Account for [CLS], [SEP], [SEP].
  const int64_t max_num_tokens = cfg.max_seq_length - 3;
  // Usually fill the sequence; sometimes (short_seq_prob) aim shorter, to lessen the
  // mismatch with short fine-tuning inputs. The target is soft; max_seq_length is hard.
  int64_t target = max_num_tokens;
  if (gen.uniform() < cfg.short_seq_prob) target = randint_incl(gen, 2, max_num_tokens);
  const int64_t n = corpus.num_lines(doc), D = corpus.num_documents();
  std::vector<int64_t> chunk;  // line indices
  int64_t current_length = 0;
  for (int64_t i = 0; i < n; ++i) {
    chunk.push_back(i);
    current_length += int64_t(corpus.line(doc, i).size());
    if (i != n - 1 && current_length < target) continue;
    // a_end: how many lines of the chunk go into segment A.
    const int64_t a_end = chunk.size() >= 2 ? randint_incl(gen, 1, int64_t(chunk.size()) - 1) : 1;
    std::vector<int32_t> a, b;
    for (int64_t j = 0; j < a_end; ++j) extend(a, corpus.line(doc, chunk[size_t(j)]));
    MlmInstance inst;
    if (chunk.size() == 1 || gen.uniform() < 0.5f) {
      inst.nsp_label = 1;  // random next
      const int64_t target_b = target - int64_t(a.size());
      // Try to pick another document (a one-document corpus falls back to itself).
      int64_t rdoc = doc;
      for (int t = 0; t < 10; ++t) {
        rdoc = randint_incl(gen, 0, D - 1);
        if (rdoc != doc) break;
      }
      const int64_t rn = corpus.num_lines(rdoc);
      for (int64_t j = randint_incl(gen, 0, rn - 1); j < rn; ++j) {
        extend(b, corpus.line(rdoc, j));
        if (int64_t(b.size()) >= target_b) break;
      }
      // The chunk's unused lines are "put back" so they are not wasted.
      i -= int64_t(chunk.size()) - a_end;
    } else {
      inst.nsp_label = 0;  // actual next
      for (size_t j = size_t(a_end); j < chunk.size(); ++j) extend(b, corpus.line(doc, chunk[j]));
    }
    truncate_seq_pair(a, b, max_num_tokens, gen);
    inst.tokens.reserve(a.size() + b.size() + 3);
    inst.tokens.push_back(vocab.cls_id);
    inst.tokens.insert(inst.tokens.end(), a.begin(), a.end());
    inst.tokens.push_back(vocab.sep_id);
    inst.segment_ids.assign(inst.tokens.size(), 0);
    inst.tokens.insert(inst.tokens.end(), b.begin(), b.end());
    inst.tokens.push_back(vocab.sep_id);
    inst.segment_ids.resize(inst.tokens.size(), 1);
    out.push_back(std::move(inst));
    chunk.clear();
    current_length = 0;
  }
}

// No NSP: RoBERTa's FULL-SENTENCES (Liu et al. 2019, sec. 4.2): contiguous lines packed
// up to the length limit, crossing document boundaries with an extra separator. A line
// longer than the limit is cut.
void append_packed_instances(const TextCorpus& corpus, const std::vector<int64_t>& docs,
                             const MlmDataConfig& cfg, const MlmVocab& vocab,
                             std::vector<MlmInstance>& out) {
  const size_t max_num = size_t(cfg.max_seq_length - 2);  // [CLS] x [SEP]
  std::vector<int32_t> cur;
  auto emit = [&] {
    if (cur.empty()) return;
    MlmInstance inst;
    inst.tokens.reserve(cur.size() + 2);
    inst.tokens.push_back(vocab.cls_id);
    inst.tokens.insert(inst.tokens.end(), cur.begin(), cur.end());
    inst.tokens.push_back(vocab.sep_id);
    inst.segment_ids.assign(inst.tokens.size(), 0);
    out.push_back(std::move(inst));
    cur.clear();
  };
  for (size_t di = 0; di < docs.size(); ++di) {
    if (di > 0 && !cur.empty()) {
      if (cur.size() + 1 > max_num)
        emit();
      else
        cur.push_back(vocab.sep_id);
    }
    for (int64_t j = 0; j < corpus.num_lines(docs[di]); ++j) {
      const auto l = corpus.line(docs[di], j);
      if (!cur.empty() && cur.size() + l.size() > max_num) emit();
      for (size_t off = 0; off < l.size();) {
        const size_t take = std::min(max_num - cur.size(), l.size() - off);
        cur.insert(cur.end(), l.begin() + ptrdiff_t(off), l.begin() + ptrdiff_t(off + take));
        off += take;
        if (cur.size() == max_num) emit();
      }
    }
  }
  emit();
}

// create_pretraining_data.py: create_masked_lm_predictions (the whole-word-masking
// version): shuffle the candidate words, take whole words until num_to_predict tokens
// are chosen (skipping a word that would overshoot), then 80% [MASK] / 10% random /
// 10% unchanged per token. One difference: num_to_predict is masked_lm_prob times the
// number of candidates, not of all tokens (BERT counts [CLS] and [SEP] too), so exactly
// 15% of the maskable tokens are predicted.
void mask_tokens(std::vector<int32_t>& tokens, std::vector<int64_t>& labels,
                 const MlmDataConfig& cfg, const MlmVocab& vocab, Generator& gen) {
  labels.assign(tokens.size(), -100);
  std::vector<std::vector<int32_t>> cand;  // groups of positions (one word each)
  int64_t num_cand = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t id = tokens[i];
    if (id == vocab.cls_id || id == vocab.sep_id || id == vocab.pad_id || id == vocab.mask_id)
      continue;
    const bool cont = cfg.whole_word_mask && !vocab.is_continuation.empty() &&
                      vocab.is_continuation[size_t(id)] != 0;
    // A piece joins its word only if adjacent (never across a [SEP]).
    if (cont && !cand.empty() && cand.back().back() == int32_t(i) - 1)
      cand.back().push_back(int32_t(i));
    else
      cand.push_back({int32_t(i)});
    ++num_cand;
  }
  if (num_cand == 0) return;
  shuffle(cand, gen);
  // Python's round() is round-half-even, as nearbyint in the default rounding mode.
  int64_t num_to_predict =
      std::max<int64_t>(1, int64_t(std::nearbyint(double(num_cand) * cfg.masked_lm_prob)));
  if (cfg.max_predictions_per_seq > 0)
    num_to_predict = std::min(num_to_predict, cfg.max_predictions_per_seq);
  const float keep_given_not_mask =
      cfg.mask_token_frac < 1.0f
          ? (1.0f - cfg.mask_token_frac - cfg.random_token_frac) / (1.0f - cfg.mask_token_frac)
          : 0.0f;
  int64_t masked = 0;
  for (const auto& word : cand) {
    if (masked >= num_to_predict) break;
    // A whole word that would exceed the budget is skipped.
    if (masked + int64_t(word.size()) > num_to_predict) continue;
    for (const int32_t i : word) {
      const size_t p = size_t(i);
      labels[p] = tokens[p];
      if (gen.uniform() < cfg.mask_token_frac) {
        tokens[p] = vocab.mask_id;
      } else if (gen.uniform() >= keep_given_not_mask) {
        int32_t r;
        do {
          r = int32_t(gen.randint(uint64_t(vocab.vocab_size)));
        } while (is_special(r, vocab));
        tokens[p] = r;
      }
      ++masked;
    }
  }
}

Batch collate_mlm(const std::vector<MlmInstance>& instances, const MlmDataConfig& cfg,
                  const MlmVocab& vocab, Generator& mask_gen) {
  HEED_CHECK(!instances.empty(), "collate_mlm: no instances");
  const int64_t B = int64_t(instances.size());
  int64_t T = 0;
  for (const auto& in : instances) T = std::max<int64_t>(T, int64_t(in.tokens.size()));
  HEED_CHECK(T <= cfg.max_seq_length,
             "collate_mlm: an instance of length {} exceeds max_seq_length {}", T,
             cfg.max_seq_length);
  if (cfg.pad_to_max_length) T = cfg.max_seq_length;
  std::vector<int64_t> ids(size_t(B * T), vocab.pad_id), types(size_t(B * T), 0),
      attn(size_t(B * T), 0), mlm(size_t(B * T), -100), nsp(size_t(B), -100);
  Batch batch;
  std::vector<int32_t> toks;
  std::vector<int64_t> labels;
  for (int64_t b = 0; b < B; ++b) {
    const MlmInstance& in = instances[size_t(b)];
    toks = in.tokens;
    mask_tokens(toks, labels, cfg, vocab, mask_gen);
    for (size_t t = 0; t < toks.size(); ++t) {
      const size_t k = size_t(b * T) + t;
      ids[k] = toks[t];
      types[k] = in.segment_ids[t];
      attn[k] = 1;
      mlm[k] = labels[t];
    }
    nsp[size_t(b)] = in.nsp_label;
    batch.num_tokens += int64_t(toks.size());
  }
  batch.tensors["input_ids"] = Tensor::from_vector(ids, Shape{B, T});         // (B, T)
  batch.tensors["token_type_ids"] = Tensor::from_vector(types, Shape{B, T});  // (B, T)
  batch.tensors["attention_mask"] = Tensor::from_vector(attn, Shape{B, T});   // (B, T)
  batch.tensors["mlm_labels"] = Tensor::from_vector(mlm, Shape{B, T});  // (B, T), -100 = no loss
  batch.tensors["nsp_labels"] = Tensor::from_vector(nsp, Shape{B});     // (B)
  return batch;
}

// ---- MlmDataset -------------------------------------------------------------

MlmDataset::MlmDataset(std::shared_ptr<const TextCorpus> corpus, MlmVocab vocab, MlmDataConfig cfg)
    : corpus_(std::move(corpus)), vocab_(std::move(vocab)), cfg_(cfg) {
  HEED_CHECK(corpus_ && corpus_->num_documents() > 0, "MlmDataset: the corpus has no documents");
  check_setup(vocab_, cfg_);
  cursor_.mask_gen = Generator(derive_seed(cfg_.seed, kMask, 0));
  consumed_ = cursor_;
}

MlmDataset::~MlmDataset() { stop_worker(); }

int64_t MlmDataset::epoch() const { return consumed_.epoch; }

void MlmDataset::load_window() {
  if (loaded_epoch_ == cursor_.epoch && loaded_window_ == cursor_.window) return;
  const int64_t D = corpus_->num_documents();
  const uint64_t e = uint64_t(cursor_.epoch);
  if (loaded_epoch_ != cursor_.epoch) {
    doc_order_.resize(size_t(D));
    for (int64_t d = 0; d < D; ++d) doc_order_[size_t(d)] = d;
    Generator g(derive_seed(cfg_.seed, kDocOrder, e));
    shuffle(doc_order_, g);
  }
  const int64_t b = cursor_.window * cfg_.window_documents;
  const int64_t end = std::min(D, b + cfg_.window_documents);
  window_.clear();
  if (cfg_.nsp) {
    for (int64_t k = b; k < end; ++k) {
      const int64_t doc = doc_order_[size_t(k)];
      Generator g(derive_seed(cfg_.seed, kDocument, (e << 32) | uint64_t(doc)));
      append_instances_from_document(*corpus_, doc, cfg_, vocab_, g, window_);
    }
  } else {
    append_packed_instances(*corpus_,
                            std::vector<int64_t>(doc_order_.begin() + b, doc_order_.begin() + end),
                            cfg_, vocab_, window_);
  }
  Generator g(derive_seed(cfg_.seed, kWindowShuffle, (e << 32) | uint64_t(cursor_.window)));
  shuffle(window_, g);
  loaded_epoch_ = cursor_.epoch;
  loaded_window_ = cursor_.window;
}

Batch MlmDataset::produce() {
  const int64_t num_windows =
      (corpus_->num_documents() + cfg_.window_documents - 1) / cfg_.window_documents;
  std::vector<MlmInstance> picked;
  picked.reserve(size_t(cfg_.batch_size));
  while (int64_t(picked.size()) < cfg_.batch_size) {
    load_window();
    if (cursor_.position >= int64_t(window_.size())) {
      cursor_.position = 0;
      if (++cursor_.window >= num_windows) {
        cursor_.window = 0;
        ++cursor_.epoch;
      }
      continue;
    }
    picked.push_back(window_[size_t(cursor_.position++)]);
  }
  return collate_mlm(picked, cfg_, vocab_, cursor_.mask_gen);
}

void MlmDataset::start_worker() {
  stop_ = false;
  worker_ = std::thread([this] {
    while (true) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        not_full_.wait(lk, [&] { return stop_ || int64_t(queue_.size()) < cfg_.prefetch; });
        if (stop_) return;
      }
      try {
        Batch b = produce();
        std::lock_guard<std::mutex> lk(mu_);
        queue_.emplace_back(std::move(b), cursor_);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        error_ = std::current_exception();
        not_empty_.notify_all();
        return;
      }
      not_empty_.notify_all();
    }
  });
}

void MlmDataset::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  not_full_.notify_all();
  worker_.join();
  queue_.clear();
}

Batch MlmDataset::next_batch() {
  if (cfg_.prefetch <= 0) {
    Batch b = produce();
    consumed_ = cursor_;
    return b;
  }
  if (!worker_.joinable()) start_worker();
  std::unique_lock<std::mutex> lk(mu_);
  not_empty_.wait(lk, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  auto [batch, after] = std::move(queue_.front());
  queue_.pop_front();
  consumed_ = after;
  lk.unlock();
  not_full_.notify_all();
  return batch;
}

nlohmann::json MlmDataset::cursor_json(const Cursor& c) const {
  return {{"epoch", c.epoch},
          {"window", c.window},
          {"position", c.position},
          {"mask_rng", {c.mask_gen.seed(), c.mask_gen.offset()}},
          {"seed", cfg_.seed},
          {"nsp", cfg_.nsp},
          {"max_seq_length", cfg_.max_seq_length},
          {"window_documents", cfg_.window_documents},
          {"num_documents", corpus_->num_documents()},
          {"num_tokens", corpus_->num_tokens()}};
}

nlohmann::json MlmDataset::state() const { return cursor_json(consumed_); }

void MlmDataset::restore(const nlohmann::json& s) {
  stop_worker();
  error_ = nullptr;
  try {
    // The position indexes a stream that these settings define; it means nothing for others.
    const nlohmann::json mine = cursor_json(consumed_);
    for (const char* k :
         {"seed", "nsp", "max_seq_length", "window_documents", "num_documents", "num_tokens"})
      HEED_CHECK(s.at(k) == mine.at(k),
                 "MlmDataset::restore: the saved data state has {} = {} but this pipeline has {} "
                 "(a different corpus or configuration)",
                 k, s.at(k).dump(), mine.at(k).dump());
    Cursor c;
    c.epoch = s.at("epoch").get<int64_t>();
    c.window = s.at("window").get<int64_t>();
    c.position = s.at("position").get<int64_t>();
    c.mask_gen.set_state(s.at("mask_rng").at(0).get<uint64_t>(),
                         s.at("mask_rng").at(1).get<uint64_t>());
    HEED_CHECK(c.epoch >= 0 && c.window >= 0 && c.position >= 0,
               "MlmDataset::restore: negative position in {}", s.dump());
    cursor_ = c;
    consumed_ = c;
  } catch (const nlohmann::json::exception& e) {
    HEED_FAIL("MlmDataset::restore: malformed data state {}: {}", s.dump(), e.what());
  }
}

std::vector<Batch> mlm_validation_batches(const TextCorpus& corpus, const MlmVocab& vocab,
                                          const MlmDataConfig& cfg) {
  check_setup(vocab, cfg);
  std::vector<MlmInstance> all;
  if (cfg.nsp) {
    for (int64_t d = 0; d < corpus.num_documents(); ++d) {
      Generator g(derive_seed(cfg.seed, kValDocument, uint64_t(d)));
      append_instances_from_document(corpus, d, cfg, vocab, g, all);
    }
  } else {
    std::vector<int64_t> docs(size_t(corpus.num_documents()));
    for (size_t d = 0; d < docs.size(); ++d) docs[d] = int64_t(d);
    append_packed_instances(corpus, docs, cfg, vocab, all);
  }
  Generator mask_gen(derive_seed(cfg.seed, kValMask, 0));
  std::vector<Batch> out;
  for (size_t b = 0; b < all.size(); b += size_t(cfg.batch_size)) {
    const std::vector<MlmInstance> part(
        all.begin() + ptrdiff_t(b),
        all.begin() + ptrdiff_t(std::min(all.size(), b + size_t(cfg.batch_size))));
    out.push_back(collate_mlm(part, cfg, vocab, mask_gen));
  }
  return out;
}

}  // namespace heed::train
