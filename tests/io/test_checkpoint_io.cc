#include <gtest/gtest.h>

#include "heed/io/checkpoint_io.h"
#include "io_test_util.h"

namespace heed::io {
namespace {

using testing::fixture;

TEST(CheckpointIo, DispatchesOnExtensionAndFormatsAgree) {
  const auto st = load_state_dict(fixture("tensors.safetensors"));
  const auto pt = load_state_dict(fixture("torch_state_dict.bin"));
  ASSERT_FALSE(st.empty());
  for (const auto& [name, t] : st) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(pt.count(name));
    EXPECT_EQ(t.dtype(), pt.at(name).dtype());
    EXPECT_EQ(t.shape(), pt.at(name).shape());
    EXPECT_EQ(t.to_vector(), pt.at(name).to_vector());
  }
}

TEST(CheckpointIo, UnknownExtensionNamesThePath) {
  testing::expect_error([] { load_checkpoint("/tmp/model.ckpt"); },
                        {"/tmp/model.ckpt", ".safetensors"});
}

}  // namespace
}  // namespace heed::io
