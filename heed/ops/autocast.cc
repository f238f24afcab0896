#include "heed/ops/autocast.h"

namespace heed::ops {

namespace {
thread_local MatmulPrecision g_precision = MatmulPrecision::F32;
}  // namespace

MatmulPrecision matmul_precision() { return g_precision; }

Autocast::Autocast(MatmulPrecision p) : prev_(g_precision) { g_precision = p; }
Autocast::~Autocast() { g_precision = prev_; }

}  // namespace heed::ops
