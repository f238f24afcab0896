// Streaming reads of a text file that may be xz-compressed. A name ending in ".xz" is
// decompressed on the fly with liblzma (the bundled corpus ships as .txt.xz); any other
// file is read as is. Used by the corpus loader and the vocabulary trainer, so both
// accept compressed corpora without a temporary copy.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace heed {

class TextReader {
 public:
  explicit TextReader(const std::string& path);  // errors name the path
  ~TextReader();
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;

  // Up to n decompressed bytes into buf; 0 at end of file. Corrupt data is an error.
  size_t read(char* buf, size_t n);
  // The next line without its '\n'; false at end of file.
  bool getline(std::string& line);
  // Bytes consumed from the file on disk (compressed bytes for .xz), for progress bars.
  int64_t file_bytes_read() const { return file_bytes_; }
  const std::string& path() const { return path_; }

 private:
  size_t read_raw(char* buf, size_t n);
  std::string path_;
  std::FILE* f_ = nullptr;
  struct Xz;
  std::unique_ptr<Xz> xz_;
  int64_t file_bytes_ = 0;
  std::vector<char> buf_;  // getline's buffer
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
};

bool is_xz_path(const std::string& path);

}  // namespace heed
