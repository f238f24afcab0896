#!/usr/bin/python3
"""Table for bench/compare: per case and engine, the median of the per-run median latencies
and their spread; speed ratios (heed's throughput over ORT's and PyTorch's; for training,
heed's bf16 mixed precision over PyTorch's f32 and bf16 autocast, and heed with the MLM
logits materialised as PyTorch does, "heed-f32-unfused") and the
fraction of the measured 2-core FMA peak that heed f32 reaches.

    /usr/bin/python3 bench/compare_report.py /tmp/heed_compare/results.jsonl [fma_peak.json]
"""
import collections
import json
import statistics
import sys


def fma_peak(path):
    try:
        with open(path) as f:
            bms = json.load(f)["benchmarks"]
    except (OSError, ValueError, KeyError):
        return {}
    peak = {}
    for b in bms:  # BM_Peak/<kind>/<threads>: kind 0 f32, 1 bf16, 2 int8
        parts = b["name"].split("/")
        if len(parts) >= 3 and "GFLOP/s" in b:
            peak[(int(parts[1]), int(parts[2]))] = b["GFLOP/s"] / 1e9 if b["GFLOP/s"] > 1e6 else b["GFLOP/s"]
    return peak


def main():
    runs = collections.defaultdict(list)
    gflop = {}
    rss = collections.defaultdict(list)
    for line in open(sys.argv[1]):
        if not line.strip():
            continue
        d = json.loads(line)
        runs[(d["case"], d["engine"])].append(d["r"]["latency_ms_median"])
        rss[(d["case"], d["engine"])].append(d["r"]["peak_rss_mb"])
        if "gflop" in d["r"]:
            gflop[d["case"]] = d["r"]["gflop"]
    peak = fma_peak(sys.argv[2]) if len(sys.argv) > 2 else {}
    peak2 = peak.get((0, 2))
    cases = list(dict.fromkeys(c for c, _ in runs))
    engines = ["heed-f32", "heed-bf16", "heed-int8", "heed-f32-unfused", "ort-f32", "torch-f32",
               "torch-bf16"]
    print("| case | " + " | ".join(e + " ms (spread)" for e in engines) +
          " | f32 heed/ORT | f32 heed/torch | f32 unfused heed/torch | bf16 heed/ORT f32 | int8 heed/ORT f32 | bf16 heed/torch f32 | bf16 heed/torch bf16 | heed f32 GFLOP/s | % 2-core FMA peak | peak RSS MB heed f32/heed bf16/heed f32 unfused/torch f32/ORT |")
    print("|" + "---|" * (len(engines) + 11))
    for c in cases:
        med = {}
        cells = []
        for e in engines:
            v = runs.get((c, e))
            if not v:
                cells.append("-")
                continue
            med[e] = statistics.median(v)
            cells.append(f"{med[e]:.1f} ({min(v):.1f}..{max(v):.1f})")

        def ratio(a, b):
            return f"{med[b] / med[a]:.2f}x" if a in med and b in med else "-"

        gf = gflop.get(c)
        heed_gflops = gf / (med["heed-f32"] / 1e3) if gf and "heed-f32" in med else None
        pk = f"{100 * heed_gflops / peak2:.0f}%" if heed_gflops and peak2 else "-"
        mem = "/".join(f"{statistics.median(rss[(c, e)]):.0f}" if rss.get((c, e)) else "-"
                       for e in ("heed-f32", "heed-bf16", "heed-f32-unfused", "torch-f32", "ort-f32"))
        gstr = f"{heed_gflops:.1f}" if heed_gflops else "-"
        print(f"| {c} | " + " | ".join(cells) +
              f" | {ratio('heed-f32', 'ort-f32')} | {ratio('heed-f32', 'torch-f32')}"
              f" | {ratio('heed-f32-unfused', 'torch-f32')}"
              f" | {ratio('heed-bf16', 'ort-f32')} | {ratio('heed-int8', 'ort-f32')}"
              f" | {ratio('heed-bf16', 'torch-f32')} | {ratio('heed-bf16', 'torch-bf16')}"
              f" | {gstr} | {pk} | {mem} |")
    if peak:
        print("\nmeasured peaks (bench_fma_peak), GFLOP/s: " +
              ", ".join(f"{['f32', 'bf16', 'int8'][k]} {t} thr {v:.0f}" for (k, t), v in sorted(peak.items())))
    print("ratios are throughput ratios (other's latency / heed's): > 1 means heed is faster.")


if __name__ == "__main__":
    main()
