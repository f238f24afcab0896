#!/usr/bin/python3
"""PyTorch side of bench/compare: times BERT inference or one training step (BertForMaskedLM,
full-vocabulary MLM loss, AdamW) with the reference BERT of
tests/golden/bert/make_bert_goldens.py (Hugging Face's modeling_bert formulas and names),
on random weights; optionally exports the inference model to ONNX for ONNX Runtime.

    /usr/bin/python3 bench/torch_bench.py --model base --batch 8 --seq 128 --mode infer --json
    /usr/bin/python3 bench/torch_bench.py --model mini --export-onnx /tmp/mini.onnx

Prints one JSON object on the last line with --json (the keys of `heed bench --json`).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "golden", "bert"))
import make_bert_goldens as ref  # noqa: E402  (the reference BERT; importing runs nothing)

BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
            initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0)
MINI = dict(BASE, num_hidden_layers=4, hidden_size=256, num_attention_heads=4,
            intermediate_size=1024)


def config(name):
    if name == "base":
        return ref.Cfg(BASE)
    if name == "mini":
        return ref.Cfg(MINI)
    with open(os.path.join(name, "config.json")) as f:
        return ref.Cfg(dict(BASE, **json.load(f)))


class Encoder(nn.Module):
    """BertModel without the pooler returning last_hidden_state only (what heed bench and the
    ONNX graph compute)."""

    def __init__(self, c):
        super().__init__()
        self.bert = ref.BertModel(c, add_pooling_layer=False)

    def forward(self, input_ids, attention_mask):
        return self.bert(input_ids, attention_mask)["last_hidden_state"]


class MaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = ref.BertModel(c, add_pooling_layer=False)
        self.cls = ref.BertOnlyMLMHead(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, labels):
        h = self.bert(input_ids)["last_hidden_state"]
        logits = self.cls.predictions(h)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))


def flops(c, B, T, mode):  # as heed/perf/bert_bench.h
    M, C, Fd, V, L = B * T, c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers
    enc = L * (2 * M * (4 * C * C + 2 * C * Fd) + 4 * B * T * T * C)
    return enc if mode == "infer" else 3 * (enc + 2 * M * C * C + 2 * M * C * V)


def init_(model, c, seed):
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("LayerNorm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, c.initializer_range)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--mode", choices=["infer", "train"], default="infer")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                    help="bf16: torch.autocast(cpu, bfloat16)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export-onnx", metavar="PATH", help="export the inference model and exit")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    c = config(a.model)
    B, T = a.batch, a.seq
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(1000, c.vocab_size, (B, T), generator=g)

    if a.export_onnx:
        m = Encoder(c).eval()
        init_(m, c, a.seed)
        mask = torch.ones_like(ids)
        torch.onnx.export(m, (ids, mask), a.export_onnx, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "B", 1: "T"},
                                        "attention_mask": {0: "B", 1: "T"},
                                        "last_hidden_state": {0: "B", 1: "T"}})
        print(f"wrote {a.export_onnx}")
        return

    if a.mode == "infer":
        m = Encoder(c).eval()
        init_(m, c, a.seed)
        mask = torch.ones_like(ids)

        def step():
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16,
                                                        enabled=a.dtype == "bf16"):
                m(ids, mask)
    else:
        m = MaskedLM(c).train()
        init_(m, c, a.seed)
        labels = torch.randint(1000, c.vocab_size, (B, T), generator=g)
        decay = [p for n, p in m.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
        no_decay = [p for n, p in m.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", torch.bfloat16, enabled=a.dtype == "bf16"):
                loss = m(ids, labels)
            loss.backward()
            opt.step()

    for _ in range(a.warmup):
        step()
    lat = []
    c0 = time.process_time()
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        lat.append((time.perf_counter() - t0) * 1e3)
    cpu_s = time.process_time() - c0
    med = statistics.median(lat)
    gflop = flops(c, B, T, a.mode) / 1e9
    r = dict(model=a.model, mode=a.mode, dtype=a.dtype, batch=B, seq=T, threads=a.threads,
             latency_ms_median=med, latency_ms_min=min(lat), latency_ms_max=max(lat),
             tokens_per_s=B * T / (med / 1e3), gflop=gflop, gflops=gflop / (med / 1e3),
             peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
             cpu_s=cpu_s, latencies_ms=lat)
    print(f"torch {a.mode} {a.model} {a.dtype} b{B} s{T}: median {med:.2f} ms, "
          f"{r['tokens_per_s']:.0f} tokens/s, {r['gflops']:.1f} GFLOP/s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")
    if a.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
