#include "heed/tokenizers/vocab.h"

#include <algorithm>
#include <cstring>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {

static uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xff51afd7ed558ccdull);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  h = (h ^ v) * 0x94d049bb133111ebull;
  h ^= h >> 32;
  return h;
}

static int32_t count_chars(std::string_view s) {
  int32_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

static uint64_t slot_of(uint64_t hash, size_t entry) { return (hash & 0xFFFFFFFF00000000ull) | (entry + 1); }

void StringIdMap::grow() {
  const size_t cap = slots_.empty() ? 64 : slots_.size() * 2;
  slots_.assign(cap, 0);
  for (size_t e = 0; e < entries_.size(); ++e) {
    size_t i = entries_[e].hash & (cap - 1);
    while (slots_[i] != 0) i = (i + 1) & (cap - 1);
    slots_[i] = slot_of(entries_[e].hash, e);
  }
}

void StringIdMap::insert_or_assign(std::string_view key, int32_t id) {
  if ((entries_.size() + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(key);
  size_t i = h & (slots_.size() - 1);
  while (slots_[i] != 0) {
    Entry& e = entries_[(slots_[i] & 0xFFFFFFFFu) - 1];
    if (e.hash == h && std::string_view(arena_.data() + e.offset, e.length) == key) {
      e.id = id;
      return;
    }
    i = (i + 1) & (slots_.size() - 1);
  }
  HEED_CHECK(arena_.size() + key.size() < UINT32_MAX, "vocab: keys exceed 4 GiB");
  entries_.push_back({h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id});
  arena_.append(key);
  slots_[i] = slot_of(h, entries_.size() - 1);
  max_key_chars_ = std::max(max_key_chars_, count_chars(key));
}

int32_t StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_bytes(key);
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  size_t i = h & (slots_.size() - 1);
  for (uint64_t s; (s = slots_[i]) != 0; i = (i + 1) & (slots_.size() - 1)) {
    if ((s & 0xFFFFFFFF00000000ull) != tag) continue;
    const Entry& e = entries_[(s & 0xFFFFFFFFu) - 1];
    if (e.length == key.size() && std::memcmp(arena_.data() + e.offset, key.data(), key.size()) == 0) {
      return e.id;
    }
  }
  return -1;
}

Vocab::Vocab(std::vector<std::string> tokens, std::string_view continuing_prefix)
    : id_to_token_(std::move(tokens)), prefix_(continuing_prefix) {
  for (size_t i = 0; i < id_to_token_.size(); ++i) index(static_cast<int32_t>(i));
}

void Vocab::index(int32_t id) {
  const std::string& t = id_to_token_[static_cast<size_t>(id)];
  full_.insert_or_assign(t, id);
  if (!prefix_.empty() && t.size() > prefix_.size() && t.compare(0, prefix_.size(), prefix_) == 0) {
    continuation_.insert_or_assign(std::string_view(t).substr(prefix_.size()), id);
  }
}

void Vocab::set(int32_t id, std::string_view token) {
  HEED_CHECK(id >= 0, "vocab: negative id {} for token '{}'", id, token);
  if (static_cast<size_t>(id) >= id_to_token_.size()) id_to_token_.resize(static_cast<size_t>(id) + 1);
  id_to_token_[static_cast<size_t>(id)] = std::string(token);
  index(id);
}

Vocab parse_vocab_txt(std::string_view bytes, const std::string& name,
                      std::string_view continuing_prefix) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < bytes.size()) {
    size_t j = i;
    while (j < bytes.size() && bytes[j] != '\n' && bytes[j] != '\r') ++j;
    std::string_view line = bytes.substr(i, j - i);
    HEED_CHECK(is_valid_utf8(line), "vocab file {}: line {} is not valid UTF-8", name,
               tokens.size() + 1);
    tokens.emplace_back(line);
    if (j < bytes.size() && bytes[j] == '\r' && j + 1 < bytes.size() && bytes[j + 1] == '\n') ++j;
    i = j + 1;
  }
  HEED_CHECK(!tokens.empty(), "vocab file {}: empty", name);
  return Vocab(std::move(tokens), continuing_prefix);
}

Vocab load_vocab_txt(const std::string& path, std::string_view continuing_prefix) {
  return parse_vocab_txt(read_file(path), path, continuing_prefix);
}

void save_vocab_txt(const Vocab& vocab, const std::string& path) {
  std::string out;
  for (const std::string& t : vocab.tokens()) {
    out += t;
    out += '\n';
  }
  write_file_atomic(path, out);
}

}  // namespace heed::tokenizers
