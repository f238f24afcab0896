#include "heed/infer/bert_engine.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/kernels/activation.h"
#include "heed/kernels/attention.h"
#include "heed/kernels/attention_bf16.h"
#include "heed/kernels/infer_rowwise.h"
#include "heed/kernels/layer_norm.h"

namespace heed::infer {

using kernels::LinearAct;
using kernels::LinearPrecision;
using kernels::PackedLinear;
using kernels::PackedLinearConfig;

Precision parse_precision(std::string_view name) {
  if (name == "f32" || name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "int8") return Precision::Int8;
  HEED_FAIL("unknown precision \"{}\" (expected f32, bf16 or int8)", name);
}

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "f32";
    case Precision::BF16: return "bf16";
    case Precision::Int8: return "int8";
  }
  return "?";
}

namespace {

LinearPrecision linear_precision(Precision p) {
  switch (p) {
    case Precision::F32: return LinearPrecision::F32;
    case Precision::BF16: return LinearPrecision::BF16;
    case Precision::Int8: return LinearPrecision::Int8;
  }
  return LinearPrecision::F32;
}

std::vector<float> to_vec(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

// Grows a buffer to n elements (never shrinks): the arena of one engine.
template <class T>
T* grow(std::vector<T>& v, int64_t n) {
  if (int64_t(v.size()) < n) v.resize(size_t(n));
  return v.data();
}

}  // namespace

struct BertEngine::Layer {
  PackedLinear qkv, out, up, down;
  std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
};

struct BertEngine::Buffers {
  std::vector<float> x, qkv, q, k, v, ctx, merged, lse, inter, mask_bias;
  std::vector<uint16_t> xb, mb, ib;          // bf16 GEMM inputs
  std::vector<uint8_t> xq, mq, iq, key_mask;  // u8 GEMM inputs
  std::vector<float> xs, ms, is;              // their per-row scales
  std::vector<int32_t> xz, mz, iz, acc;       // zero points, s32 accumulators
};

BertEngine::~BertEngine() = default;
BertEngine::BertEngine(BertEngine&&) noexcept = default;
BertEngine& BertEngine::operator=(BertEngine&&) noexcept = default;

BertEngine::BertEngine(const models::BertConfig& cfg, const WeightSource& src,
                       const BertEngineOptions& opt)
    : cfg_(cfg), opt_(opt), buf_(std::make_unique<Buffers>()) {
  cfg.validate("BertEngine");
  HEED_CHECK(cfg.hidden_act == "gelu",
             "BertEngine: only hidden_act \"gelu\" is supported on the fast path, got \"{}\"",
             cfg.hidden_act);
  const int64_t C = cfg.hidden_size, F = cfg.intermediate_size;
  auto get = [&](const std::string& key, const Shape& shape) {
    Tensor t = src(key, shape);
    HEED_CHECK(t.defined(), "BertEngine: weight {} is missing", key);
    HEED_CHECK(t.shape() == shape && t.dtype() == DType::F32,
               "BertEngine: weight {} is {} {}, expected f32 {}", key, t.dtype(), t.shape(), shape);
    return t.contiguous();
  };
  word_ = to_vec(get("embeddings.word_embeddings.weight", Shape{cfg.vocab_size, C}));
  position_ = to_vec(get("embeddings.position_embeddings.weight",
                         Shape{cfg.max_position_embeddings, C}));
  token_type_ = to_vec(get("embeddings.token_type_embeddings.weight", Shape{cfg.type_vocab_size, C}));
  emb_ln_w_ = to_vec(get("embeddings.LayerNorm.weight", Shape{C}));
  emb_ln_b_ = to_vec(get("embeddings.LayerNorm.bias", Shape{C}));
  const LinearPrecision lp = linear_precision(opt.precision);
  const bool bf16 = opt.precision == Precision::BF16;
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    // q, k and v stacked into one (3C, C) weight: one GEMM instead of three.
    std::vector<float> wqkv(size_t(3 * C * C)), bqkv(size_t(3 * C));
    const char* names[3] = {"query", "key", "value"};
    for (int j = 0; j < 3; ++j) {
      const Tensor w = get(p + "attention.self." + names[j] + ".weight", Shape{C, C});
      const Tensor b = get(p + "attention.self." + names[j] + ".bias", Shape{C});
      std::memcpy(wqkv.data() + j * C * C, w.data<float>(), size_t(C * C) * sizeof(float));
      std::memcpy(bqkv.data() + j * C, b.data<float>(), size_t(C) * sizeof(float));
    }
    auto lin = [&](const std::string& name, int64_t in, int64_t out, LinearAct act, bool acc,
                   bool b16out) {
      const Tensor w = get(p + name + ".weight", Shape{out, in});
      const Tensor b = get(p + name + ".bias", Shape{out});
      return PackedLinear(w.data<float>(), b.data<float>(),
                          {.in = in, .out = out, .precision = lp, .act = act, .accumulate = acc,
                           .bf16_out = b16out});
    };
    Layer L{
        .qkv = PackedLinear(wqkv.data(), bqkv.data(),
                            {.in = C, .out = 3 * C, .precision = lp}),
        .out = lin("attention.output.dense", C, C, LinearAct::None, true, false),
        .up = lin("intermediate.dense", C, F, LinearAct::Gelu, false, bf16),
        .down = lin("output.dense", F, C, LinearAct::None, true, false),
        .ln1_w = to_vec(get(p + "attention.output.LayerNorm.weight", Shape{C})),
        .ln1_b = to_vec(get(p + "attention.output.LayerNorm.bias", Shape{C})),
        .ln2_w = to_vec(get(p + "output.LayerNorm.weight", Shape{C})),
        .ln2_b = to_vec(get(p + "output.LayerNorm.bias", Shape{C})),
    };
    layers_.push_back(std::move(L));
  }
  if (opt.pooler) {
    const Tensor w = src("pooler.dense.weight", Shape{C, C});
    if (w.defined()) {
      const Tensor b = get("pooler.dense.bias", Shape{C});
      const Tensor wc = get("pooler.dense.weight", Shape{C, C});
      // The pooler sees B rows only: f32 whatever the precision.
      pooler_ = std::make_unique<PackedLinear>(wc.data<float>(), b.data<float>(),
                                               PackedLinearConfig{.in = C, .out = C});
    }
  }
}

