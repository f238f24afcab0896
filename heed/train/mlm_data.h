// BERT pretraining data: sentence-pair instances with next-sentence prediction (NSP)
// packed to max_seq_length, and masked-LM masking applied when a batch is made
// ("dynamic masking", RoBERTa sec. 4.1), so each pass over the corpus sees new masks.
// The packing, truncation and masking follow google-research/bert
// create_pretraining_data.py (create_instances_from_document, truncate_seq_pair,
// create_masked_lm_predictions, including its whole-word-masking variant).
//
// The stream is a pure function of (corpus, config, seed): each epoch visits the
// documents in a seeded order, in windows of `window_documents` whose instances are
// shuffled together (create_pretraining_data.py shuffles all instances; a window bounds
// the memory). Its state is (epoch, window, position, masking RNG): a few integers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <thread>
#include <vector>

#include "heed/base/rng.h"
#include "heed/train/data_source.h"
#include "heed/train/text_corpus.h"

namespace heed::train {

// What the pipeline needs from a WordPiece tokenizer (wired in by the caller).
struct MlmVocab {
  int64_t vocab_size = 0;
  int32_t cls_id = -1, sep_id = -1, mask_id = -1, pad_id = 0;
  // Never drawn as the "random token" replacement, besides the four above (e.g. [UNK]).
  std::vector<int32_t> other_special_ids{};
  // Whole-word masking: is_continuation[id] != 0 for WordPiece pieces that continue a
  // word ("##ing"); indexed by token id. Empty = every token starts a word.
  std::vector<uint8_t> is_continuation{};
};

struct MlmDataConfig {
  int64_t max_seq_length = 128;  // including [CLS] and [SEP]s
  int64_t batch_size = 32;
  // NSP on: [CLS] A [SEP] B [SEP], B the actual continuation or (50%) a random span of
  // another document. Off: contiguous lines packed into [CLS] x [SEP] up to
  // max_seq_length, crossing documents with a [SEP] between them (RoBERTa FULL-SENTENCES).
  bool nsp = true;
  float short_seq_prob = 0.1f;          // NSP mode: chance of a shorter target length
  float masked_lm_prob = 0.15f;         // of the non-special tokens of each sequence
  float mask_token_frac = 0.8f;         // of the chosen tokens: [MASK]
  float random_token_frac = 0.1f;       // random token; the rest are left unchanged
  int64_t max_predictions_per_seq = 0;  // 0 = no cap (BERT uses 20 at length 128)
  bool whole_word_mask = false;
  int64_t window_documents = 256;  // documents whose instances are shuffled together
  bool pad_to_max_length = false;  // else pad to the longest sequence in the batch
  uint64_t seed = 0;
  // Batches made ahead on a background thread (0 = on the caller's thread).
  int64_t prefetch = 4;
};

// One packed sequence, before masking.
struct MlmInstance {
  std::vector<int32_t> tokens;       // [CLS] A [SEP] B [SEP], or [CLS] x [SEP]
  std::vector<uint8_t> segment_ids;  // 0 for [CLS] A [SEP], 1 for B [SEP]
  int64_t nsp_label = -100;          // 1: B is random, 0: B follows A, -100: no NSP
};

// The BERT algorithms, exposed for tests. `gen` is the only randomness.
void append_instances_from_document(const TextCorpus& corpus, int64_t doc, const MlmDataConfig& cfg,
                                    const MlmVocab& vocab, Generator& gen,
                                    std::vector<MlmInstance>& out);
// FULL-SENTENCES packing of documents [docs] in order (no NSP).
void append_packed_instances(const TextCorpus& corpus, const std::vector<int64_t>& docs,
                             const MlmDataConfig& cfg, const MlmVocab& vocab,
                             std::vector<MlmInstance>& out);
void truncate_seq_pair(std::vector<int32_t>& a, std::vector<int32_t>& b, int64_t max_num_tokens,
                       Generator& gen);
// Masks `tokens` in place; labels[i] = original id at chosen positions, -100 elsewhere.
void mask_tokens(std::vector<int32_t>& tokens, std::vector<int64_t>& labels,
                 const MlmDataConfig& cfg, const MlmVocab& vocab, Generator& gen);

// Masks and pads instances into a batch: input_ids, token_type_ids, attention_mask,
// mlm_labels (B, T) i64 and nsp_labels (B) i64.
Batch collate_mlm(const std::vector<MlmInstance>& instances, const MlmDataConfig& cfg,
                  const MlmVocab& vocab, Generator& mask_gen);

// The endless training stream over a corpus (the train split).
class MlmDataset : public DataSource {
 public:
  MlmDataset(std::shared_ptr<const TextCorpus> corpus, MlmVocab vocab, MlmDataConfig cfg);
  ~MlmDataset() override;
  MlmDataset(const MlmDataset&) = delete;
  MlmDataset& operator=(const MlmDataset&) = delete;

  Batch next_batch() override;
  // {"epoch", "window", "position", "mask_rng": [seed, offset], "num_documents",
  //  "num_tokens"} after the last batch returned.
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;  // errors on a different corpus

  int64_t epoch() const;

 private:
  struct Cursor {
    int64_t epoch = 0, window = 0, position = 0;
    Generator mask_gen;
  };
  Batch produce();  // the next batch at cursor_, advancing it
  void load_window();
  void start_worker();
  void stop_worker();
  nlohmann::json cursor_json(const Cursor& c) const;

  std::shared_ptr<const TextCorpus> corpus_;
  MlmVocab vocab_;
  MlmDataConfig cfg_;
  // Producer side (worker thread, or caller when prefetch == 0).
  Cursor cursor_;
  int64_t loaded_epoch_ = -1, loaded_window_ = -1;
  std::vector<int64_t> doc_order_;
  std::vector<MlmInstance> window_;
  // Consumer side: the position after the last batch returned.
  Cursor consumed_;
  // Prefetch queue: batches with the cursor after each. I/O-side work (reading,
  // packing, masking), not compute, so a plain thread and a bounded queue are enough.
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::pair<Batch, Cursor>> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

// The held-out split as a fixed list of batches (the same masks every time, so eval
// numbers are comparable across runs and resumes). Last batch may be smaller.
std::vector<Batch> mlm_validation_batches(const TextCorpus& corpus, const MlmVocab& vocab,
                                          const MlmDataConfig& cfg);

}  // namespace heed::train
