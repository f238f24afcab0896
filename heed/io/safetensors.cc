#include "heed/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/mmap.h"
#include "heed/io/file_dtype.h"

namespace heed::io {

namespace {

using Json = nlohmann::ordered_json;  // keeps header (file) order

// MAX_HEADER_SIZE of the reference reader (safetensors/src/tensor.rs).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct Entry {
  std::string name;
  FileDType dtype;
  Shape shape;
  int64_t numel;
  uint64_t begin, end;
};

Json parse_header(std::string_view text, const std::string& path) {
  // Reject duplicate top-level keys: a JSON object would silently keep the last one.
  std::set<std::string> seen;
  Json::parser_callback_t on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      HEED_CHECK(seen.insert(key).second, "{}: safetensors header lists key '{}' twice", path, key);
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event);
  } catch (const Json::exception& e) {
    HEED_FAIL("{}: safetensors header is not valid JSON: {}", path, e.what());
  }
}

std::map<std::string, std::string> parse_metadata(const Json& v, const std::string& path) {
  HEED_CHECK(v.is_object(), "{}: '{}' must be an object of strings, got {}", path, kMetadataKey,
             v.type_name());
  std::map<std::string, std::string> out;
  for (const auto& [k, s] : v.items()) {
    HEED_CHECK(s.is_string(), "{}: '{}' entry '{}' must be a string, got {}", path, kMetadataKey, k,
               s.type_name());
    out[k] = s.get<std::string>();
  }
  return out;
}

uint64_t get_unsigned(const Json& v, const std::string& path, const std::string& key,
                      const char* field) {
  HEED_CHECK(v.is_number_unsigned(),
             "{}: tensor '{}': \"{}\" must hold non-negative integers, got {}", path, key, field,
             v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& key, const Json& v, const std::string& path) {
  HEED_CHECK(v.is_object(), "{}: tensor '{}': header entry must be an object, got {}", path, key,
             v.type_name());
  Entry e;
  e.name = key;

  auto dt = v.find("dtype");
  HEED_CHECK(dt != v.end() && dt->is_string(), "{}: tensor '{}': missing string \"dtype\"", path,
             key);
  const std::string& dname = dt->get_ref<const std::string&>();
  auto fdt = file_dtype_from_name(dname);
  HEED_CHECK(fdt.has_value(),
             "{}: tensor '{}': unsupported dtype '{}' (heed reads F64, F32, F16, BF16, I64, I32, "
             "U32, I16, U16, I8, U8, BOOL)",
             path, key, dname);
  e.dtype = *fdt;

  auto sh = v.find("shape");
  HEED_CHECK(sh != v.end() && sh->is_array(), "{}: tensor '{}': missing array \"shape\"", path,
             key);
  // Left-to-right checked product, as the reference reader's `try_fold(checked_mul)`.
  std::optional<int64_t> numel = 1;
  for (const Json& d : *sh) {
    const uint64_t u = get_unsigned(d, path, key, "shape");
    HEED_CHECK(u <= uint64_t(std::numeric_limits<int64_t>::max()),
               "{}: tensor '{}': shape dimension {} is too large", path, key, u);
    e.shape.push_back(int64_t(u));
    if (numel) numel = checked_mul(*numel, int64_t(u));
    HEED_CHECK(numel.has_value(), "{}: tensor '{}': shape {} overflows the element count", path,
               key, sh->dump());
  }
  e.numel = *numel;

  auto off = v.find("data_offsets");
  HEED_CHECK(off != v.end() && off->is_array() && off->size() == 2,
             "{}: tensor '{}': \"data_offsets\" must be [begin, end]", path, key);
  e.begin = get_unsigned((*off)[0], path, key, "data_offsets");
  e.end = get_unsigned((*off)[1], path, key, "data_offsets");
  return e;
}

// The layout rules of the reference reader (`Metadata::validate` and `read_metadata` in
// safetensors/src/tensor.rs): sorted by offsets, tensors must tile the data section
// exactly, from 0 to its end, with no gaps and no overlaps; each span holds exactly
// numel * itemsize bytes.
void validate_layout(const std::vector<Entry>& entries, uint64_t data_size,
                     const std::string& path) {
  for (const Entry& e : entries) {
    HEED_CHECK(e.begin <= e.end, "{}: tensor '{}': data_offsets [{}, {}] end before they begin",
               path, e.name, e.begin, e.end);
    const auto nbytes = checked_mul(e.numel, int64_t(file_dtype_size(e.dtype)));
    HEED_CHECK(nbytes.has_value() && uint64_t(*nbytes) == e.end - e.begin,
               "{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] span {}",
               path, e.name, e.shape, file_dtype_name(e.dtype),
               nbytes ? fmt::format("{}", *nbytes) : std::string("too many"), e.begin, e.end,
               e.end - e.begin);
    HEED_CHECK(e.end <= data_size,
               "{}: tensor '{}': data_offsets [{}, {}] run past the {}-byte data section", path,
               e.name, e.begin, e.end, data_size);
  }
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  uint64_t expect = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : sorted) {
    HEED_CHECK(e->begin >= expect, "{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}'",
               path, e->name, e->begin, e->end, prev ? prev->name : "");
    HEED_CHECK(e->begin == expect,
               "{}: tensor '{}': data_offsets [{}, {}] leave bytes [{}, {}) unused; safetensors "
               "requires tensors to cover the data section contiguously",
               path, e->name, e->begin, e->end, expect, e->begin);
    expect = e->end;
    prev = e;
  }
  HEED_CHECK(expect == data_size,
             "{}: tensors cover {} bytes but the data section has {} (trailing bytes)", path,
             expect, data_size);
}

}  // namespace

SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& path,
                                  std::shared_ptr<const void> owner) {
  HEED_CHECK(bytes.size() >= 8,
             "{}: safetensors file is {} bytes, too short for the 8-byte header length", path,
             bytes.size());
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  HEED_CHECK(n <= kMaxHeaderBytes, "{}: safetensors header length {} exceeds the {}-byte limit",
             path, n, kMaxHeaderBytes);
  HEED_CHECK(n <= bytes.size() - 8,
             "{}: safetensors header length {} runs past the end of the {}-byte file", path, n,
             bytes.size());
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, size_t(n));
  // Raw NUL never occurs in valid JSON, but the JSON parser stops at one (so "{}\0\0"
  // would pass); the reference reader rejects such padding as trailing characters.
  HEED_CHECK(text.find('\0') == std::string_view::npos,
             "{}: safetensors header is not valid JSON: it contains a NUL byte", path);
  const Json header = parse_header(text, path);
  HEED_CHECK(header.is_object(), "{}: safetensors header must be a JSON object, got {}", path,
             header.type_name());

  SafetensorsFile out;
  out.path = path;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      out.metadata = parse_metadata(value, path);
    } else {
      entries.push_back(parse_entry(key, value, path));
    }
  }
  const uint64_t data_size = bytes.size() - 8 - n;
  validate_layout(entries, data_size, path);

  const uint8_t* data = bytes.data() + 8 + n;
  for (const Entry& e : entries) {
    auto storage = load_storage(data + e.begin, e.numel, e.dtype, owner);
    out.names.push_back(e.name);
    out.tensors.emplace(e.name,
                        Tensor::from_storage(std::move(storage), e.shape, loaded_dtype(e.dtype)));
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  auto file = MappedFile::open(path);
  std::span<const uint8_t> bytes(file->data(), file->size());
  return parse_safetensors(bytes, path, std::move(file));
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata,
                                  const std::map<std::string, FileDType>& store_as) {
  struct Item {
    const std::string* name;
    Tensor t;  // contiguous
    FileDType dtype;
    std::string narrowed{};  // the file bytes when stored narrower than in memory
  };
  for (const auto& [name, ft] : store_as) {
    HEED_CHECK(std::any_of(tensors.begin(), tensors.end(),
                           [&](const auto& nt) { return nt.first == name; }),
               "save_safetensors: store_as names tensor '{}', which is not given", name);
    HEED_CHECK(ft == FileDType::I8, "save_safetensors: tensor '{}': storing as {} is not supported "
                                    "(only I32 -> I8)",
               name, file_dtype_name(ft));
  }
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    HEED_CHECK(name != kMetadataKey, "save_safetensors: '{}' is reserved for metadata", name);
    HEED_CHECK(seen.insert(name).second, "save_safetensors: tensor '{}' given twice", name);
    HEED_CHECK(t.defined(), "save_safetensors: tensor '{}' is undefined", name);
    Item it{&name, t.contiguous(), file_dtype_of(t.dtype())};
    if (const auto as = store_as.find(name); as != store_as.end()) {
      HEED_CHECK(t.dtype() == DType::I32, "save_safetensors: tensor '{}': storing as I8 needs an I32 "
                                          "tensor, got {}",
                 name, file_dtype_name(file_dtype_of(t.dtype())));
      const int32_t* v = it.t.data<int32_t>();
      it.narrowed.resize(size_t(it.t.numel()));
      for (int64_t i = 0; i < it.t.numel(); ++i) {
        HEED_CHECK(v[i] >= -128 && v[i] <= 127,
                   "save_safetensors: tensor '{}': value {} at {} does not fit I8", name, v[i], i);
        it.narrowed[size_t(i)] = char(int8_t(v[i]));
      }
      it.dtype = FileDType::I8;
    }
    items.push_back(std::move(it));
  }
  // Reference writer order (`prepare` in safetensors/src/tensor.rs): dtype alignment
  // descending, then name, so every tensor's data is aligned to its element size.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.dtype != b.dtype) return a.dtype > b.dtype;
    return *a.name < *b.name;
  });

  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header[kMetadataKey] = std::move(m);
  }
  uint64_t offset = 0;
  for (const Item& it : items) {
    const uint64_t nbytes = uint64_t(it.t.numel()) * file_dtype_size(it.dtype);
    Json e = Json::object();
    e["dtype"] = file_dtype_name(it.dtype);
    e["shape"] = it.t.shape().dims();
    e["data_offsets"] = {offset, offset + nbytes};
    header[*it.name] = std::move(e);
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    HEED_FAIL("save_safetensors: cannot encode the header: {}", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  for (const Item& it : items) {
    if (it.dtype == FileDType::I8) {
      out += it.narrowed;
      continue;
    }
    out.append(static_cast<const char*>(it.t.raw_data()),
               size_t(it.t.numel()) * dtype_size(it.t.dtype()));
  }
  return out;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata,
                      const std::map<std::string, FileDType>& store_as) {
  std::string bytes;
  try {
    bytes = serialize_safetensors(tensors, metadata, store_as);
  } catch (const Error& e) {
    HEED_FAIL("{}: {}", path, e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace heed::io
