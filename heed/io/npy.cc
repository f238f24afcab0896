#include "heed/io/npy.h"

#include <cstring>
#include <optional>
#include <string_view>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/mmap.h"
#include "heed/io/file_dtype.h"

namespace heed::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;                // numpy ARRAY_ALIGN
constexpr size_t kGrowthAxisMaxDigits = 21;  // numpy GROWTH_AXIS_MAX_DIGITS
constexpr int kMaxDims = 64;

struct Descr {
  std::string_view code;
  FileDType dtype;
};
constexpr Descr kDescrs[] = {
    {"<f4", FileDType::F32}, {"<f8", FileDType::F64},  {"<f2", FileDType::F16},
    {"<i8", FileDType::I64}, {"<i4", FileDType::I32},  {"<i2", FileDType::I16},
    {"|i1", FileDType::I8},  {"<u2", FileDType::U16},  {"<u4", FileDType::U32},
    {"|u1", FileDType::U8},  {"|b1", FileDType::BOOL},
};

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }. Parsed by hand: it is the only Python syntax numpy writes there.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& path) : s_(s), path_(path) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    need('{');
    while (!eat('}')) {
      const std::string key = str();
      need(':');
      if (key == "descr") {
        ws();
        HEED_CHECK(i_ < s_.size() && s_[i_] != '[', "{}: npy structured dtypes are not supported",
                   path_);
        descr = str();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        shape = tuple();
        have_shape = true;
      } else {
        fail(fmt::format("unexpected key '{}'", key));
      }
      if (!eat(',')) {
        need('}');
        break;
      }
    }
    HEED_CHECK(have_descr && have_fortran && have_shape,
               "{}: npy header lacks 'descr', 'fortran_order' or 'shape': {}", path_, s_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    HEED_FAIL("{}: malformed npy header ({} at column {}): {}", path_, what, i_, s_);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void need(char c) {
    if (!eat(c)) fail(fmt::format("expected '{}'", c));
  }
  std::string str() {
    ws();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail("expected a string");
    const char q = s_[i_++];
    const size_t end = s_.find(q, i_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    ws();
    for (const std::string_view word : {std::string_view("True"), std::string_view("False")}) {
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return word == "True";
      }
    }
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> out;
    need('(');
    while (!eat(')')) {
      ws();
      int64_t v = 0;
      const size_t start = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[i_] - '0', &v))
          fail("dimension too large");
        ++i_;
      }
      if (i_ == start) fail("expected a non-negative integer");
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 long suffix
      if (out.size() >= kMaxDims) fail("too many dimensions");
      out.push_back(v);
      if (!eat(',')) {
        need(')');
        break;
      }
    }
    return out;
  }

  std::string_view s_;
  const std::string& path_;
  size_t i_ = 0;
};

}  // namespace

Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& path) {
  HEED_CHECK(bytes.size() >= kMagicLen + 4 && std::memcmp(bytes.data(), kMagic, kMagicLen) == 0,
             "{}: not a .npy file (bad magic)", path);
  const uint8_t major = bytes[6];
  HEED_CHECK(major >= 1 && major <= 3, "{}: unsupported .npy format version {}.{}", path, major,
             bytes[7]);
  size_t header_len, start;
  if (major == 1) {
    header_len = size_t(bytes[8]) | size_t(bytes[9]) << 8;
    start = 10;
  } else {
    HEED_CHECK(bytes.size() >= 12, "{}: truncated .npy header", path);
    uint32_t n;
    std::memcpy(&n, bytes.data() + 8, 4);
    header_len = n;
    start = 12;
  }
  HEED_CHECK(header_len <= bytes.size() - start, "{}: .npy header length {} runs past the end",
             path, header_len);
  const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + start, header_len);

  std::string descr;
  bool fortran = false;
  std::vector<int64_t> dims;
  HeaderParser(header, path).parse(descr, fortran, dims);
  HEED_CHECK(!fortran,
             "{}: Fortran-order .npy arrays are not supported; save with "
             "np.ascontiguousarray",
             path);
  std::optional<FileDType> dtype;
  for (const Descr& d : kDescrs)
    if (d.code == descr || (d.code[0] == '|' && descr.size() == 3 && descr[0] == '<' &&
                            d.code.substr(1) == std::string_view(descr).substr(1)))
      dtype = d.dtype;
  HEED_CHECK(dtype.has_value(), "{}: unsupported .npy dtype '{}'{}", path, descr,
             !descr.empty() && descr[0] == '>' ? " (big-endian)" : "");

  std::optional<int64_t> numel = 1;
  for (int64_t d : dims) numel = numel ? checked_mul(*numel, d) : numel;
  const auto nbytes = numel ? checked_mul(*numel, int64_t(file_dtype_size(*dtype))) : numel;
  const size_t have = bytes.size() - start - header_len;
  HEED_CHECK(nbytes.has_value() && uint64_t(*nbytes) == have,
             "{}: .npy data is {} bytes but shape {} of '{}' needs {}", path, have, Shape(dims),
             descr, nbytes ? fmt::format("{}", *nbytes) : std::string("too many"));
  auto storage = load_storage(bytes.data() + start + header_len, *numel, *dtype, nullptr);
  return Tensor::from_storage(std::move(storage), Shape(std::move(dims)), loaded_dtype(*dtype));
}

Tensor load_npy(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse_npy(std::span<const uint8_t>(file->data(), file->size()), path);
}

std::string serialize_npy(const Tensor& tensor) {
  HEED_CHECK(tensor.defined(), "save_npy: undefined tensor");
  const Tensor t = (tensor.dtype() == DType::BF16 ? tensor.to(DType::F32) : tensor).contiguous();
  std::string_view descr;
  switch (t.dtype()) {
    case DType::F32:
      descr = "<f4";
      break;
    case DType::I32:
      descr = "<i4";
      break;
    case DType::I64:
      descr = "<i8";
      break;
    case DType::U8:
      descr = "|u1";
      break;
    case DType::BF16:
      break;  // converted above
  }
  // numpy.lib.format._write_array_header: keys sorted, Python reprs, then spare room to
  // grow the first axis in place, then space padding and '\n' to a 64-byte boundary.
  std::string shape = "(";
  for (int64_t d = 0; d < t.ndim(); ++d) shape += (d ? ", " : "") + std::to_string(t.size(d));
  shape += t.ndim() == 1 ? ",)" : ")";
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  if (t.ndim() > 0) header.append(kGrowthAxisMaxDigits - std::to_string(t.size(0)).size(), ' ');

  // numpy._wrap_header_guess_version: 1.0 unless the padded header overflows its u16.
  const size_t hlen = header.size() + 1;
  const bool v2 = hlen + kAlign - (kMagicLen + 4 + hlen) % kAlign > 0xffff;
  const size_t prefix = kMagicLen + 2 + (v2 ? 4 : 2);
  const size_t pad = kAlign - (prefix + hlen) % kAlign;
  header.append(pad, ' ');
  header += '\n';

  std::string out(kMagic, kMagicLen);
  out += char(v2 ? 2 : 1);
  out += char(0);
  const uint32_t n = uint32_t(header.size());
  out.append(reinterpret_cast<const char*>(&n), v2 ? 4 : 2);
  out += header;
  out.append(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * dtype_size(t.dtype()));
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  std::string bytes;
  try {
    bytes = serialize_npy(t);
  } catch (const Error& e) {
    HEED_FAIL("{}: {}", path, e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace heed::io
