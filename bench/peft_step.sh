#!/usr/bin/env bash
# Step time and peak memory of full fine-tuning against each PEFT method, one process
# per measurement, alternating the methods round by round (A B C ... A B C ...):
#   bench/peft_step.sh [ROUNDS] [MODEL_CONFIG] [BATCH] [SEQ]      defaults 3 mini 32 128
#   METHODS="full lora_plus" bench/peft_step.sh ...                 other methods or variants
# Each measurement is `heed bench --mode finetune [--peft M] --peft-config bench/peft/V.json`
# (V a method or a variant <method>_<name>, as in bench/peft_compare.sh)
# (BertForSequenceClassification, cross-entropy, AdamW over the trainable tensors; random
# weights). Prints, per method, the median over rounds of the median step time, its spread,
# tokens/s, peak RSS (VmHWM) and the trainable parameters, and the ratios to full
# fine-tuning. Run on a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
heed="${HEED:-$root/build/release/cli/heed}"
rounds="${1:-3}"; cfg="${2:-mini}"; batch="${3:-32}"; seq="${4:-128}"
read -r -a methods <<< "${METHODS:-full lora adalora ia3 prefix adapter}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for m in "${methods[@]}"; do
    args=()
    [ "$m" != full ] && args=(--peft "${m%%_*}" --peft-config "$root/bench/peft/$m.json")
    "$heed" bench --model-config "$cfg" --mode finetune --batch "$batch" --seq "$seq" \
      --iters 5 --warmup 2 --json "${args[@]}" | tail -1 >> "$tmp/$m.jsonl"
  done
done
/usr/bin/python3 - "$tmp" "${methods[@]}" <<'PY'
import json, statistics, sys
tmp, methods = sys.argv[1], sys.argv[2:]
rows = {}
for m in methods:
    runs = [json.loads(l) for l in open(f"{tmp}/{m}.jsonl")]
    lat = [r["latency_ms_median"] for r in runs]
    rows[m] = dict(lat=statistics.median(lat), lo=min(lat), hi=max(lat),
                   tps=statistics.median(r["tokens_per_s"] for r in runs),
                   rss=statistics.median(r["peak_rss_mb"] for r in runs),
                   tr=runs[0]["trainable_params"], tot=runs[0]["total_params"])
f = rows["full"]
print(f"{'method':10} {'trainable':>10} {'%':>7} {'step ms (min-max)':>24} {'tok/s':>7} {'peak MB':>8} {'step/full':>9} {'mem/full':>8}")
for m, r in rows.items():
    print(f"{m:10} {r['tr']:>10} {100*r['tr']/r['tot']:>6.2f}% {r['lat']:>9.0f} ({r['lo']:.0f}-{r['hi']:.0f}) "
          f"{r['tps']:>7.0f} {r['rss']:>8.0f} {r['lat']/f['lat']:>9.2f} {r['rss']/f['rss']:>8.2f}")
PY
