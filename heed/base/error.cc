#include "heed/base/error.h"

namespace heed::detail {

void throw_error(std::string msg) { throw Error(std::move(msg)); }

}  // namespace heed::detail
