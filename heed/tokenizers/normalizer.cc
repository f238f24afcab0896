#include "heed/tokenizers/normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "heed/base/error.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

// Per-ASCII-byte action of steps 1-3: 0 keep, 1 drop (control), 2 -> ' '.
struct AsciiTable {
  uint8_t action[128];
  char lower[128];
  AsciiTable() {
    for (int c = 0; c < 128; ++c) {
      action[c] = (c < 0x20 || c == 0x7F) ? 1 : 0;
      lower[c] = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    action[0x09] = action[0x0A] = action[0x0D] = 2;
    action[0x20] = 2;
  }
};
const AsciiTable kAscii;

int ccc(char32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// A starter that NFC can never merge with the text before it and leaves unchanged:
// no decomposition, no part in any composition pair, not a Hangul vowel/trailing jamo.
bool nfc_quick_boundary(char32_t c) {
  if (c < 0xC0) return true;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  if (p->combining_class != 0 || p->decomp_seqindex != UINT16_MAX || p->comb_index != UINT16_MAX) {
    return false;
  }
  return !((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2));
}

std::u32string nfc(std::u32string_view s) {
  std::string utf8;
  for (char32_t c : s) append_utf8(utf8, c);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  HEED_CHECK(n >= 0, "tokenizer: NFC failed: {}", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  std::u32string r;
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    char32_t c;
    i += static_cast<size_t>(decode_utf8(out, static_cast<size_t>(n), i, &c));
    r.push_back(c);
  }
  return r;
}

}  // namespace

void Normalizer::normalize(std::string_view text, int32_t base, NormalizedText& out,
                           NormalizedText& scratch) const {
  const NormalizerConfig& cfg = config_;
  out.clear();
  out.chars.reserve(text.size());
  out.start.reserve(text.size());
  out.end.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  int32_t idx = base;
  bool ascii = true;
  for (size_t i = 0; i < n; ++idx) {
    const unsigned char b = s[i];
    if (b < 0x80) {  // ASCII fast path: no CJK, no case expansion, no decomposition
      ++i;
      if (cfg.clean_text) {
        const uint8_t a = kAscii.action[b];
        if (a == 1) continue;
        if (a == 2) {
          out.push(' ', idx, idx + 1);
          continue;
        }
      }
      out.push(static_cast<char32_t>(cfg.lowercase ? kAscii.lower[b] : b), idx, idx + 1);
      continue;
    }
    char32_t cp;
    i += static_cast<size_t>(decode_utf8(s, n, i, &cp));
    char32_t low[2] = {cp, 0};
    const int k = cfg.lowercase ? lower_code_point(cp, low) : 1;
    for (int j = 0; j < k; ++j) {
      char32_t c = low[j];
      if (cfg.clean_text) {
        if (c == 0 || c == kReplacementChar || is_bert_control(c)) continue;
        if (is_bert_whitespace(c)) c = ' ';
      }
      if (cfg.handle_chinese_chars && is_chinese_char(c)) {
        out.push(' ', idx, idx + 1);
        out.push(c, idx, idx + 1);
        out.push(' ', idx, idx + 1);
      } else {
        out.push(c, idx, idx + 1);
      }
      ascii &= c < 0x80;
    }
  }
  out.ascii = ascii;
  if (ascii) return;
  // NFC runs even when accents are stripped: it cannot change the code points then,
  // but it decides the spans (e.g. "e" + U+0301 composes, so "e" spans both).
  nfc_with_spans(out, scratch);
  std::swap(out, scratch);
  if (cfg.strips_accents()) {
    strip_accents_with_spans(out, scratch);
    std::swap(out, scratch);
  }
}

void nfc_with_spans(const NormalizedText& in, NormalizedText& out) {
  out.clear();
  out.ascii = false;
  const size_t n = in.size();
  size_t seg = 0;        // start of the current composition segment
  std::u32string seg_nfc;  // NFC of the current segment, when computed
  bool seg_nfc_valid = false;
  auto flush = [&](size_t end) {
    if (seg >= end) return;
    bool simple = true;
    for (size_t i = seg; i < end && simple; ++i) simple = nfc_quick_boundary(in.chars[i]);
    if (simple) {
      for (size_t i = seg; i < end; ++i) out.push(in.chars[i], in.start[i], in.end[i]);
      return;
    }
    const std::u32string_view src(in.chars.data() + seg, end - seg);
    const std::u32string composed = seg_nfc_valid ? seg_nfc : nfc(src);
    if (composed == src) {
      for (size_t i = seg; i < end; ++i) out.push(in.chars[i], in.start[i], in.end[i]);
      return;
    }
    int32_t lo = in.start[seg], hi = in.end[seg];
    for (size_t i = seg; i < end; ++i) {
      lo = std::min(lo, in.start[i]);
      hi = std::max(hi, in.end[i]);
    }
    for (char32_t c : composed) out.push(c, lo, hi);
  };
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = in.chars[i];
    if (i == seg || ccc(c) != 0) {
      seg_nfc_valid = false;
      continue;
    }
    bool boundary;
    if (nfc_quick_boundary(c)) {
      boundary = true;
    } else {
      // Python's rule: c starts a new segment iff NFC(seg + c) == NFC(seg) + NFC(c).
      const std::u32string_view cur(in.chars.data() + seg, i - seg);
      const std::u32string with_c = nfc(std::u32string_view(in.chars.data() + seg, i - seg + 1));
      const std::u32string apart = nfc(cur) + nfc(std::u32string_view(&in.chars[i], 1));
      boundary = with_c == apart;
      if (!boundary) {
        seg_nfc = with_c;
        seg_nfc_valid = true;
        continue;
      }
    }
    flush(i);
    seg = i;
    seg_nfc_valid = false;
  }
  flush(n);
}

