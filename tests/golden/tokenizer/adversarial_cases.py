"""Hand-written adversarial inputs for the tokenizer goldens (make_goldens.py)."""

SINGLES = [
    # plain / punctuation / whitespace
    "", " ", "   \t\n  ", "a", "A", "Hello, world!", "hello   world", "  leading and trailing  ",
    "don't can't won't I'm you're we've", "e.g. i.e. U.S.A. 3.14 1,000,000 $5 50% #1 @home",
    "a+b=c <tag> x|y ~tilde^caret `back` {brace} [bracket] (paren) \\slash/",
    "...!!!???---", "--", "a--b", "__init__", "C++ and C# and F#", "email@example.com http://x.y/z?q=1&r=2",
    "tab\there", "new\nline", "cr\rreturn", "crlf\r\nend", "mixed \t\n\r whitespace",
    "unaffable", "UNAFFABLE", "Unaffable", "playing played plays", "antidisestablishmentarianism",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX",
    # accents and combining marks
    "naïve café résumé", "NAÏVE CAFÉ RÉSUMÉ", "Ångström Øre Æsir", "Crème brûlée à la façon",
    "cafe\u0301", "CAFE\u0301", "e\u0301\u0301", "\u0301start", "a\u0308\u0304", "o\u0302\u0323 \u1ed9",
    "n\u0303 \u00f1", "A\u030A \u00c5 \u212b", "\u2126 ohm \u03a9", "x\u0336y\u0336", "Zalgo: Z\u0351\u0352\u0353A\u0354L\u0355G\u0356O",
    "\u0300\u0301\u0302", "a\u0345", "\u1fbc \u1fb3", "Việt Nam Tiếng Việt", "Dvořák Škoda Łódź", "İstanbul ISTANBUL ıi",
    "\u0130", "\u0130\u0307", "i\u0307", "straße STRASSE \u1e9e", "ǅ ǈ ǋ", "ﬁ ﬂ ﬀ ligatures",
    # Greek sigma (final sigma rule differs between JS toLowerCase and per-character lower())
    "ΟΔΟΣ", "ΟΔΟΣ ΟΔΟΣ.", "ΣΑΣ", "Σ", "ΑΣ-Β", "ΑΣ.Β", "όδος οδός Οδός", "ΣΊΣΥΦΟΣ", "ὈΔΥΣΣΕΎΣ",
    # CJK (BMP, supplementary, compatibility ideographs), kana, hangul
    "你好世界", "中文English混合", "日本語のテキスト", "カタカナ ひらがな", "한국어 텍스트", "\u1100\u1161\u11a8",
    "𠀀𠀁 ext-B", "𪜀 ext-C", "𫝀 ext-D", "𫠠 ext-E", "𬺰 ext-F", "\U0002f800 compat-sup", "\uf900\uf901 compat",
    "\u3400 ext-A", "\u9fff\u4e00", "全角ＡＢＣ１２３", "「引用」『二重』。、", "\u3000ideographic space\u3000",
    # emoji and symbols
    "I ❤ NY", "😀😃😄", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "emoji😀inside", "★☆♠♣", "€£¥₹", "±×÷≠≤≥",
    "©®™", "→←↑↓", "½¼¾", "²³¹", "x² + y²", "∑∫√∞", "°C °F", "§¶†‡", "‰ ‱",
    # control, format, zero-width, special spaces
    "a\u0000b", "a\ufffdb", "a\u0001b\u001fc", "a\u007fb", "a\u0085b", "a\u200bb", "a\u200cb\u200dc",
    "a\u200eb\u200fc", "a\ufeffb", "\ufeffBOM at start", "soft\u00adhyphen", "a\u2028b", "a\u2029b",
    "a\u00a0b", "a\u2003b", "a\u2009b", "a\u202fb", "a\u205fb", "a\u1680b", "a\u180eb", "a\u000bb\u000cc",
    "a\u001cb\u001dc\u001ed", "\u2060word\u2061joiner", "a\u2066b\u2069c", "\ue000private\uf8ff",
    "\U000f0000plane15", "a\u0378b unassigned", "a\U000e0001b tag", "\u00ad", "\u200b", "\u200b\u200b\u200b",
    # long words
    "a" * 100, "a" * 101, "b" * 99 + " ok", "x" * 150 + " tail", "ab" * 60,
    "supercalifragilisticexpialidocious" * 3, "é" * 101, "1234567890" * 11,
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    # special tokens in text
    "hello [MASK] world", "hello[MASK]world", "[CLS] already [SEP]", "[cls] lower [sep]", "[Cls] [MASK",
    "[MASK][MASK][MASK]", "[PAD] [UNK] [CLS] [SEP] [MASK]", "x[UNK]y", "[[MASK]]", "[MASK]]",
    "[CL\u200bS] zero width inside", "[MA\u00adSK] soft hyphen inside", "\u200b[SEP]\u200b",
    "[ MASK ]", "[MASKS]", "[mask]", "the [MASK] sat on the [MASK].", "İ[MASK]İ",
    # numbers, mixed scripts, rtl
    "١٢٣ Arabic-Indic digits", "مرحبا بالعالم", "שלום עולם", "Привет, мир!", "ПРИВЕТ", "Ελληνικά", "हिन्दी",
    "ภาษาไทย", "ქართული", "Ⅻ roman", "①②③",
    # punctuation unicode
    "“smart quotes” ‘single’", "em—dash en–dash", "ellipsis…", "¡Hola! ¿Qué?", "«guillemets»", "a·b",
    "a\u037eb greek question mark", "a\u0387b ano teleia", "a\u2024b one dot leader",
]

PAIRS = [
    ("How old are you?", "I am six years old."),
    ("A much longer first sequence that goes on and on and on for a while", "short"),
    ("short", "A much longer second sequence that goes on and on and on for a while"),
    ("equal length one two", "equal length three four"),
    ("naïve café", "ΟΔΟΣ 你好"),
    ("[MASK] token", "another [SEP] inside"),
    ("", "empty first"),
    ("empty second", ""),
    ("x" * 120, "tiny"),
]

TRUNCATIONS = [None, "longest_first", "only_first", "only_second"]
MAX_LENGTHS = [1, 3, 5, 8, 12, 32]


def cases():
    out = []
    for i, s in enumerate(SINGLES):
        out.append({"id": f"single-{i:03d}", "text": s})
    for i, s in enumerate(SINGLES[::4]):  # single sequences truncated/padded
        out.append({"id": f"single-trunc-{i:03d}", "text": s, "truncation": "longest_first",
                    "max_length": 6, "padding": "max_length"})
    for i, (a, b) in enumerate(PAIRS):
        out.append({"id": f"pair-{i:02d}", "text": a, "pair": b})
        for t in TRUNCATIONS[1:]:
            for m in MAX_LENGTHS:
                out.append({"id": f"pair-{i:02d}-{t}-{m}", "text": a, "pair": b, "truncation": t,
                            "max_length": m, "padding": "max_length"})
        out.append({"id": f"pair-{i:02d}-pad-40", "text": a, "pair": b, "max_length": 40,
                    "padding": "max_length"})
    for t in TRUNCATIONS[1:]:  # single sequence with pair strategies
        out.append({"id": f"single-{t}-4", "text": "one two three four five six", "truncation": t,
                    "max_length": 4, "padding": "max_length"})
    return out
