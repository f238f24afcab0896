// Prefix tuning (Li & Liang 2021) as PEFT's PrefixEncoder and get_prompt do it: P
// virtual tokens give every layer P extra keys and values.
//   no projection: prompts = embedding.weight                       (P, L * 2 * C)
//   projection:    prompts = transform.2(tanh(transform.0(embedding.weight)))
//                  embedding (P, C), transform.0 (E, C), transform.2 (L * 2 * C, E)
// prompts viewed as (P, L * 2, H, D): layer l's keys are slot 2l, its values 2l + 1,
// each (H, P, D), the same for every example of a batch. PEFT's saved
// "prompt_embeddings" is the (P, L * 2 * C) prompts (embedding.weight in inference mode).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/hooks.h"
#include "heed/nn/linear.h"

namespace heed::peft {

struct PrefixShape {
  int64_t virtual_tokens = 20, layers = 0, heads = 0, hidden = 0;
  bool projection = false;
  int64_t encoder_hidden = 0;  // with projection
};

class PrefixEncoder : public nn::Module {
 public:
  PrefixEncoder(const PrefixShape& shape, Generator& init_gen);
  Tensor prompts() const;  // (P, L * 2 * C)
  const PrefixShape& shape() const { return shape_; }
  // Replaces the learned tensors by saved prompts (P, L*2*C): the encoder becomes a plain
  // embedding (PEFT's inference mode).
  void load_prompts(const Tensor& prompts);
  // With projection, forward_scope() computes the prompts once for a model forward and the
  // layer hooks share them (one MLP and one backward through it, not one per layer).
  class ForwardScope {
   public:
    explicit ForwardScope(const PrefixEncoder& e) : e_(e) {
      if (e_.t0_) e_.cached_ = e_.prompts();
    }
    ~ForwardScope() { e_.cached_ = Tensor(); }
    ForwardScope(const ForwardScope&) = delete;
    ForwardScope& operator=(const ForwardScope&) = delete;

   private:
    const PrefixEncoder& e_;
  };
  // The prompts of the running forward (cached in a ForwardScope, computed otherwise).
  Tensor current_prompts() const { return cached_.defined() ? cached_ : prompts(); }
  // The per-layer hooks (layer 0 .. L-1).
  std::vector<std::shared_ptr<const nn::AttentionPrefixHook>> layer_hooks() const;

 private:
  PrefixShape shape_;
  Tensor embedding_;
  std::shared_ptr<nn::Linear> t0_, t2_;
  mutable Tensor cached_;  // set only inside a ForwardScope
};

}  // namespace heed::peft
