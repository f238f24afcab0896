// Synthetic inputs for the page generators: attention that really is softmax(q k^T / sqrt(D))
// of random queries and keys (so the neuron view's arithmetic can be checked), and a
// 1000-step training log with evaluations, gaps and a broken line.
// Shared by tests/viz (unit tests) and tests/browser (the pages the browser tests open).
#pragma once

#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "heed/base/rng.h"
#include "heed/viz/attention_page.h"
#include "heed/viz/report_page.h"

namespace heed::viz::testing {

// (H, rows, D) random vectors for each of L layers.
inline LayerStack random_vectors(Generator& g, int64_t L, int64_t H, int64_t rows, int64_t D) {
  LayerStack s{.heads = H, .rows = rows, .cols = D};
  for (int64_t l = 0; l < L; ++l) {
    std::vector<float> v(size_t(H * rows * D));
    for (auto& x : v) x = g.normal();
    s.layers.push_back(std::move(v));
  }
  return s;
}

// softmax(q k^T / sqrt(D)) per layer and head: (H, Tq, Tk).
inline LayerStack attention_of(const LayerStack& q, const LayerStack& k) {
  LayerStack a{.heads = q.heads, .rows = q.rows, .cols = k.rows};
  const int64_t D = q.cols;
  for (size_t l = 0; l < q.layers.size(); ++l) {
    std::vector<float> w(size_t(a.heads * a.rows * a.cols));
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i = 0; i < a.rows; ++i) {
        float* row = w.data() + (h * a.rows + i) * a.cols;
        double mx = -1e30;
        for (int64_t j = 0; j < a.cols; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(q.layers[l][(h * q.rows + i) * D + d]) * k.layers[l][(h * k.rows + j) * D + d];
          row[j] = float(dot / std::sqrt(double(D)));
          mx = std::max(mx, double(row[j]));
        }
        double z = 0;
        for (int64_t j = 0; j < a.cols; ++j) z += std::exp(row[j] - mx);
        for (int64_t j = 0; j < a.cols; ++j) row[j] = float(std::exp(row[j] - mx) / z);
      }
    a.layers.push_back(std::move(w));
  }
  return a;
}

// A sentence (or pair) with queries, keys and their attention.
inline AttentionPageInput self_attention_input(std::vector<std::string> tokens, int64_t L, int64_t H,
                                               int64_t D, uint64_t seed) {
  Generator g(seed);
  AttentionPageInput in;
  in.title = "heed attention (synthetic)";
  in.model_name = "synthetic";
  in.tokens = std::move(tokens);
  const int64_t T = int64_t(in.tokens.size());
  in.queries = random_vectors(g, L, H, T, D);
  in.keys = random_vectors(g, L, H, T, D);
  in.attention = attention_of(in.queries, in.keys);
  return in;
}

inline AttentionPageInput sentence_input() {
  return self_attention_input({"[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"},
                              /*L=*/4, /*H=*/6, /*D=*/8, 1);
}

// Attention with the head patterns Clark et al. 2019 ("What Does BERT Look At?") found in
// BERT: previous token, next token, [CLS], [SEP], same word, broad, and self. Logits
// pattern + noise are written as q_i . k_j / sqrt(D) with D = T: q_i = sqrt(D) * logits_i,
// k_j = e_j, both turned by one random rotation, so the neuron view's arithmetic is exact
// and the vectors look like a model's (dense) rather than one-hot.
inline AttentionPageInput structured_input(std::vector<std::string> tokens, int64_t L, int64_t H,
                                           uint64_t seed) {
  Generator g(seed);
  AttentionPageInput in;
  in.title = "heed attention (synthetic)";
  in.model_name = "synthetic, BERT-like head patterns";
  in.tokens = std::move(tokens);
  const int64_t T = int64_t(in.tokens.size()), D = T;
  // A random rotation R (Gram-Schmidt of a Gaussian matrix).
  std::vector<double> R(size_t(D * D));
  for (auto& x : R) x = g.normal();
  for (int64_t r = 0; r < D; ++r) {
    for (int64_t p = 0; p < r; ++p) {
      double dot = 0;
      for (int64_t c = 0; c < D; ++c) dot += R[r * D + c] * R[p * D + c];
      for (int64_t c = 0; c < D; ++c) R[r * D + c] -= dot * R[p * D + c];
    }
    double n = 0;
    for (int64_t c = 0; c < D; ++c) n += R[r * D + c] * R[r * D + c];
    for (int64_t c = 0; c < D; ++c) R[r * D + c] /= std::sqrt(n);
  }
  in.queries = {.heads = H, .rows = T, .cols = D};
  in.keys = {.heads = H, .rows = T, .cols = D};
  for (int64_t l = 0; l < L; ++l) {
    std::vector<float> q(size_t(H * T * D)), k(size_t(H * T * D));
    for (int64_t h = 0; h < H; ++h) {
      const int64_t pattern = (h + 3 * l) % 7;
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> logit(static_cast<size_t>(T));
        for (int64_t j = 0; j < T; ++j) {
          const std::string& tj = in.tokens[size_t(j)];
          bool hit = false;
          switch (pattern) {
            case 0: hit = j == i - 1; break;
            case 1: hit = j == i + 1; break;
            case 2: hit = tj == "[CLS]"; break;
            case 3: hit = tj == "[SEP]"; break;
            case 4: hit = tj == in.tokens[size_t(i)] || tj == "."; break;
            case 5: hit = false; break;
            default: hit = j == i;
          }
          logit[size_t(j)] = (hit ? 4.0 : 0.0) + 0.6 * g.normal();
        }
        for (int64_t c = 0; c < D; ++c) {
          double qc = 0;
          for (int64_t j = 0; j < T; ++j) qc += std::sqrt(double(D)) * logit[size_t(j)] * R[j * D + c];
          const double kc = R[i * D + c];  // k_i = e_i R
          q[size_t((h * T + i) * D + c)] = float(qc);
          k[size_t((h * T + i) * D + c)] = float(kc);
        }
      }
    }
    in.queries.layers.push_back(std::move(q));
    in.keys.layers.push_back(std::move(k));
  }
  in.attention = attention_of(in.queries, in.keys);
  return in;
}

