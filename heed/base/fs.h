// Small file helpers. write_file_atomic writes to a temporary file in the same
// directory, fsyncs it and renames it into place, so a crash never leaves a
// half-written checkpoint under the final name.
#pragma once

#include <string>
#include <string_view>

namespace heed {

std::string read_file(const std::string& path);  // throws heed::Error naming the path
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace heed
