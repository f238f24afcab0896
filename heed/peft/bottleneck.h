// Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021): a small residual MLP
// inserted after a Transformer sublayer's output (after its dropout, before the
// residual add and LayerNorm):
//   h' = h + up(act(down(h)))     down (C/reduction_factor, C), up (C, C/reduction_factor)
// Houlsby places one after the attention sublayer and one after the feed-forward
// sublayer of every layer; Pfeiffer only after the feed-forward. `up` starts at zero, so
// training starts at the base model; `down` is Kaiming-uniform as a torch Linear.
// Parameters: "adapter.<adapter>.down.weight", ".down.bias", ".up.weight", ".up.bias"
// under "attention.output" or "output" of the layer (heed's naming; PEFT has no such method).
#pragma once

#include <memory>
#include <string>

#include "heed/nn/hooks.h"
#include "heed/nn/linear.h"

namespace heed::peft {

class BottleneckAdapter : public nn::Module, public nn::SublayerHook {
 public:
  BottleneckAdapter(int64_t hidden, int64_t reduction_factor, const std::string& non_linearity,
                    const std::string& adapter, Generator& init_gen);
  Tensor forward(const Tensor& h) const override;

 private:
  std::shared_ptr<nn::Linear> down_, up_;
  std::string act_;
};

}  // namespace heed::peft