void strip_accents_with_spans(const NormalizedText& in, NormalizedText& out) {
  out.clear();
  out.ascii = false;
  const size_t n = in.size();
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = in.chars[i];
    if (c < 0xC0) {  // nothing below U+00C0 has a canonical decomposition
      out.push(c, in.start[i], in.end[i]);
      continue;
    }
    utf8proc_int32_t buf[8];
    int last_boundclass = 0;
    const utf8proc_ssize_t k = utf8proc_decompose_char(
        static_cast<utf8proc_int32_t>(c), buf, 8, UTF8PROC_DECOMPOSE, &last_boundclass);
    HEED_CHECK(k > 0 && k <= 8, "tokenizer: cannot decompose U+{:04X}", static_cast<uint32_t>(c));
    for (utf8proc_ssize_t j = 0; j < k; ++j) {
      out.push(static_cast<char32_t>(buf[j]), in.start[i], in.end[i]);
    }
  }
  // Canonical ordering: stable sort each run of non-starters by combining class, then
  // drop Mn. Sorting before dropping matters only for the (rare) non-Mn non-starters.
  size_t w = 0;
  for (size_t i = 0; i < out.size();) {
    if (ccc(out.chars[i]) == 0) {
      if (!is_nonspacing_mark(out.chars[i])) {
        out.chars[w] = out.chars[i], out.start[w] = out.start[i], out.end[w] = out.end[i], ++w;
      }
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && ccc(out.chars[j]) != 0) ++j;
    for (size_t a = i + 1; a < j; ++a) {  // insertion sort (runs are short)
      for (size_t b = a; b > i && ccc(out.chars[b - 1]) > ccc(out.chars[b]); --b) {
        std::swap(out.chars[b - 1], out.chars[b]);
        std::swap(out.start[b - 1], out.start[b]);
        std::swap(out.end[b - 1], out.end[b]);
      }
    }
    for (size_t a = i; a < j; ++a) {
      if (!is_nonspacing_mark(out.chars[a])) {
        out.chars[w] = out.chars[a], out.start[w] = out.start[a], out.end[w] = out.end[a], ++w;
      }
    }
    i = j;
  }
  out.chars.resize(w);
  out.start.resize(w);
  out.end.resize(w);
}

}  // namespace heed::tokenizers
