#!/usr/bin/env bash
# Long sequences (issue 5, goal 5): one BERT-mini training step (masked-LM loss on every
# position, AdamW) at batch 1 x seq 4096, heed vs PyTorch, f32 and bf16 mixed precision;
# peak RSS and latency of each, alternating runs. bench/configs/mini-4096 is BERT-mini with
# 4096 positions. PyTorch runs at its best configuration (as in bench/compare). heed runs
# with its fused MLM head (default) and with --unfused-head (logits materialised).
#
#   bench/long_seq.sh [SEQ] [ROUNDS]          # defaults 4096, 2
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
HEED="${HEED:-$root/build/release/cli/heed}"
seq="${1:-4096}"
rounds="${2:-2}"
cfg="$here/configs/mini-4096"
out="${WORK:-/tmp/heed_long_seq}"
mkdir -p "$out"
: > "$out/results.jsonl"
echo "# $(date -Is); load $(cut -d' ' -f1-3 /proc/loadavg); heed $HEED; batch 1 x seq $seq"
for r in $(seq "$rounds"); do
  for d in f32 bf16; do
    j="$("$HEED" bench --model-config "$cfg" --batch 1 --seq "$seq" --mode train --dtype "$d" \
         --iters 2 --warmup 1 --threads 2 --json | tail -1)"
    echo "{\"engine\":\"heed-$d\",\"r\":$j}" >> "$out/results.jsonl"
    if [[ "$d" == f32 ]]; then  # the MLM logits materialised, as PyTorch does
      j="$("$HEED" bench --model-config "$cfg" --batch 1 --seq "$seq" --mode train --unfused-head \
           --iters 2 --warmup 1 --threads 2 --json | tail -1)"
      echo "{\"engine\":\"heed-f32-unfused\",\"r\":$j}" >> "$out/results.jsonl"
    fi
    t="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=passive /usr/bin/python3 \
         "$here/torch_bench.py" --model "$cfg" --batch 1 --seq "$seq" --mode train --dtype "$d" \
         --iters 2 --warmup 1 --threads 2 --json 2>&1 | tail -1)" || t=""
    if [[ "$t" == "{"* ]]; then
      echo "{\"engine\":\"torch-$d\",\"r\":$t}" >> "$out/results.jsonl"
    else
      echo "torch-$d failed: $t" >&2
    fi
  done
done
/usr/bin/python3 - "$out/results.jsonl" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs[d["engine"]].append(d["r"])
med = {e: (statistics.median(r["latency_ms_median"] for r in v),
           statistics.median(r["peak_rss_mb"] for r in v)) for e, v in runs.items()}
print("| engine | step ms (median) | peak RSS MB |")
print("|---|---|---|")
for e, (ms, mb) in med.items():
    print(f"| {e} | {ms:.0f} | {mb:.0f} |")
for d in ("f32", "bf16"):
    h, t = med.get("heed-" + d), med.get("torch-" + d)
    if h and t:
        print(f"{d}: peak RSS heed/torch {h[1] / t[1]:.2f}, speed heed/torch {t[0] / h[0]:.2f}x")
PY