BertEngine BertEngine::from_model(const models::BertModel& model, const BertEngineOptions& opt) {
  BertEngineOptions o = opt;
  o.pooler = opt.pooler && model.has_pooler();
  return BertEngine(model.config(), model_weights(model), o);
}

bool BertEngine::has_pooler() const { return pooler_ != nullptr; }

const PackedLinear& BertEngine::linear(int64_t layer, int which) const {
  const Layer& L = layers_.at(size_t(layer));
  switch (which) {
    case 0: return L.qkv;
    case 1: return L.out;
    case 2: return L.up;
    default: return L.down;
  }
}

int64_t BertEngine::weight_bytes() const {
  int64_t n = int64_t(word_.size() + position_.size() + token_type_.size()) * 4;
  for (const Layer& L : layers_)
    n += L.qkv.weight_bytes() + L.out.weight_bytes() + L.up.weight_bytes() +
         L.down.weight_bytes() + 4 * 4 * cfg_.hidden_size;
  if (pooler_) n += pooler_->weight_bytes();
  return n;
}

bool BertEngine::attention_in_bf16() const {
  return opt_.precision != Precision::F32 && opt_.attention_bf16 &&
         kernels::attention_bf16_supported(cfg_.hidden_size / cfg_.num_attention_heads);
}