inline AttentionPageInput pair_input() {
  auto in = structured_input({"[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]",
                              "it", "was", "very", "tired", ".", "[SEP]"},
                             /*L=*/6, /*H=*/8, 2);
  in.sentence_b_start = 9;
  return in;
}

inline AttentionPageInput cross_input() {
  Generator g(3);
  AttentionPageInput in;
  in.title = "heed attention (synthetic encoder-decoder)";
  in.src_tokens = {"[CLS]", "le", "chat", "est", "assis", ".", "[SEP]"};
  in.tgt_tokens = {"the", "cat", "is", "sitting", "."};
  const int64_t L = 2, H = 4, D = 8, S = 7, T = 5;
  const LayerStack qs = random_vectors(g, L, H, S, D), ks = random_vectors(g, L, H, S, D);
  const LayerStack qt = random_vectors(g, L, H, T, D), kt = random_vectors(g, L, H, T, D);
  in.encoder_attention = attention_of(qs, ks);
  in.decoder_attention = attention_of(qt, kt);
  in.cross_attention = attention_of(qt, ks);
  return in;
}

// metrics.jsonl of a `steps`-step run: a training record every step (loss, lr,
// grad_norm, tokens_per_s, elapsed), an evaluation record ("eval": true; loss, accuracy)
// every 100 steps, grad_norm NaN (as Python writes it) on every 250th step, one blank and
// one broken line.
inline std::string synthetic_metrics(int64_t steps) {
  std::string out;
  for (int64_t s = 1; s <= steps; ++s) {
    const double loss = 2.3 * std::exp(-double(s) / 300.0) + 0.25 + 0.05 * std::sin(double(s) * 0.7);
    const double lr = s <= 100 ? 1e-3 * double(s) / 100.0 : 1e-3 * double(steps - s) / double(steps - 100);
    const std::string grad = s % 250 == 0 ? "NaN" : fmt::format("{:.4f}", 1.0 + 0.5 * std::cos(double(s) * 0.05));
    out += fmt::format(R"({{"step": {}, "loss": {:.5f}, "lr": {:.3e}, "grad_norm": {}, "tokens_per_s": {:.1f}, "elapsed": {:.3f}}})",
                       s, loss, lr, grad, 5000.0 + 300.0 * std::sin(double(s) * 0.01), 0.05 * double(s));
    out += "\n";
    if (s % 100 == 0)
      out += fmt::format(R"({{"step": {}, "eval": true, "loss": {:.5f}, "accuracy": {:.4f}}})", s,
                         loss + 0.1, 1.0 - 0.6 * std::exp(-double(s) / 250.0)) + "\n";
    if (s == 500) out += "\n{\"step\": 500, \"loss\": oops}\n";
  }
  return out;
}

inline nlohmann::json synthetic_eval() {
  return {{"accuracy", 0.8333},
          {"macro_f1", 0.8254},
          {"labels", {"negative", "neutral", "positive"}},
          {"confusion_matrix", {{50, 6, 4}, {8, 30, 12}, {2, 3, 65}}},
          {"per_class",
           {{"negative", {{"precision", 0.8333}, {"recall", 0.8333}, {"f1", 0.8333}, {"support", 60}}},
            {"neutral", {{"precision", 0.7692}, {"recall", 0.6}, {"f1", 0.6742}, {"support", 50}}},
            {"positive", {{"precision", 0.8025}, {"recall", 0.9286}, {"f1", 0.8609}, {"support", 70}}}}}};
}

inline nlohmann::json synthetic_config() {
  return {{"model_type", "bert"}, {"hidden_size", 256}, {"num_hidden_layers", 4},
          {"num_attention_heads", 4}, {"intermediate_size", 1024}, {"vocab_size", 30522},
          {"id2label", {{"0", "negative"}, {"1", "neutral"}, {"2", "positive"}}}};
}

inline nlohmann::json synthetic_run_config() {
  return {{"task", "sst3"}, {"epochs", 3}, {"batch_size", 32}, {"lr", 1e-3}, {"warmup_steps", 100},
          {"weight_decay", 0.01}, {"seed", 0}, {"optimizer", {{"name", "adamw"}, {"betas", {0.9, 0.999}}}}};
}

}  // namespace heed::viz::testing
