#include "heed/ops/linear.h"

#include <cstring>

#include "heed/autograd/node.h"
#include "heed/base/parallel.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/gemm_bf16.h"
#include "heed/kernels/infer_rowwise.h"
#include "heed/ops/autocast.h"
#include "heed/ops/elementwise.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct LinearBackward : Node {
  Tensor x2d, weight;  // x (N, in) contiguous, weight (out, in) contiguous
  Shape x_shape;
  const char* name() const override { return "linear"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const int64_t N = x2d.size(0), in = x2d.size(1), out = weight.size(0);
    const Tensor gc = g[0].contiguous();  // (N, out)
    const float* pg = gc.data<float>();
    std::vector<Tensor> r(3);
    if (needs_input_grad(0)) {  // dx = g @ W
      r[0] = Tensor::empty(x_shape);
      kernels::gemm(false, false, N, in, out, 1.0f, pg, out, weight.data<float>(), in, 0.0f,
                    r[0].data<float>(), in);
    }
    if (needs_input_grad(1)) {  // dW = g^T @ x
      r[1] = Tensor::empty(weight.shape());
      kernels::gemm(true, false, out, in, N, 1.0f, pg, out, x2d.data<float>(), in, 0.0f,
                    r[1].data<float>(), in);
    }
    if (needs_input_grad(2)) r[2] = sum_to_shape(gc.as_strided(Shape{N, out}, {out, 1}, gc.offset()),
                                                 Shape{out});
    return r;
  }
};

const uint16_t* bits(const Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data<bf16>()); }

// A contiguous f32 tensor's elements rounded to bf16 (nearest even), as `shape`.
Tensor to_bf16_bits(const Tensor& f, const Shape& shape) {
  Tensor b = Tensor::empty(shape, DType::BF16);
  kernels::f32_to_bf16(reinterpret_cast<uint16_t*>(b.data<bf16>()), f.data<float>(),
                       shape.numel());
  return b;
}

// Under Autocast(BF16): x and weight were multiplied as bf16; the gradients are too.
struct LinearBf16Backward : Node {
  Tensor xb, wb;  // bf16 copies: x (N, in), weight (out, in)
  Shape x_shape;
  const char* name() const override { return "linear_bf16"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const int64_t N = xb.size(0), in = xb.size(1), out = wb.size(0);
    const Tensor gc = g[0].contiguous();  // (N, out)
    const Tensor gb = to_bf16_bits(gc, Shape{N, out});
    std::vector<Tensor> r(3);
    if (needs_input_grad(0)) {  // dx = g @ W
      r[0] = Tensor::empty(x_shape);
      kernels::gemm_bf16(false, false, N, in, out, 1.0f, bits(gb), out, bits(wb), in, 0.0f,
                         r[0].data<float>(), in);
    }
    if (needs_input_grad(1)) {  // dW = g^T @ x
      r[1] = Tensor::empty(Shape{out, in});
      kernels::gemm_bf16(true, false, out, in, N, 1.0f, bits(gb), out, bits(xb), in, 0.0f,
                         r[1].data<float>(), in);
    }
    if (needs_input_grad(2)) r[2] = sum_to_shape(gc.as_strided(Shape{N, out}, {out, 1}, gc.offset()),
                                                 Shape{out});
    return r;
  }
};

struct MatmulBackward : Node {
  Tensor a, b;  // broadcast-expanded, contiguous: (batch, M, K), (batch or 1, K, N)
  Shape a_shape, b_shape;
  int64_t batch = 1, M = 0, K = 0, N = 0;
  bool b_shared = false;  // b is 2-D, shared by all batches
  const char* name() const override { return "matmul"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();  // (batch, M, N)
    std::vector<Tensor> r(2);
    if (needs_input_grad(0)) {  // da = g @ b^T
      Tensor da = Tensor::empty(Shape{batch, M, K});
      kernels::gemm_batched(batch, false, true, M, K, N, 1.0f, gc.data<float>(), N, M * N,
                            b.data<float>(), N, b_shared ? 0 : K * N, 0.0f, da.data<float>(), K,
                            M * K);
      r[0] = sum_to_shape(da.as_strided(expanded_a(), contiguous_strides(expanded_a()), 0), a_shape);
    }
    if (needs_input_grad(1)) {
      if (b_shared) {  // db = sum_i a_i^T g_i = A^T G with A (batch*M, K)
        Tensor db = Tensor::empty(Shape{K, N});
        kernels::gemm(true, false, K, N, batch * M, 1.0f, a.data<float>(), K, gc.data<float>(), N,
                      0.0f, db.data<float>(), N);
        r[1] = db;
      } else {
        Tensor db = Tensor::empty(Shape{batch, K, N});
        kernels::gemm_batched(batch, true, false, K, N, M, 1.0f, a.data<float>(), K, M * K,
                              gc.data<float>(), N, M * N, 0.0f, db.data<float>(), N, K * N);
        r[1] = sum_to_shape(db.as_strided(expanded_b(), contiguous_strides(expanded_b()), 0),
                            b_shape);
      }
    }
    return r;
  }
  Shape out_batch;
  Shape expanded_a() const {
    Shape s = out_batch;
    s.push_back(M);
    s.push_back(K);
    return s;
  }
  Shape expanded_b() const {
    Shape s = out_batch;
    s.push_back(K);
    s.push_back(N);
    return s;
  }
};

