// heed::ops: differentiable functions on Tensor. Each file holds an op's forward and
// its backward Node; this header is the one include for users.
#pragma once

#include "heed/ops/activation.h"
#include "heed/ops/attention.h"
#include "heed/ops/concat.h"
#include "heed/ops/cross_entropy.h"
#include "heed/ops/linear_cross_entropy.h"
#include "heed/ops/dropout.h"
#include "heed/ops/dropout_linear.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/embedding.h"
#include "heed/ops/layer_norm.h"
#include "heed/ops/linear.h"
#include "heed/ops/reduce.h"
#include "heed/ops/softmax.h"
#include "heed/ops/view.h"
