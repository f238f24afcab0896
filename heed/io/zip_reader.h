// A minimal reader for zip archives whose entries are STORED (uncompressed), as
// torch.save writes them (64-byte aligned). Hand-rolled rather than libzip because we
// need zero-copy pointers to the stored tensor bytes inside the memory-mapped file,
// which libzip's stream API cannot give. Compressed or encrypted entries are rejected.
// Format: PKWARE APPNOTE.TXT 6.3 (sections 4.3.7 local header, 4.3.12 central directory,
// 4.3.14-4.3.16 zip64 and end of central directory records).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace heed::io {

class ZipReader {
 public:
  struct Entry {
    std::string name;
    uint16_t method = 0;  // 0 = stored
    uint16_t flags = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;
    uint64_t local_header_offset = 0;
  };

  // Parses the central directory of the archive held in `bytes` (which must outlive the
  // reader). Errors are heed::Error naming `path`.
  ZipReader(std::span<const uint8_t> bytes, std::string path);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(std::string_view name) const;  // null when absent
  // The bytes of a stored entry, pointing into the archive.
  std::span<const uint8_t> data(const Entry& e) const;

 private:
  std::span<const uint8_t> bytes_;
  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> entries_ position
};

}  // namespace heed::io
