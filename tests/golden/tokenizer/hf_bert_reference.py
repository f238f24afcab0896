"""Reference for heed's BertTokenizer goldens: Hugging Face's *Python* BertTokenizer.

This follows transformers v4 `PreTrainedTokenizer.tokenize` + `BertTokenizer` +
`BasicTokenizer` + `WordpieceTokenizer` + `truncate_sequences` + `_pad`
(src/transformers/tokenization_utils.py, tokenization_utils_base.py,
models/bert/tokenization_bert.py, Apache-2.0) step by step, in the same order:

  1. per-code-point lowercase of everything but special tokens (tokenize()'s
     `re.sub(r"(special)|(.+?)", ...)`: one character per match, so Python's
     Final_Sigma rule never fires);
  2. added-token trie split on that text;
  3. for each remaining chunk: _clean_text, _tokenize_chinese_chars, NFC,
     whitespace split, never_split check, token.lower(), NFD + drop Mn,
     punctuation split, WordPiece.

Each character carries the [start, end) code-point span of the original text it
came from, so the reference also yields offsets with the fast tokenizer's
conventions (specials and padding get (0, 0); pair offsets index the pair text).
Every string transformation is also done the plain HF way and asserted equal, so
the alignment bookkeeping cannot change the tokens.

`quirks` re-runs the pipeline the way transformers.js does it; make_goldens.py
uses it only to *explain* each case where transformers.js and HF Python differ.
"""
import unicodedata

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def load_vocab(path):
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c, quirks=()):
    if c in "\t\n\r":
        return False
    cat = unicodedata.category(c)
    if "keep_unassigned" in quirks:  # JS tests \p{Cc}|\p{Cf}|\p{Co}|\p{Cs}: no Cn
        return cat in ("Cc", "Cf", "Co", "Cs")
    return cat.startswith("C")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_chinese(cp, quirks=()):
    if "utf16_cjk" in quirks and cp > 0xFFFF:  # JS iterates UTF-16 code units
        return False
    return any(a <= cp <= b for a, b in CJK_RANGES)


def nfc_aligned(chars):
    """NFC over (char, start, end) triples. A composition segment starts at a
    character that is a starter and does not compose with what precedes it; a
    segment that NFC changes maps every output character to the whole segment."""
    text = "".join(c for c, _, _ in chars)
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return chars
    segs, cur = [], []
    for t in chars:
        if cur and unicodedata.combining(t[0]) == 0:
            s = "".join(c for c, _, _ in cur)
            if unicodedata.normalize("NFC", s + t[0]) == unicodedata.normalize("NFC", s) + unicodedata.normalize("NFC", t[0]):
                segs.append(cur)
                cur = []
        cur.append(t)
    if cur:
        segs.append(cur)
    out = []
    for seg in segs:
        s = "".join(c for c, _, _ in seg)
        n = unicodedata.normalize("NFC", s)
        if n == s:
            out.extend(seg)
        else:
            lo, hi = min(x[1] for x in seg), max(x[2] for x in seg)
            out.extend((c, lo, hi) for c in n)
    assert "".join(c for c, _, _ in out) == unicodedata.normalize("NFC", text)
    return out


def nfd_aligned(chars):
    """NFD with canonical reordering, carrying spans."""
    out = []
    for c, s, e in chars:
        out.extend((d, s, e) for d in unicodedata.normalize("NFD", c))
    i = 0
    while i < len(out):  # stable sort each run of non-starters by combining class
        if unicodedata.combining(out[i][0]) == 0:
            i += 1
            continue
        j = i
        while j < len(out) and unicodedata.combining(out[j][0]) != 0:
            j += 1
        out[i:j] = sorted(out[i:j], key=lambda t: unicodedata.combining(t[0]))
        i = j
    assert "".join(c for c, _, _ in out) == unicodedata.normalize("NFD", "".join(c for c, _, _ in chars))
    return out


def lower_aligned(chars):
    return [(l, s, e) for c, s, e in chars for l in c.lower()]


