// Reads image classification CSVs of the form label,p0,p1,...(one image per line,
// header first), e.g. data/digits_8x8. Errors name the file and line.
#pragma once

#include <string>

#include "heed/train/fit.h"

namespace heed::train {

// Pixels are divided by `scale` and shaped (N, channels, side, side).
ClassificationData load_pixel_csv(const std::string& path, int64_t channels, int64_t side,
                                  float scale);

}  // namespace heed::train