// Materialise t broadcast to `shape` as a contiguous tensor (no copy when it already is).
Tensor expand_contiguous(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t.contiguous();
  Tensor out = Tensor::empty(shape);
  out.copy_(t.as_strided(shape, broadcast_strides(t, shape), t.offset()));
  return out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  HEED_CHECK(x.dtype() == DType::F32 && weight.dtype() == DType::F32,
             "linear: expected f32 input and weight, got {} and {}", x.dtype(), weight.dtype());
  HEED_CHECK(weight.ndim() == 2, "linear: weight must be 2-D (out, in), got {}", weight.shape());
  HEED_CHECK(x.ndim() >= 1 && x.size(-1) == weight.size(1),
             "linear: input {} does not match weight {} (last dim must be {})", x.shape(),
             weight.shape(), weight.size(1));
  const int64_t in = weight.size(1), out_f = weight.size(0);
  HEED_CHECK(!bias.defined() || bias.shape() == Shape{out_f},
             "linear: bias shape {} does not match weight {}",
             bias.defined() ? bias.shape() : Shape{}, weight.shape());
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
  const int64_t N = in ? xc.numel() / in : 0;
  std::vector<int64_t> od = x.shape().dims();
  od.back() = out_f;
  Tensor out = Tensor::empty(Shape(od));
  float beta = 0.0f;
  if (bias.defined()) {  // C starts as the broadcast bias, then C += x W^T
    const Tensor bc = bias.contiguous();
    float* o = out.data<float>();
    const float* pb = bc.data<float>();
    // Parallel: for an MLM decoder this is (tokens x vocab), hundreds of MB.
    parallel_for(N, out_f, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::memcpy(o + r * out_f, pb, size_t(out_f) * sizeof(float));
    });
    beta = 1.0f;
  }
  if (matmul_precision() == MatmulPrecision::BF16) {
    Tensor xb = to_bf16_bits(xc, Shape{N, in});
    Tensor wb = to_bf16_bits(wc, Shape{out_f, in});
    kernels::gemm_bf16(false, true, N, out_f, in, 1.0f, bits(xb), in,
                       bits(wb), in, beta, out.data<float>(), out_f);
    if (autograd::needs_grad({x, weight, bias})) {
      auto n = std::make_shared<LinearBf16Backward>();
      n->xb = std::move(xb);
      n->wb = std::move(wb);
      n->x_shape = x.shape();
      autograd::connect(n, {x, weight, bias}, {&out});
    }
    return out;
  }
  kernels::gemm(false, true, N, out_f, in, 1.0f, xc.data<float>(), in, wc.data<float>(), in, beta,
                out.data<float>(), out_f);
  if (autograd::needs_grad({x, weight, bias})) {
    auto n = std::make_shared<LinearBackward>();
    n->x2d = xc.as_strided(Shape{N, in}, {in, 1}, xc.offset()).detach();
    n->weight = wc.detach();
    n->x_shape = x.shape();
    autograd::connect(n, {x, weight, bias}, {&out});
  }
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  HEED_CHECK(a.dtype() == DType::F32 && b.dtype() == DType::F32,
             "matmul: expected f32 tensors, got {} and {}", a.dtype(), b.dtype());
  HEED_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: needs >= 2-D operands, got {} and {}",
             a.shape(), b.shape());
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  HEED_CHECK(b.size(-2) == K, "matmul: inner dims differ: {} @ {}", a.shape(), b.shape());
  const Shape ab(std::vector<int64_t>(a.shape().begin(), a.shape().end() - 2));
  const Shape bb(std::vector<int64_t>(b.shape().begin(), b.shape().end() - 2));
  const Shape batch_shape = broadcast_shapes(ab, bb, "matmul");
  const int64_t batch = batch_shape.numel();
  const bool b_shared = b.ndim() == 2;
  Shape ea = batch_shape, eb = batch_shape, os = batch_shape;
  ea.push_back(M); ea.push_back(K);
  eb.push_back(K); eb.push_back(N);
  os.push_back(M); os.push_back(N);
  const Tensor ac = expand_contiguous(a, ea);
  const Tensor bc = b_shared ? b.contiguous() : expand_contiguous(b, eb);
  Tensor out = Tensor::empty(os);
  if (b_shared) {
    kernels::gemm(false, false, batch * M, N, K, 1.0f, ac.data<float>(), K, bc.data<float>(), N,
                  0.0f, out.data<float>(), N);
  } else {
    kernels::gemm_batched(batch, false, false, M, N, K, 1.0f, ac.data<float>(), K, M * K,
                          bc.data<float>(), N, K * N, 0.0f, out.data<float>(), N, M * N);
  }
  if (autograd::needs_grad({a, b})) {
    auto n = std::make_shared<MatmulBackward>();
    n->a = ac.detach();
    n->b = bc.detach();
    n->a_shape = a.shape();
    n->b_shape = b.shape();
    n->batch = batch;
    n->M = M;
    n->K = K;
    n->N = N;
    n->b_shared = b_shared;
    n->out_batch = batch_shape;
    autograd::connect(n, {a, b}, {&out});
  }
  return out;
}

}  // namespace heed::ops
