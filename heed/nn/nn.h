// heed::nn: modules that own parameters and call heed::ops.
#pragma once

#include "heed/nn/dropout.h"
#include "heed/nn/embedding.h"
#include "heed/nn/feed_forward.h"
#include "heed/nn/init.h"
#include "heed/nn/layer_norm.h"
#include "heed/nn/linear.h"
#include "heed/nn/module.h"
#include "heed/nn/multi_head_attention.h"
#include "heed/nn/positional_encoding.h"
#include "heed/nn/transformer_decoder_layer.h"
#include "heed/nn/transformer_encoder_layer.h"
