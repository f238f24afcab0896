#include "heed/base/text_reader.h"

#include <lzma.h>

#include <cerrno>
#include <cstring>

#include "heed/base/error.h"

namespace heed {

bool is_xz_path(const std::string& path) {
  return path.size() >= 3 && path.compare(path.size() - 3, 3, ".xz") == 0;
}

struct TextReader::Xz {
  lzma_stream strm = LZMA_STREAM_INIT;
  std::vector<uint8_t> in = std::vector<uint8_t>(1 << 16);
  bool input_eof = false, done = false;
  ~Xz() { lzma_end(&strm); }
};

TextReader::TextReader(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  HEED_CHECK(f_ != nullptr, "{}: cannot open: {}", path, std::strerror(errno));
  if (is_xz_path(path)) {
    xz_ = std::make_unique<Xz>();
    const lzma_ret r = lzma_stream_decoder(&xz_->strm, UINT64_MAX, LZMA_CONCATENATED);
    HEED_CHECK(r == LZMA_OK, "{}: cannot start the xz decoder (liblzma error {})", path, int(r));
  }
}

TextReader::~TextReader() {
  if (f_) std::fclose(f_);
}

size_t TextReader::read_raw(char* buf, size_t n) {
  const size_t got = std::fread(buf, 1, n, f_);
  HEED_CHECK(!std::ferror(f_), "{}: read failed: {}", path_, std::strerror(errno));
  file_bytes_ += int64_t(got);
  return got;
}

size_t TextReader::read(char* buf, size_t n) {
  if (!xz_) return read_raw(buf, n);
  Xz& x = *xz_;
  if (x.done || n == 0) return 0;
  x.strm.next_out = reinterpret_cast<uint8_t*>(buf);
  x.strm.avail_out = n;
  while (x.strm.avail_out == n) {  // until some output (or the end)
    if (x.strm.avail_in == 0 && !x.input_eof) {
      const size_t got = read_raw(reinterpret_cast<char*>(x.in.data()), x.in.size());
      x.strm.next_in = x.in.data();
      x.strm.avail_in = got;
      if (got == 0) x.input_eof = true;
    }
    const lzma_ret r = lzma_code(&x.strm, x.input_eof ? LZMA_FINISH : LZMA_RUN);
    if (r == LZMA_STREAM_END) {
      x.done = true;
      break;
    }
    HEED_CHECK(r == LZMA_OK, "{}: corrupt or truncated xz data (liblzma error {}) after {} "
               "compressed bytes", path_, int(r), file_bytes_);
    HEED_CHECK(!(x.input_eof && x.strm.avail_in == 0 && x.strm.avail_out == n),
               "{}: truncated xz file", path_);
  }
  return n - x.strm.avail_out;
}

bool TextReader::getline(std::string& line) {
  line.clear();
  if (buf_.empty()) buf_.resize(1 << 16);
  for (;;) {
    if (pos_ == end_) {
      if (eof_) return !line.empty();
      end_ = read(buf_.data(), buf_.size());
      pos_ = 0;
      if (end_ == 0) {
        eof_ = true;
        return !line.empty();
      }
    }
    const char* start = buf_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    if (nl) {
      const size_t len = size_t(static_cast<const char*>(nl) - start);
      line.append(start, len);
      pos_ += len + 1;
      return true;
    }
    line.append(start, end_ - pos_);
    pos_ = end_;
  }
}

}  // namespace heed
