#!/usr/bin/python3
"""Recipe parity for `heed pretrain`: PyTorch trains the same BERT on the same token stream.

    /usr/bin/python3 tests/golden/pretrain/make_pretrain_parity.py build/release/heed

1. Runs `heed pretrain` (the ARGS below) with --dump-batches, so heed writes its initial
   weights (init/, Hugging Face layout) and every micro-batch it trains on (batches/:
   input_ids, token_type_ids, attention_mask, mlm_labels, nsp_labels), i.e. the packing,
   NSP sampling and 80/10/10 masking of heed's pipeline, with its seed.
2. Replays those batches through the reference BERT of tests/golden/bert (a re-implementation
   of transformers' modeling_bert.py with HF's parameter names) with torch.optim.AdamW,
   the no-decay list (biases, LayerNorm), HF's linear warmup + decay
   (get_linear_schedule_with_warmup) and clip_grad_norm_, dropout 0.
3. Writes torch_losses.json: the loss of every step (MLM + NSP), which
   tests/tasks/test_pretrain_parity.cc compares with heed's metrics.jsonl (2% at every
   step, the issue's acceptance) after rerunning heed with the same ARGS.

Fixtures beside this script: corpus.txt (the first ~700 KB of the bundled austen and sotu
texts), vocab/ (`heed vocab --corpus corpus.txt --size 2000 --out vocab`), config.json (a
small BERT). Needs Debian's python3-torch (1.13) and python3-numpy.
"""

import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bert"))
from make_bert_goldens import BertForPreTraining, Cfg  # noqa: E402

STEPS = 300
# Shared with tests/tasks/test_pretrain_parity.cc (kParityArgs there): keep in sync.
ARGS = ["--model-config", "{here}/config.json", "--corpus", "{here}/corpus.txt",
        "--vocab", "{here}/vocab", "--steps", str(STEPS), "--batch-size", "16",
        "--max-seq-length", "64", "--lr", "1e-3", "--warmup-ratio", "0.1",
        "--weight-decay", "0.01", "--max-grad-norm", "1.0", "--dropout", "0",
        "--validation-every", "0", "--log-every", "1", "--eval-every", "0",
        "--save-every", "0", "--seed", "1234", "--threads", "2", "--quiet"]


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    dt = {"F32": np.float32, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def is_no_decay(name):
    return name.endswith("bias") or "LayerNorm" in name or "norm" in name


def lr_factor(step, warmup, total):
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, 1.0 - (step - warmup) / max(1, total - warmup))


def main():
    heed = os.path.abspath(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        args = [a.format(here=HERE) for a in ARGS]
        subprocess.run([heed, "pretrain", *args, "--out", out, "--dump-batches", str(STEPS)],
                       check=True)
        with open(os.path.join(out, "init", "config.json")) as f:
            cfg = json.load(f)
        run_cfg = json.load(open(os.path.join(out, "run_config.json")))
        heed_losses = [r["loss"] for r in map(json.loads, open(os.path.join(out, "metrics.jsonl")))
                       if r.get("type") == "train"]
        model = BertForPreTraining(Cfg(cfg))
        sd = read_safetensors(os.path.join(out, "init", "model.safetensors"))
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if k not in ("cls.predictions.decoder.weight",
                                                   "cls.predictions.decoder.bias")]
        assert not missing and not unexpected, (missing, unexpected)
        model.train()
        named = list(model.named_parameters())
        groups = [{"params": [p for n, p in named if not is_no_decay(n)],
                   "weight_decay": run_cfg["weight_decay"]},
                  {"params": [p for n, p in named if is_no_decay(n)], "weight_decay": 0.0}]
        lr = run_cfg["lr"]
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        warmup = math.ceil(run_cfg["warmup_ratio"] * STEPS)
        losses = []
        for step in range(STEPS):
            b = read_safetensors(os.path.join(out, "batches", f"batch_{step:06d}.safetensors"))
            for g in opt.param_groups:
                g["lr"] = lr * lr_factor(step, warmup, STEPS)
            opt.zero_grad()
            o = model(b["input_ids"].long(), b["attention_mask"].long(),
                      b["token_type_ids"].long(), b["mlm_labels"].long(), b["nsp_labels"].long())
            o["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), run_cfg["max_grad_norm"])
            opt.step()
            losses.append(o["loss"].item())
    worst = max(abs(h - t) / t for h, t in zip(heed_losses, losses))
    print(f"{STEPS} steps: torch loss {losses[0]:.4f} -> {losses[-1]:.4f}; heed "
          f"{heed_losses[0]:.4f} -> {heed_losses[-1]:.4f}; worst relative gap {worst:.2e}")
    result = {"steps": STEPS, "args": ARGS, "torch": "torch " + torch.__version__,
              "losses": losses, "heed_losses_when_made": heed_losses}
    with open(os.path.join(HERE, "torch_losses.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