void BertEngine::forward(float* hidden, float* pooled, const int64_t* ids, const uint8_t* mask,
                         const int64_t* token_type, int64_t B, int64_t T) {
  const int64_t C = cfg_.hidden_size, H = cfg_.num_attention_heads, D = C / H;
  const int64_t F = cfg_.intermediate_size, M = B * T;
  HEED_CHECK(T > 0 && T <= cfg_.max_position_embeddings,
             "BertEngine: sequence length {} must be in [1, {}]", T, cfg_.max_position_embeddings);
  for (int64_t i = 0; i < M; ++i) {
    HEED_CHECK(ids[i] >= 0 && ids[i] < cfg_.vocab_size, "BertEngine: input id {} is outside [0, {})",
               ids[i], cfg_.vocab_size);
    HEED_CHECK(!token_type || (token_type[i] >= 0 && token_type[i] < cfg_.type_vocab_size),
               "BertEngine: token_type_id {} is outside [0, {})", token_type[i],
               cfg_.type_vocab_size);
  }
  Buffers& b = *buf_;
  const Precision prec = opt_.precision;
  float* x = hidden;  // the residual stream lives in the output buffer
  float* qkv = grow(b.qkv, M * 3 * C);
  // bf16 and int8: attention with bf16 products, read from and written to token-major rows;
  // the f32 kernel needs (B, H, T, D) copies of q, k, v and its output.
  const bool attention_bf16 = attention_in_bf16();
  float* q = attention_bf16 ? nullptr : grow(b.q, M * C);
  float* k = attention_bf16 ? nullptr : grow(b.k, M * C);
  float* v = attention_bf16 ? nullptr : grow(b.v, M * C);
  float* ctx = attention_bf16 ? nullptr : grow(b.ctx, M * C);
  float* lse = attention_bf16 ? nullptr : grow(b.lse, B * H * T);
  float* merged = grow(b.merged, M * C);
  uint16_t* xb = prec == Precision::BF16 ? grow(b.xb, M * C) : nullptr;

  // Embeddings, in HF's order (word + token_type) + position, then LayerNorm.
  parallel_for(M, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* w = word_.data() + ids[r] * C;
      const float* tt = token_type_.data() + (token_type ? token_type[r] : 0) * C;
      const float* pe = position_.data() + (r % T) * C;
      float* o = x + r * C;
      for (int64_t c = 0; c < C; ++c) o[c] = (w[c] + tt[c]) + pe[c];
    }
  });
  const float eps = float(cfg_.layer_norm_eps);
  kernels::layer_norm_inplace_forward(x, xb, emb_ln_w_.data(), emb_ln_b_.data(), M, C, eps);

  // The key-padding mask; a row with no key at all gets HF's additive finfo.min mask
  // instead (it then attends uniformly, as in HF), as models::bert_attention_mask does.
  kernels::AttentionParams ap{.B = B, .H = H, .T = T, .S = T, .D = D,
                              .scale = 1.0f / std::sqrt(float(D))};
  if (mask) {
    bool empty_row = false;
    for (int64_t bi = 0; bi < B && !empty_row; ++bi) {
      bool any = false;
      for (int64_t s = 0; s < T; ++s) any |= mask[bi * T + s] != 0;
      empty_row = !any;
    }
    if (!empty_row) {
      ap.key_mask = mask;
    } else {
      float* mb = grow(b.mask_bias, M);
      for (int64_t i = 0; i < M; ++i)
        mb[i] = mask[i] ? 0.0f : std::numeric_limits<float>::lowest();
      ap.bias = mb;
      ap.bias_sb = T;
    }
  }

  // GEMM helpers per precision. `in` is the f32 activation; its bf16 / u8 form is made
  // here unless the caller already has it (bf16 LayerNorm outputs).
  // Int8: per-row u8 activations (quantize_rows_u8) and the GEMMs' s32 scratch.
  struct U8Rows {
    uint8_t* q;
    float* scale;
    int32_t* zp;
  };
  auto quantize = [&](const float* in, int64_t K) {
    const U8Rows u{grow(b.mq, M * K), grow(b.ms, M), grow(b.mz, M)};
    kernels::quantize_rows_u8(u.q, u.scale, u.zp, in, M, K);
    return u;
  };
  auto int8_acc = [&] { return grow(b.acc, M * std::max(3 * C, F)); };
  auto run = [&](const PackedLinear& lin, float* out, const float* in, int64_t K,
                 const uint16_t* in_b16) {
    switch (prec) {
      case Precision::F32: lin.forward(out, in, M); break;
      case Precision::BF16: {
        if (!in_b16) {
          uint16_t* tmp = grow(b.mb, M * K);
          kernels::f32_to_bf16(tmp, in, M * K);
          in_b16 = tmp;
        }
        lin.forward(out, in_b16, M);
        break;
      }
      case Precision::Int8: {
        const U8Rows u = quantize(in, K);
        lin.forward_int8(out, u.q, u.scale, u.zp, int8_acc(), M);
        break;
      }
    }
  };

  const kernels::TokenAttentionParams tap{.B = B, .H = H, .T = T, .D = D, .scale = ap.scale,
                                          .key_mask = mask, .ldq = 3 * C, .ldk = 3 * C,
                                          .ldv = 3 * C, .ldo = C};
  // f32: split the QKV rows into (B, H, T, D) heads, the fused f32 kernel, merge back.
  auto attention_f32 = [&](const float* qkv_rows, float* out_rows) {
    // (B, T, 3, H, D) -> three (B, H, T, D)
    parallel_for(M, 3 * C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / T, t = r % T;
        const float* row = qkv_rows + r * 3 * C;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t o = ((bi * H + h) * T + t) * D;
          std::memcpy(q + o, row + h * D, size_t(D) * sizeof(float));
          std::memcpy(k + o, row + C + h * D, size_t(D) * sizeof(float));
          std::memcpy(v + o, row + 2 * C + h * D, size_t(D) * sizeof(float));
        }
      }
    });
    kernels::attention_forward(ctx, lse, q, k, v, ap);  // (B, H, T, D)
    parallel_for(M, C, [&](int64_t r0, int64_t r1) {   // -> (B, T, C)
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / T, t = r % T;
        for (int64_t h = 0; h < H; ++h)
          std::memcpy(out_rows + r * C + h * D, ctx + ((bi * H + h) * T + t) * D,
                      size_t(D) * sizeof(float));
      }
    });
  };

  for (const Layer& L : layers_) {
    run(L.qkv, qkv, x, C, xb);  // (M, 3C)
    if (attention_bf16) {
      kernels::attention_forward_bf16(merged, qkv, qkv + C, qkv + 2 * C, tap);  // (B, T, C)
    } else {
      attention_f32(qkv, merged);
    }
    run(L.out, x, merged, C, nullptr);  // x += merged Wo^T + bo
    kernels::layer_norm_inplace_forward(x, xb, L.ln1_w.data(), L.ln1_b.data(), M, C, eps);
    if (prec == Precision::BF16) {
      uint16_t* ib = grow(b.ib, M * F);
      L.up.forward(ib, xb, M);  // gelu(x Wi^T + bi), written as bf16
      L.down.forward(x, ib, M);
    } else if (prec == Precision::Int8 && opt_.fuse_int8_quantize) {
      // gelu(x Wi^T + bi) goes straight to u8 rows for the down-projection: no f32 (M, F).
      const U8Rows u = quantize(x, C);
      const U8Rows inter{grow(b.iq, M * F), grow(b.is, M), grow(b.iz, M)};
      L.up.forward_int8_quantized(inter.q, inter.scale, inter.zp, u.q, u.scale, u.zp, int8_acc(), M);
      L.down.forward_int8(x, inter.q, inter.scale, inter.zp, int8_acc(), M);
    } else {
      float* inter = grow(b.inter, M * F);
      run(L.up, inter, x, C, nullptr);
      run(L.down, x, inter, F, nullptr);
    }
    kernels::layer_norm_inplace_forward(x, xb, L.ln2_w.data(), L.ln2_b.data(), M, C, eps);
  }

  if (pooled && pooler_) {  // tanh(dense(h[:, 0]))
    float* first = grow(b.merged, 2 * B * C);
    float* dense = first + B * C;
    for (int64_t bi = 0; bi < B; ++bi)
      std::memcpy(first + bi * C, x + bi * T * C, size_t(C) * sizeof(float));
    pooler_->forward(dense, first, B);
    kernels::tanh_forward(pooled, dense, B * C);
  }
}

