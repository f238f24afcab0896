#include "heed/train/pixel_csv.h"

#include <algorithm>
#include <charconv>
#include <fstream>

namespace heed::train {

ClassificationData load_pixel_csv(const std::string& path, int64_t channels, int64_t side,
                                  float scale) {
  std::ifstream in(path);
  HEED_CHECK(in.good(), "{}: cannot open", path);
  const int64_t F = channels * side * side;
  std::string line;
  HEED_CHECK(bool(std::getline(in, line)), "{}: empty file (expected a header line)", path);
  std::vector<float> pix;
  ClassificationData d;
  int64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    int64_t col = 0;
    const char* p = line.data();
    const char* end = p + line.size();
    while (p <= end) {
      const char* comma = std::find(p, end, ',');
      double v = 0;
      auto [ptr, ec] = std::from_chars(p, comma, v);
      HEED_CHECK(ec == std::errc() && ptr == comma, "{}:{}: column {} is not a number", path,
                 lineno, col + 1);
      if (col == 0) {
        HEED_CHECK(v >= 0 && v == double(int64_t(v)), "{}:{}: label {} is not a class id", path,
                   lineno, v);
        d.labels.push_back(int64_t(v));
      } else {
        pix.push_back(float(v) / scale);
      }
      ++col;
      p = comma + 1;
    }
    HEED_CHECK(col == F + 1, "{}:{}: {} columns, expected label + {} pixels", path, lineno, col, F);
  }
  HEED_CHECK(!d.labels.empty(), "{}: no data rows", path);
  d.inputs = Tensor::from_vector(pix, Shape{d.size(), channels, side, side});
  return d;
}

}  // namespace heed::train
