// Fixtures for the task tests: a tiny random BERT model directory (hidden 32, 2 layers,
// 2 heads) with a small word vocabulary, and synthetic, separable text datasets.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/models/bert_pretrained.h"
#include "heed/tokenizers/vocab.h"
#include "tests/train/train_test_util.h"

namespace heed::testing {

// One thread for the scope: the tiny models' ops are too small to split, so OpenMP's
// fork/join per op dominates (and spins badly when the machine is busy).
class SingleThread {
 public:
  SingleThread() : prev_(num_threads()) { set_num_threads(1); }
  ~SingleThread() { set_num_threads(prev_); }
  SingleThread(const SingleThread&) = delete;
  SingleThread& operator=(const SingleThread&) = delete;

 private:
  int prev_;
};

inline const std::vector<std::string>& tiny_words() {
  static const std::vector<std::string> w = {
      "the",   "a",    "movie", "film", "was",  "is",    "really", "very",  "plot",
      "actor", "good", "great", "bad",  "awful", "okay", "fine",   "story", "music",
      "and",   "but",  "it",    "this", "one",  "two",   "three",  "four",  "scene"};
  return w;
}

// A BertForMaskedLM directory (as a pretraining run leaves it): config.json,
// model.safetensors, vocab.txt.
inline std::string write_tiny_bert(const std::string& dir, uint64_t seed = 7) {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const auto& w : tiny_words()) vocab += w + "\n";
  models::BertConfig cfg;
  cfg.vocab_size = 5 + int64_t(tiny_words().size());
  cfg.hidden_size = 32;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 2;
  cfg.intermediate_size = 64;
  cfg.max_position_embeddings = 64;
  Generator gen(seed);
  auto m = models::make_bert(cfg, models::BertHead::MaskedLM, gen);
  models::bert_save_pretrained(*m, dir);
  std::ofstream(dir + "/vocab.txt", std::ios::binary) << vocab;
  return dir;
}

// The tiny BERT as a BertForSequenceClassification directory labelled neg/pos, with
// random weights; classifier_scale scales the classifier's weights (large values keep
// the logits away from zero).
inline std::string write_tiny_classifier(const std::string& dir, float classifier_scale = 1.0f) {
  write_tiny_bert(dir);
  models::BertConfig cfg = models::BertConfig::from_file(dir + "/config.json");
  cfg.num_labels = 2;
  cfg.id2label = {{0, "neg"}, {1, "pos"}};
  Generator gen(11);
  auto m = models::make_bert(cfg, models::BertHead::SequenceClassification, gen);
  for (auto& [k, t] : m->named_parameters())
    if (k == "classifier.weight") {
      float* w = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) w[i] *= classifier_scale;
    }
  models::bert_save_pretrained(*m, dir);
  return dir;
}

// Rows "text,label" of random filler words around one marker word: good/great -> "pos",
// bad/awful -> "neg" (and okay/fine -> "meh" with three classes).
inline std::string sentiment_csv(int64_t n, uint64_t seed, int classes = 2,
                                 const std::string& header = "text,label") {
  static const char* filler[] = {"the", "a", "movie", "film", "was", "is", "really", "very",
                                 "plot", "actor", "story", "music", "and", "it", "this", "scene"};
  static const char* markers[3][2] = {{"good", "great"}, {"bad", "awful"}, {"okay", "fine"}};
  static const char* names[3] = {"pos", "neg", "meh"};
  Generator g(seed);
  std::string out = header + "\n";
  for (int64_t i = 0; i < n; ++i) {
    const int c = int(g.randint(uint64_t(classes)));
    const int64_t len = 3 + int64_t(g.randint(6));
    const int64_t at = int64_t(g.randint(uint64_t(len)));
    std::string text;
    for (int64_t k = 0; k < len; ++k) {
      if (!text.empty()) text += ' ';
      text += k == at ? markers[c][g.randint(2)] : filler[g.randint(16)];
    }
    out += text + "," + names[c] + "\n";
  }
  return out;
}

// Rows "text,label": the label is the number of "good" words minus the number of "bad"
// words, among filler words.
inline std::string counting_csv(int64_t n, uint64_t seed) {
  static const char* filler[] = {"the", "movie", "was", "plot", "and", "it", "scene", "music"};
  Generator g(seed);
  std::string out = "text,label\n";
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = 3 + int64_t(g.randint(6));
    std::string text;
    int score = 0;
    for (int64_t k = 0; k < len; ++k) {
      if (!text.empty()) text += ' ';
      const uint64_t r = g.randint(4);
      if (r == 0) {
        text += "good";
        ++score;
      } else if (r == 1) {
        text += "bad";
        --score;
      } else {
        text += filler[g.randint(8)];
      }
    }
    out += text + "," + std::to_string(score) + "\n";
  }
  return out;
}

}  // namespace heed::testing