class BertReference:
    def __init__(self, vocab, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 unk_token="[UNK]", max_input_chars_per_word=100, quirks=()):
        self.vocab = vocab
        self.inv = {i: t for t, i in vocab.items()}
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.unk = unk_token
        self.max_chars = max_input_chars_per_word
        self.quirks = set(quirks)
        self.specials = list(SPECIAL_TOKENS)

    # -- tokenize: list of (token, start, end) --------------------------------
    def tokenize(self, text):
        chars = [(c, i, i + 1) for i, c in enumerate(text)]
        out = []
        for chunk, is_special in self._trie_split(chars):
            if is_special:
                out.append(("".join(c for c, _, _ in chunk), chunk[0][1], chunk[-1][2]))
            else:
                out.extend(self._tokenize_chunk(chunk))
        return out

    def _trie_split(self, chars):
        """Leftmost-longest match of the special tokens on the raw text."""
        text = "".join(c for c, _, _ in chars)
        pieces, start, i = [], 0, 0
        while i < len(text):
            best = None
            for tok in self.specials:
                if text.startswith(tok, i) and (best is None or len(tok) > len(best)):
                    best = tok
            if best is None:
                i += 1
                continue
            if i > start:
                pieces.append((chars[start:i], False))
            pieces.append((chars[i:i + len(best)], True))
            i += len(best)
            start = i
        if start < len(text):
            pieces.append((chars[start:], False))
        return pieces

    def _tokenize_chunk(self, chars):
        q = self.quirks
        if self.do_lower_case and "whole_text_lower" not in q:
            chars = lower_aligned(chars)  # tokenize()'s per-character re.sub lowercase
        # _clean_text
        chars = [(" " if is_whitespace(c) else c, s, e) for c, s, e in chars
                 if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c, q))]
        if self.tokenize_chinese_chars:
            out = []
            for t in chars:
                if is_chinese(ord(t[0]), q):
                    out += [(" ", t[1], t[2]), t, (" ", t[1], t[2])]
                else:
                    out.append(t)
            chars = out
        if "no_nfc" not in q:
            chars = nfc_aligned(chars)
        if "whole_text_lower" in q and self.do_lower_case:
            # transformers.js: String.prototype.toLowerCase on the whole text (Final_Sigma)
            text = "".join(c for c, _, _ in chars)
            low = text.lower()
            assert len(low) == len(text) or "\u0130" in text
            chars = lower_aligned(chars) if len(low) != len(text) else [
                (l, s, e) for l, (_, s, e) in zip(low, chars)]
        words, cur = [], []
        for t in chars:  # str.split(): Python's isspace
            if t[0].isspace():
                if cur:
                    words.append(cur)
                cur = []
            else:
                cur.append(t)
        if cur:
            words.append(cur)
        split_tokens = []
        for word in words:
            wtext = "".join(c for c, _, _ in word)
            if wtext not in self.specials or "no_never_split" in q:
                if self.do_lower_case:
                    low = lower_aligned(word)
                    assert "".join(c for c, _, _ in low) == wtext.lower() or "whole_text_lower" in q
                    word = low
                    if self.strip_accents is not False:
                        word = [t for t in nfd_aligned(word) if unicodedata.category(t[0]) != "Mn"]
                elif self.strip_accents:
                    word = [t for t in nfd_aligned(word) if unicodedata.category(t[0]) != "Mn"]
            split_tokens.extend(self._split_on_punc(word, "no_never_split" in q))
        out = []
        for w in split_tokens:
            if w:  # whitespace_tokenize(" ".join(...)) drops empties
                out.extend(self._wordpiece(w))
        return out

    def _split_on_punc(self, word, ignore_never_split=False):
        if not ignore_never_split and "".join(c for c, _, _ in word) in self.specials:
            return [word]
        out, start_new = [], True
        for t in word:
            if is_punctuation(t[0]):
                out.append([t])
                start_new = True
            else:
                if start_new:
                    out.append([])
                start_new = False
                out[-1].append(t)
        return out

    def _wordpiece(self, word):
        chars = [c for c, _, _ in word]
        if len(chars) > self.max_chars:
            return [(self.unk, word[0][1], word[-1][2])]
        start, sub = 0, []
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                s = "".join(chars[start:end])
                if start > 0:
                    s = "##" + s
                if s in self.vocab:
                    cur = s
                    break
                end -= 1
            if cur is None:
                return [(self.unk, word[0][1], word[-1][2])]
            sub.append((cur, word[start][1], word[end - 1][2]))
            start = end
        return sub

    # -- encode: HF prepare_for_model ------------------------------------------
    def encode(self, text, pair=None, truncation=None, max_length=None, padding=False):
        if pair == "" and "js_empty_pair" in self.quirks:
            pair = None  # transformers.js: `text_pair || null`
        a = self.tokenize(text)
        b = self.tokenize(pair) if pair is not None else None
        if "js_truncation" in self.quirks:
            return self._encode_js(a, b, truncation, max_length, padding)
        if truncation and max_length is not None:
            total = len(a) + (len(b) if b is not None else 0) + (3 if b is not None else 2)
            a, b = truncate_sequences(a, b, total - max_length, truncation)
        seq = [("[CLS]", 0, 0)] + a + [("[SEP]", 0, 0)]
        types = [0] * len(seq)
        if b is not None:
            seq += b + [("[SEP]", 0, 0)]
            types += [1] * (len(b) + 1)
        mask = [1] * len(seq)
        if padding == "max_length" and max_length is not None and len(seq) < max_length:
            n = max_length - len(seq)
            seq += [("[PAD]", 0, 0)] * n
            types += [0] * n
            mask += [0] * n
        return self._pack(seq, types, mask)

    def _encode_js(self, a, b, truncation, max_length, padding):
        # transformers.js: add specials first, then cut the whole row to max_length.
        seq = [("[CLS]", 0, 0)] + a + [("[SEP]", 0, 0)]
        types = [0] * len(seq)
        if b is not None:
            seq += b + [("[SEP]", 0, 0)]
            types += [1] * (len(b) + 1)
        mask = [1] * len(seq)
        if max_length is not None:
            if len(seq) > max_length and truncation:
                seq, types, mask = seq[:max_length], types[:max_length], mask[:max_length]
            elif len(seq) < max_length and padding == "max_length":
                n = max_length - len(seq)
                seq += [("[PAD]", 0, 0)] * n
                types += [0] * n
                mask += [0] * n
        return self._pack(seq, types, mask)

    def _pack(self, seq, types, mask):
        tokens = [t for t, _, _ in seq]
        ids = [self.vocab.get(t, self.vocab[self.unk]) for t in tokens]
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "tokens": tokens,
                "offsets": [[s, e] for _, s, e in seq], "decoded": decode(tokens)}


def truncate_sequences(ids, pair_ids, num_tokens_to_remove, strategy):
    """transformers v4 PreTrainedTokenizerBase.truncate_sequences, truncation_side='right'."""
    if num_tokens_to_remove <= 0:
        return ids, pair_ids
    if strategy == "only_first" or (strategy == "longest_first" and pair_ids is None):
        if len(ids) > num_tokens_to_remove:
            ids = ids[:-num_tokens_to_remove]
        # else: HF logs an error and leaves the input as is
    elif strategy == "longest_first":
        for _ in range(num_tokens_to_remove):
            if pair_ids is None or len(ids) > len(pair_ids):
                ids = ids[:-1]
            else:
                pair_ids = pair_ids[:-1]
    elif strategy == "only_second" and pair_ids is not None:
        if len(pair_ids) > num_tokens_to_remove:
            pair_ids = pair_ids[:-num_tokens_to_remove]
    return ids, pair_ids


def clean_up_tokenization(s):
    return (s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


def decode(tokens):
    """BertTokenizer.convert_tokens_to_string + clean_up_tokenization_spaces=True."""
    return clean_up_tokenization(" ".join(tokens).replace(" ##", "").strip())
