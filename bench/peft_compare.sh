#!/usr/bin/env bash
# Full fine-tuning against each PEFT method, from one pretrained checkpoint, on one
# dataset: trainable parameters, whole-run peak RSS, wall time, mean training speed
# (tokens/s from metrics.jsonl) and the best validation accuracy / macro-F1.
#
#   bench/peft_compare.sh MODEL_DIR fine_foods   OUT_ROOT [methods...]
#   bench/peft_compare.sh MODEL_DIR debian_topic OUT_ROOT [methods...]
#
# methods: full lora adalora ia3 prefix adapter (default: all), or a variant
# <method>_<name> (e.g. lora_attn) with its own bench/peft/<method>_<name>.json. Settings
# are bench/peft/<variant>.json (PEFT field names) and the learning rates below (a variant
# without its own entry uses its method's; LR_<variant>=... overrides); every run
# uses batch 32, max length 128, seed 0 and 4 epochs (EPOCHS=N, or EPOCHS_<variant>=N, changes that). fine_foods holds out 10% of
# data/fine_foods/train.csv for validation; debian_topic uses data/debian_topic/validation.csv.
# Runs one method at a time; run it on a quiet machine when the speeds matter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
heed="${HEED:-$root/build/release/cli/heed}"
model="$1"; data="$2"; out_root="$3"; shift 3
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(full lora adalora ia3 prefix adapter)
case "$data" in
  fine_foods) data_args=(--train "$root/data/fine_foods/train.csv" --validation-fraction 0.1) ;;
  debian_topic) data_args=(--train "$root/data/debian_topic/train.csv" --eval "$root/data/debian_topic/validation.csv") ;;
  *) echo "peft_compare: unknown dataset $data (fine_foods | debian_topic)" >&2; exit 2 ;;
esac
declare -A lr=([full]=1e-4 [lora]=1e-3 [adalora]=1e-3 [ia3]=3e-3 [prefix]=1e-2 [adapter]=1e-3
              [lora_attn]=3e-3 [lora_hi]=5e-3 [lora_2e3]=2e-3 [lora_pooler]=1e-3 [lora_all]=1e-3 [lora_plus]=2e-3)
mkdir -p "$out_root"
summary="$out_root/summary_$data.tsv"
[ -f "$summary" ] || printf 'dataset\tmethod\tlr\tepochs\ttrainable\ttotal\tpeak_rss_mb\twall_s\ttokens_per_s\taccuracy\tmacro_f1\n' > "$summary"
for m in "${methods[@]}"; do
  out="$out_root/$data-$m"
  rm -rf "$out"
  base="${m%%_*}"
  override="LR_$m"
  [ -n "${!override:-}" ] && lr[$m]="${!override}"
  [ -z "${lr[$m]:-}" ] && lr[$m]="${lr[$base]}"
  epochs_override="EPOCHS_$m"
  epochs="${!epochs_override:-${EPOCHS:-4}}"
  peft_args=()
  [ "$m" != full ] && peft_args=(--peft "$base" --peft-config "$root/bench/peft/$m.json")
  log="$out_root/$data-$m.log"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$out_root/$data-$m.rss" \
    "$heed" finetune --model "$model" "${data_args[@]}" --out "$out" --epochs "$epochs" --lr "${lr[$m]}" \
      --seed 0 "${peft_args[@]}" > "$log" 2>&1
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  rss_kb=$(tail -1 "$out_root/$data-$m.rss")
  /usr/bin/python3 - "$out" "$log" "$data" "$m" "${lr[$m]}" "$epochs" "$rss_kb" "$wall" >> "$summary" <<'PY'
import json, re, sys
out, log, data, m, lr, epochs, rss_kb, wall = sys.argv[1:]
ev = json.load(open(f"{out}/eval_results.json"))
tps = [json.loads(l)["tokens_per_s"] for l in open(f"{out}/metrics.jsonl") if '"type":"train"' in l]
text = open(log).read()
mt = re.search(r"([\d,]+) trainable parameters of ([\d,]+)", text)
trainable, total = (mt.group(1).replace(",", ""), mt.group(2).replace(",", "")) if mt else ("all", "all")
print(f"{data}\t{m}\t{lr}\t{epochs}\t{trainable}\t{total}\t{int(rss_kb)/1024:.0f}\t{float(wall):.0f}\t"
      f"{sum(tps)/len(tps):.0f}\t{ev['accuracy']:.4f}\t{ev['macro_f1']:.4f}")
PY
  tail -1 "$summary"
done
