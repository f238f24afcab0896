#include "heed/io/zip_reader.h"

#include <cstring>

#include "heed/base/error.h"

namespace heed::io {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22, kCentralHeaderSize = 46, kLocalHeaderSize = 30;
constexpr size_t kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint16_t kZip64ExtraId = 0x0001;

// Little-endian field reads; callers check bounds first.
template <class T>
T le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

ZipReader::ZipReader(std::span<const uint8_t> bytes, std::string path)
    : bytes_(bytes), path_(std::move(path)) {
  const uint8_t* b = bytes_.data();
  const size_t size = bytes_.size();
  HEED_CHECK(size >= kEndSize, "{}: zip archive truncated ({} bytes)", path_, size);

  // The end-of-central-directory record sits at the end, before a comment of <= 64 KiB.
  size_t eocd = size - kEndSize;
  const size_t lowest = size - kEndSize > 0xffff ? size - kEndSize - 0xffff : 0;
  while (le<uint32_t>(b + eocd) != kEndSig) {
    HEED_CHECK(eocd > lowest, "{}: zip end-of-central-directory record not found (truncated file?)",
               path_);
    --eocd;
  }
  uint64_t count = le<uint16_t>(b + eocd + 10);
  uint64_t cd_size = le<uint32_t>(b + eocd + 12);
  uint64_t cd_offset = le<uint32_t>(b + eocd + 16);
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    HEED_CHECK(
        eocd >= kZip64LocatorSize && le<uint32_t>(b + eocd - kZip64LocatorSize) == kZip64LocatorSig,
        "{}: zip64 end-of-central-directory locator missing", path_);
    const uint64_t rec = le<uint64_t>(b + eocd - kZip64LocatorSize + 8);
    HEED_CHECK(size >= kZip64EndSize && rec <= size - kZip64EndSize &&
                   le<uint32_t>(b + rec) == kZip64EndSig,
               "{}: zip64 end-of-central-directory record out of range or corrupt", path_);
    count = le<uint64_t>(b + rec + 32);
    cd_size = le<uint64_t>(b + rec + 40);
    cd_offset = le<uint64_t>(b + rec + 48);
  }
  HEED_CHECK(
      cd_offset <= size && cd_size <= size - cd_offset,
      "{}: zip central directory [{}, +{}) runs past the end of the {}-byte file (truncated?)",
      path_, cd_offset, cd_size, size);
  HEED_CHECK(count <= cd_size / kCentralHeaderSize,
             "{}: zip central directory claims {} entries in {} bytes", path_, count, cd_size);

  entries_.reserve(size_t(count));
  const uint8_t* p = b + cd_offset;
  const uint8_t* cd_end = p + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    HEED_CHECK(size_t(cd_end - p) >= kCentralHeaderSize && le<uint32_t>(p) == kCentralHeaderSig,
               "{}: zip central directory entry {} is corrupt", path_, i);
    Entry e;
    e.flags = le<uint16_t>(p + 8);
    e.method = le<uint16_t>(p + 10);
    e.compressed_size = le<uint32_t>(p + 20);
    e.size = le<uint32_t>(p + 24);
    const size_t name_len = le<uint16_t>(p + 28), extra_len = le<uint16_t>(p + 30),
                 comment_len = le<uint16_t>(p + 32);
    e.local_header_offset = le<uint32_t>(p + 42);
    HEED_CHECK(size_t(cd_end - p) >= kCentralHeaderSize + name_len + extra_len + comment_len,
               "{}: zip central directory entry {} runs past the directory", path_, i);
    e.name.assign(reinterpret_cast<const char*>(p + kCentralHeaderSize), name_len);

    // Zip64 extra field: the 8-byte values replace, in this order, those saturated above.
    const uint8_t* x = p + kCentralHeaderSize + name_len;
    const uint8_t* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = le<uint16_t>(x), len = le<uint16_t>(x + 2);
      HEED_CHECK(size_t(x_end - x - 4) >= len, "{}: zip entry '{}': extra field overruns", path_,
                 e.name);
      if (id == kZip64ExtraId) {
        const uint8_t* f = x + 4;
        const uint8_t* f_end = f + len;
        for (uint64_t* field : {&e.size, &e.compressed_size, &e.local_header_offset}) {
          if (*field != 0xffffffff) continue;
          HEED_CHECK(f_end - f >= 8, "{}: zip entry '{}': zip64 extra field too short", path_,
                     e.name);
          *field = le<uint64_t>(f);
          f += 8;
        }
      }
      x += 4 + len;
    }
    p += kCentralHeaderSize + name_len + extra_len + comment_len;
    index_.emplace(e.name, entries_.size());  // first of duplicate names wins
    entries_.push_back(std::move(e));
  }
}

const ZipReader::Entry* ZipReader::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::span<const uint8_t> ZipReader::data(const Entry& e) const {
  HEED_CHECK(!(e.flags & 1), "{}: zip entry '{}' is encrypted", path_, e.name);
  HEED_CHECK(e.method == 0,
             "{}: zip entry '{}' is compressed (method {}); only stored entries are supported, "
             "as torch.save writes them",
             path_, e.name, e.method);
  HEED_CHECK(e.compressed_size == e.size, "{}: zip entry '{}': stored sizes differ ({} vs {})",
             path_, e.name, e.compressed_size, e.size);
  const size_t size = bytes_.size();
  const uint64_t off = e.local_header_offset;
  HEED_CHECK(off <= size && size - off >= kLocalHeaderSize &&
                 le<uint32_t>(bytes_.data() + off) == kLocalHeaderSig,
             "{}: zip entry '{}': local header at {} missing or out of range (truncated?)", path_,
             e.name, off);
  // Sizes in the local header may be zero (data descriptor); the central directory's are
  // authoritative, but name and extra lengths here locate the data (torch pads the extra
  // field so the data is 64-byte aligned).
  const uint64_t start = off + kLocalHeaderSize + le<uint16_t>(bytes_.data() + off + 26) +
                         le<uint16_t>(bytes_.data() + off + 28);
  HEED_CHECK(
      start <= size && e.size <= size - start,
      "{}: zip entry '{}': data [{}, +{}) runs past the end of the {}-byte file (truncated?)",
      path_, e.name, start, e.size, size);
  return bytes_.subspan(size_t(start), size_t(e.size));
}

}  // namespace heed::io
