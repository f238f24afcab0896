"""Regenerates tests/golden/tokenizer/* (see README.md there).

    python3 tests/golden/tokenizer/make_goldens.py [--corpus-dir DIR] [--lines N]

Needs node + `npm ci` in tools/tokenizer_ref, python3 (standard library only), and the
en_pretrain corpus (given with --corpus-dir, only to *make* the goldens; the
texts are copied into corpus.jsonl.gz, so tests never read the corpus).

For every case and both configurations (uncased = bert-base-uncased defaults; cased =
do_lower_case=False, strip_accents=False) the golden is HF Python BertTokenizer's answer
(hf_bert_reference.py). transformers.js is run on every case too: where it agrees, the
golden is confirmed by two implementations; where it differs, the difference must be
reproduced exactly by re-running the reference with a documented transformers.js quirk
switched on, otherwise this script fails.
"""
import argparse
import csv
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import adversarial_cases  # noqa: E402
from hf_bert_reference import BertReference, load_vocab  # noqa: E402

REF_DIR = os.path.join(ROOT, "tools", "tokenizer_ref")
VOCAB = os.path.join(ROOT, "data", "bert_vocab", "vocab.txt")
CONFIGS = {"uncased": dict(do_lower_case=True, strip_accents=None),
           "cased": dict(do_lower_case=False, strip_accents=False)}
QUIRKS = ["whole_text_lower", "no_nfc", "utf16_cjk", "keep_unassigned", "no_never_split",
          "js_truncation", "js_empty_pair"]
FIELDS = ["input_ids", "token_type_ids", "attention_mask", "tokens", "decoded"]


def corpus_cases(corpus_dir, n):
    out = []
    with open(os.path.join(corpus_dir, "manifest.csv"), newline="") as f:
        files = [row["file"] for row in csv.DictReader(f)]
    for name in files:
        with open(os.path.join(corpus_dir, name), encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                out.append({"id": f"{name}:{len(out)}", "text": line})
                if len(out) == n:
                    return out
    return out


def run_js(cases, config, models_dir, tmp):
    path = os.path.join(tmp, "cases.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    res = subprocess.run(["node", os.path.join(REF_DIR, "encode.mjs"), models_dir, config, path],
                         check=True, capture_output=True, text=True, encoding="utf-8")
    out = [json.loads(l) for l in res.stdout.splitlines() if l]
    assert [o["id"] for o in out] == [c["id"] for c in cases]
    return out


def encode(ref, c):
    return ref.encode(c["text"], c.get("pair"), c.get("truncation"), c.get("max_length"),
                      c.get("padding", False))


def same(a, b):
    return all(a[k] == b[k] for k in FIELDS)


def explain(vocab, config, c, js):
    """Smallest set of transformers.js quirks that reproduces its answer, or None."""
    for r in range(1, len(QUIRKS) + 1):
        for qs in itertools.combinations(QUIRKS, r):
            if same(encode(BertReference(vocab, quirks=qs, **CONFIGS[config]), c), js):
                return list(qs)
    return None


def build(cases, vocab, models_dir, tmp, divergences):
    results = {}
    for config in CONFIGS:
        ref = BertReference(vocab, **CONFIGS[config])
        js_all = run_js(cases, config, models_dir, tmp)
        for c, js in zip(cases, js_all):
            golden = encode(ref, c)
            if not same(golden, js):
                qs = explain(vocab, config, c, js)
                if qs is None:
                    sys.exit(f"unexplained transformers.js divergence: {config} {c['id']}\n"
                             f"  python: {golden['tokens']}\n  js:     {js['tokens']}")
                golden["js_divergence"] = qs
                divergences.setdefault(config, {}).setdefault("+".join(qs), []).append(c["id"])
            results.setdefault(c["id"], {})[config] = golden
    return [dict(c, **results[c["id"]]) for c in cases]


def compact(record, keep_decoded):
    """Offsets are stored flat ([s0, e0, s1, e1, ...]); corpus records skip `decoded`."""
    for config in CONFIGS:
        g = record[config]
        g["offsets"] = [x for span in g["offsets"] for x in span]
        if not keep_decoded:
            del g["decoded"]
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus-dir", required=True,
                    help="folder of the en_pretrain corpus (*.txt + manifest.csv); the text used is stored in the golden")
    ap.add_argument("--lines", type=int, default=20000)
    args = ap.parse_args()
    vocab = load_vocab(VOCAB)
    divergences = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = os.path.join(tmp, "models")
        for config in CONFIGS:
            subprocess.run(["node", os.path.join(REF_DIR, "make_tokenizer_json.mjs"), VOCAB,
                            os.path.join(models, config), config], check=True)
        for config in CONFIGS:  # kept for the C++ load / save-schema tests
            for name in ("tokenizer.json", "tokenizer_config.json"):
                with open(os.path.join(models, config, name), encoding="utf-8") as f:
                    data = f.read()
                base, ext = os.path.splitext(name)
                with open(os.path.join(HERE, f"{base}_{config}{ext}"), "w", encoding="utf-8") as f:
                    f.write(data)
        adv = build(adversarial_cases.cases(), vocab, models, tmp, divergences)
        with open(os.path.join(HERE, "adversarial.jsonl"), "w", encoding="utf-8") as f:
            for r in adv:
                f.write(json.dumps(compact(r, True), ensure_ascii=False, separators=(",", ":")) + "\n")
        corpus = build(corpus_cases(args.corpus_dir, args.lines), vocab, models, tmp, divergences)
        with gzip.GzipFile(os.path.join(HERE, "corpus.jsonl.gz"), "wb", mtime=0) as f:
            for r in corpus:
                f.write((json.dumps(compact(r, False), ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    with open(os.path.join(HERE, "js_divergences.json"), "w", encoding="utf-8") as f:
        json.dump(divergences, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"adversarial: {len(adv)} cases, corpus: {len(corpus)} lines")
    for config, d in divergences.items():
        for qs, ids in d.items():
            print(f"  {config}: transformers.js differs by [{qs}] in {len(ids)} cases")


if __name__ == "__main__":
    main()