models::BertOutput BertEngine::forward(const models::BertInputs& in) {
  const Tensor& ids = in.input_ids;
  HEED_CHECK(ids.defined() && ids.ndim() == 2 && ids.size(1) > 0,
             "BertEngine: input_ids must be (B, T) with T > 0, got {}",
             ids.defined() ? fmt::format("{}", ids.shape()) : "none");
  const int64_t B = ids.size(0), T = ids.size(1), C = cfg_.hidden_size;
  HEED_CHECK(!in.position_ids.defined(), "BertEngine: custom position_ids are not supported");
  const std::vector<int64_t> id = ids.to_ids();
  std::vector<int64_t> tt;
  if (in.token_type_ids.defined()) {
    HEED_CHECK(in.token_type_ids.shape() == ids.shape(),
               "BertEngine: token_type_ids {} must match input_ids {}", in.token_type_ids.shape(),
               ids.shape());
    tt = in.token_type_ids.to_ids();
  }
  std::vector<uint8_t> mask;
  if (in.attention_mask.defined()) {
    HEED_CHECK(in.attention_mask.shape() == ids.shape(),
               "BertEngine: attention_mask {} must match input_ids {}", in.attention_mask.shape(),
               ids.shape());
    for (float m : in.attention_mask.to_vector()) mask.push_back(m != 0.0f);
  }
  models::BertOutput out;
  out.last_hidden_state = Tensor::empty(Shape{B, T, C});
  if (pooler_) out.pooler_output = Tensor::empty(Shape{B, C});
  forward(out.last_hidden_state.data<float>(),
          pooler_ ? out.pooler_output.data<float>() : nullptr, id.data(),
          mask.empty() ? nullptr : mask.data(), tt.empty() ? nullptr : tt.data(), B, T);
  return out;
}

WeightSource random_bert_weights(const models::BertConfig& cfg, uint64_t seed) {
  const float std_dev = float(cfg.initializer_range);
  return [std_dev, seed](const std::string& key, const Shape& shape) -> Tensor {
    auto ends_with = [&](std::string_view s) {
      return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with("LayerNorm.weight")) return Tensor::full(shape, 1.0f);
    if (ends_with("bias")) return Tensor::zeros(shape);
    Generator gen(seed + std::hash<std::string>{}(key));
    return Tensor::randn(shape, gen, 0.0f, std_dev);
  };
}

WeightSource model_weights(const nn::Module& model) {
  auto params = std::make_shared<std::map<std::string, Tensor>>();
  for (auto& [name, t] : model.named_parameters()) (*params)[name] = t;
  return [params](const std::string& key, const Shape& shape) -> Tensor {
    auto it = params->find(key);
    if (it == params->end()) return Tensor();
    return it->second.detach().contiguous();
  };
}

}  // namespace heed::infer
