#!/usr/bin/python3
"""Writes the PyTorch golden fixtures that the C++ tests compare against.

    /usr/bin/python3 tests/golden/make_goldens.py           # (re)write every file
    /usr/bin/python3 tests/golden/make_goldens.py --verify  # read back and check

Needs Debian's python3-torch (1.13, CPU) and python3-numpy. No safetensors
package exists for that torch, so the format is written and read by hand here:
  u64 little-endian N | N bytes of JSON header (space-padded to 8) | raw data
where the header maps each name to {"dtype", "shape", "data_offsets"} and
"__metadata__" holds {"config": <JSON string describing the case>}.
Tensors are laid out contiguously, in header order. See README.md beside this.

The output is byte-identical across reruns on one machine: every case seeds
its own generator, runs single-threaded with deterministic algorithms, and
the header JSON is written in a fixed key order.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- safetensors

# torch dtype -> (safetensors code, little-endian numpy dtype)
_DTYPES = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.int64: ("I64", np.dtype("<i8")),
    torch.uint8: ("U8", np.dtype("u1")),
}
_NP_BY_CODE = {code: npd for code, npd in _DTYPES.values()}


def encode_safetensors(tensors, config):
    """Returns the bytes of a safetensors file; tensors is an ordered dict."""
    header = {"__metadata__": {"config": json.dumps(config, sort_keys=True)}}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} not stored (cast float64 to float32 first)")
        code, npd = _DTYPES[t.dtype]
        data = t.numpy().astype(npd, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(path):
    """Independent reader (struct + json + numpy only): checks the layout
    rules and returns (ordered {name: np.ndarray}, config dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    assert len(raw) >= 8, f"{path}: too short"
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    assert 8 + n <= len(raw), f"{path}: header runs past the end"
    text = raw[8:8 + n]
    body = text.rstrip(b" ")
    assert body.endswith(b"}") and len(text) - len(body) < 8, f"{path}: bad header padding"
    header = json.loads(text.decode("utf-8"))
    meta = header.pop("__metadata__")
    assert set(meta) == {"config"} and all(isinstance(v, str) for v in meta.values()), path
    data = raw[8 + n:]
    out = {}
    expect = 0
    for name, info in header.items():  # json keeps file order
        assert set(info) == {"dtype", "shape", "data_offsets"}, (path, name)
        npd = _NP_BY_CODE[info["dtype"]]
        begin, end = info["data_offsets"]
        assert begin == expect, f"{path}:{name}: offset {begin}, expected {expect} (not contiguous)"
        count = math.prod(info["shape"])
        assert end - begin == count * npd.itemsize, f"{path}:{name}: size does not match shape"
        out[name] = np.frombuffer(data[begin:end], dtype=npd).reshape(info["shape"])
        expect = end
    assert expect == len(data), f"{path}: {len(data) - expect} trailing bytes"
    return out, json.loads(meta["config"])


# -------------------------------------------------------------------- helpers

def setup_torch():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)


def f32(t):
    return t.detach().to(torch.float32)


def reinit_and_perturb_(module, scale=0.1):
    """Fresh default init for every submodule (TransformerEncoder deep-copies
    one layer, so without this its layers would start identical), then add
    scale*randn to every bias and LayerNorm weight: the defaults (0 and 1)
    would hide bugs in bias gradients and in the LayerNorm affine."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.MultiheadAttention):
                m._reset_parameters()
            elif hasattr(m, "reset_parameters"):
                m.reset_parameters()
        ln_weights = {id(m.weight) for m in module.modules() if isinstance(m, nn.LayerNorm)}
        for name, p in module.named_parameters():
            if name.endswith("bias") or id(p) in ln_weights:
                p.add_(scale * torch.randn_like(p))


def params_and_grads(module):
    ps, gs = {}, {}
    for name, p in module.named_parameters():
        ps["param." + name] = f32(p)
        gs["grad." + name] = f32(p.grad)
    return ps, gs


def lengths_to_mask(lengths, T):
    """HF attention mask (B, T) int64: 1 = attend, 0 = pad (right padding)."""
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).to(torch.int64)


COMMON = {"torch_version": torch.__version__, "dtype": "float32"}


# ------------------------------------------------------------------- encoders

def make_encoder(norm_first):
    torch.manual_seed(1001 if not norm_first else 1002)
    B, T, C, H, F_ = 3, 7, 32, 4, 64
    lengths = [7, 5, 3]
    layer = nn.TransformerEncoderLayer(d_model=C, nhead=H, dim_feedforward=F_, dropout=0.0,
                                       activation="gelu", batch_first=True,
                                       layer_norm_eps=1e-5, norm_first=norm_first)
    enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    reinit_and_perturb_(enc)
    enc.train()  # no inference fast path / nested tensors in 1.13

    x = torch.randn(B, T, C, requires_grad=True)
    attention_mask = lengths_to_mask(lengths, T)
    R = torch.randn(B, T, C)
    out = enc(x, src_key_padding_mask=attention_mask == 0)  # torch: True = pad
    (out * R).sum().backward()

    ps, gs = params_and_grads(enc)
    tensors = {"x": f32(x), "attention_mask": attention_mask, "R": R, "out": f32(out),
               **ps, **gs, "grad.x": f32(x.grad)}
    config = {**COMMON, "case": "transformer_encoder", "module": "torch.nn.TransformerEncoder",
              "num_layers": 2, "d_model": C, "nhead": H, "dim_feedforward": F_, "dropout": 0.0,
              "activation": "gelu", "gelu_approximate": "none", "layer_norm_eps": 1e-5,
              "norm_first": norm_first, "final_norm": False, "batch_first": True,
              "B": B, "T": T, "lengths": lengths, "loss": "(out * R).sum()", "mode": "train",
              "notes": "padded query rows are kept in out: they attend to the unpadded keys"}
    return tensors, config


# -------------------------------------------------------------------- decoder

def make_decoder():
    torch.manual_seed(2001)
    B, T, S, C, H, F_ = 2, 5, 9, 32, 4, 64
    mem_lengths = [9, 6]
    dec = nn.TransformerDecoderLayer(d_model=C, nhead=H, dim_feedforward=F_, dropout=0.0,
                                     activation="gelu", batch_first=True, layer_norm_eps=1e-5,
                                     norm_first=False)
    reinit_and_perturb_(dec)
    dec.train()

    tgt = torch.randn(B, T, C, requires_grad=True)
    memory = torch.randn(B, S, C, requires_grad=True)
    memory_mask = lengths_to_mask(mem_lengths, S)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = blocked
    R = torch.randn(B, T, C)
    out = dec(tgt, memory, tgt_mask=causal, memory_key_padding_mask=memory_mask == 0)
    (out * R).sum().backward()

    ps, gs = params_and_grads(dec)
    tensors = {"tgt": f32(tgt), "memory": f32(memory), "memory_mask": memory_mask, "R": R,
               "out": f32(out), **ps, **gs, "grad.tgt": f32(tgt.grad),
               "grad.memory": f32(memory.grad)}
    config = {**COMMON, "case": "transformer_decoder_layer",
              "module": "torch.nn.TransformerDecoderLayer", "d_model": C, "nhead": H,
              "dim_feedforward": F_, "dropout": 0.0, "activation": "gelu",
              "gelu_approximate": "none", "layer_norm_eps": 1e-5, "norm_first": False,
              "batch_first": True, "B": B, "T": T, "S": S, "causal": 1,
              "causal_rule": "query i sees target keys j <= i",
              "memory_lengths": mem_lengths, "loss": "(out * R).sum()", "mode": "train"}
    return tensors, config


# ----------------------------------------------------------------------- sdpa

def sdpa_reference(q, k, v, key_mask, causal):
    """softmax(q k^T / sqrt(D) + mask) v, with mask = -inf where key_mask == 0
    or (causal) where key j > query i."""
    D = q.shape[-1]
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)                 # (B, H, T, S)
    allowed = (key_mask != 0)[:, None, None, :]                      # (B, 1, 1, S)
    if causal:
        T, S = q.shape[-2], k.shape[-2]
        allowed = allowed & torch.tril(torch.ones(T, S, dtype=torch.bool))
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v                          # (B, H, T, D)


SDPA_CASES = [
    # name, B, H, T, S, D, key lengths, causal, q scale
    dict(B=2, H=3, T=5, S=6, D=8, lengths=[6, 4], causal=False, q_scale=1.0),
    dict(B=2, H=3, T=6, S=6, D=8, lengths=[6, 4], causal=True, q_scale=1.0),
    dict(B=2, H=3, T=1, S=6, D=8, lengths=[6, 6], causal=False, q_scale=1.0),
    # Large logits (|score| up to ~40): catches a softmax without max-subtraction.
    dict(B=2, H=3, T=5, S=6, D=8, lengths=[6, 3], causal=False, q_scale=8.0),
]


def make_sdpa():
    torch.manual_seed(3001)
    tensors = {}
    for i, c in enumerate(SDPA_CASES):
        B, H, T, S, D = c["B"], c["H"], c["T"], c["S"], c["D"]
        q = (c["q_scale"] * torch.randn(B, H, T, D, dtype=torch.float64)).requires_grad_()
        k = torch.randn(B, H, S, D, dtype=torch.float64, requires_grad=True)
        v = torch.randn(B, H, S, D, dtype=torch.float64, requires_grad=True)
        key_mask = lengths_to_mask(c["lengths"], S)
        R = torch.randn(B, H, T, D, dtype=torch.float64)
        out = sdpa_reference(q, k, v, key_mask, c["causal"])
        (out * R).sum().backward()
        p = f"case{i}."
        tensors.update({p + "q": f32(q), p + "k": f32(k), p + "v": f32(v),
                        p + "key_mask": key_mask, p + "R": f32(R), p + "out": f32(out),
                        p + "dq": f32(q.grad), p + "dk": f32(k.grad), p + "dv": f32(v.grad)})
    config = {**COMMON, "case": "sdpa",
              "formula": "out = softmax(q k^T / sqrt(D) + mask) v, mask = 0 or -inf",
              "computed_in": "float64, stored as float32 (inputs rounded after use)",
              "key_mask": "(B, S) int64, 1 = attend",
              "causal_rule": "query i sees keys j <= i (T == S)",
              "loss": "(out * R).sum()",
              "cases": [{"prefix": f"case{i}.", **c} for i, c in enumerate(SDPA_CASES)]}
    return tensors, config


# ------------------------------------------------------------------------ ops

def gelu_reference(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm_reference(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased, as torch
    return (x - mean) / torch.sqrt(var + eps) * w + b


def softmax_reference(x):
    e = torch.exp(x - x.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def cross_entropy_reference(logits, targets, eps, ignore_index):
    """Mean over non-ignored rows of (1-eps) * nll + eps * mean_k(-log p_k)."""
    logp = logits - torch.logsumexp(logits, -1, keepdim=True)
    valid = targets != ignore_index
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    nll = -logp.gather(1, safe[:, None])[:, 0]
    smooth = -logp.mean(-1)
    per_row = ((1 - eps) * nll + eps * smooth) * valid
    return per_row.sum() / valid.sum()


def make_ops():
    torch.manual_seed(4001)
    d = torch.float64
    t = {}

    x = (2.0 * torch.randn(4, 7, dtype=d)).requires_grad_()
    R = torch.randn(4, 7, dtype=d)
    out = gelu_reference(x)
    (out * R).sum().backward()
    t.update({"gelu.x": f32(x), "gelu.R": f32(R), "gelu.out": f32(out), "gelu.dx": f32(x.grad)})

    N, C = 4, 10
    x = (torch.randn(N, C, dtype=d) * 1.5 + 0.5).requires_grad_()
    w = (1.0 + 0.1 * torch.randn(C, dtype=d)).requires_grad_()
    b = (0.1 * torch.randn(C, dtype=d)).requires_grad_()
    R = torch.randn(N, C, dtype=d)
    out = layer_norm_reference(x, w, b, 1e-5)
    (out * R).sum().backward()
    t.update({"layer_norm.x": f32(x), "layer_norm.weight": f32(w), "layer_norm.bias": f32(b),
              "layer_norm.R": f32(R), "layer_norm.out": f32(out), "layer_norm.dx": f32(x.grad),
              "layer_norm.dweight": f32(w.grad), "layer_norm.dbias": f32(b.grad)})

    x = torch.randn(4, 9, dtype=d)
    x[3] += 80.0  # exp(80+) overflows float32: needs max-subtraction
    x.requires_grad_()
    R = torch.randn(4, 9, dtype=d)
    out = softmax_reference(x)
    (out * R).sum().backward()
    t.update({"softmax.x": f32(x), "softmax.R": f32(R), "softmax.out": f32(out),
              "softmax.dx": f32(x.grad)})

    logits = (2.0 * torch.randn(6, 5, dtype=d)).requires_grad_()
    targets = torch.tensor([1, 0, 4, -100, 2, 3], dtype=torch.int64)
    loss = cross_entropy_reference(logits, targets, 0.1, -100)
    loss.backward()
    t.update({"cross_entropy.logits": f32(logits), "cross_entropy.targets": targets,
              "cross_entropy.loss": f32(loss).reshape(1),
              "cross_entropy.dlogits": f32(logits.grad)})

    config = {**COMMON, "case": "ops",
              "computed_in": "float64, stored as float32 (inputs rounded after use)",
              "gelu": {"approximate": "none", "formula": "0.5 x (1 + erf(x / sqrt 2))",
                       "loss": "(out * R).sum()"},
              "layer_norm": {"normalized_shape": [C], "eps": 1e-5, "variance": "biased",
                             "loss": "(out * R).sum()"},
              "softmax": {"dim": -1, "loss": "(out * R).sum()",
                          "notes": "row 3 is offset by +80"},
              "cross_entropy": {"reduction": "mean", "label_smoothing": 0.1,
                                "ignore_index": -100, "loss": "loss itself (dlogits = dloss/dlogits)",
                                "formula": "sum over rows with target != ignore_index of "
                                           "(1 - ls) * (-log p[target]) + ls * mean_k(-log p[k]), "
                                           "divided by the number of such rows",
                                "loss_shape": "stored as shape (1,)"}}
    return t, config


# ---------------------------------------------------------------------- adamw

class TinyClassifier(nn.Module):
    def __init__(self, vocab=50, C=16, T=8, H=2, F_=32, labels=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, C)
        self.pos_embedding = nn.Parameter(torch.zeros(1, T, C))
        layer = nn.TransformerEncoderLayer(C, H, F_, dropout=0.0, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.classifier = nn.Linear(C, labels)

    def forward(self, input_ids):                                   # (B, T)
        h = self.embedding(input_ids) + self.pos_embedding           # (B, T, C)
        h = self.encoder(h)                                          # (B, T, C)
        return self.classifier(h.mean(dim=1))                        # (B, labels)


ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
WARMUP, TOTAL, STEPS, MAX_NORM = 2, 10, 5, 1.0


def lr_lambda(s):
    return (s + 1) / WARMUP if s < WARMUP else max(0.0, (TOTAL - s) / (TOTAL - WARMUP))


def make_adamw():
    torch.manual_seed(5001)
    model = TinyClassifier()
    reinit_and_perturb_(model)
    with torch.no_grad():
        model.pos_embedding.copy_(0.1 * torch.randn_like(model.pos_embedding))
    model.train()

    input_ids = torch.randint(0, 50, (4, 8), dtype=torch.int64)
    labels = torch.randint(0, 3, (4,), dtype=torch.int64)

    ln_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.LayerNorm)}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or id(p) in ln_weights else decay).append(name)
    named = dict(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [named[n] for n in decay], "weight_decay": ADAMW["weight_decay"]},
         {"params": [named[n] for n in no_decay], "weight_decay": 0.0}],
        lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"], foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)

    initial = {"param." + n: f32(p).clone() for n, p in model.named_parameters()}
    grad0 = {}
    losses, lrs, grad_norms = [], [], []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(input_ids), labels)
        loss.backward()
        if step == 0:
            grad0 = {"grad0." + n: f32(p.grad).clone() for n, p in model.named_parameters()}
        lrs.append(opt.param_groups[0]["lr"])
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_NORM)
        losses.append(loss.item())
        grad_norms.append(norm.item())
        opt.step()
        sched.step()
    final = {"final." + n: f32(p) for n, p in model.named_parameters()}

    tensors = {"input_ids": input_ids, "labels": labels, **initial,
               "losses": torch.tensor(losses, dtype=torch.float32),
               "lrs": torch.tensor(lrs, dtype=torch.float32),
               "grad_norms": torch.tensor(grad_norms, dtype=torch.float32),
               **grad0, **final}
    config = {**COMMON, "case": "adamw_5steps",
              "model": "embedding(50,16) + pos_embedding(1,8,16) -> TransformerEncoder(1 x "
                       "TransformerEncoderLayer(16, 2, 32, dropout=0, gelu, batch_first, post-LN, "
                       "eps=1e-5)) -> mean over T -> Linear(16, 3)",
              "vocab_size": 50, "d_model": 16, "nhead": 2, "dim_feedforward": 32, "T": 8,
              "num_labels": 3, "B": 4, "layer_norm_eps": 1e-5, "norm_first": False,
              "loss": "F.cross_entropy(logits, labels) (mean, no smoothing)",
              "optimizer": {"name": "torch.optim.AdamW", "lr": ADAMW["lr"],
                            "betas": list(ADAMW["betas"]), "eps": ADAMW["eps"],
                            "weight_decay": ADAMW["weight_decay"], "amsgrad": False,
                            "foreach": False,
                            "update": "t += 1; p *= 1 - lr*wd; m = b1 m + (1-b1) g; "
                                      "v = b2 v + (1-b2) g^2; "
                                      "p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)"},
              "param_groups": [{"weight_decay": ADAMW["weight_decay"], "names": decay},
                               {"weight_decay": 0.0, "names": no_decay}],
              "no_decay_rule": "name ends with 'bias' or is a LayerNorm weight",
              "param_order": list(named),
              "schedule": {"name": "LambdaLR", "warmup_steps": WARMUP, "total_steps": TOTAL,
                           "lambda": "s -> (s+1)/2 if s < 2 else max(0, (10 - s)/(10 - 2))",
                           "lr_at_step_k": "lr * lambda(k), k = 0-based index of the optimizer "
                                           "step (LambdaLR applies lambda(0) at construction; "
                                           "each scheduler.step() after optimizer.step() "
                                           "advances k)"},
              "clip_grad_norm": {"max_norm": MAX_NORM, "norm_type": 2.0,
                                 "rule": "total = ||(||g_i||_2)_i||_2 over param_order; "
                                         "g *= min(1, max_norm / (total + 1e-6)) always"},
              "steps": STEPS,
              "loop": "zero_grad; loss = CE(model(ids)); backward; record lr; "
                      "grad_norm = clip_grad_norm_; optimizer.step(); scheduler.step()",
              "recorded": "losses[k] before step k's update; grad_norms[k] before clipping; "
                          "grad0.* = step-0 gradients before clipping"}
    return tensors, config


# ----------------------------------------------------------------------- main

FILES = {
    "encoder_2layer.safetensors": lambda: make_encoder(norm_first=False),
    "encoder_2layer_preln.safetensors": lambda: make_encoder(norm_first=True),
    "decoder_layer.safetensors": make_decoder,
    "sdpa_small.safetensors": make_sdpa,
    "ops_small.safetensors": make_ops,
    "adamw_5steps.safetensors": make_adamw,
}
MAX_FILE_BYTES = 2 * 1024 * 1024


def write_all():
    for name, make in FILES.items():
        setup_torch()
        blob = encode_safetensors(*make())
        assert len(blob) < MAX_FILE_BYTES, f"{name}: {len(blob)} bytes"
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)
        print(f"wrote {name} ({len(blob)} bytes)")


# --- numpy re-implementations used only by --verify: they pin down the
# semantics the C++ side relies on (param layout, masks, padded queries).

def _np_gelu(x):
    from math import erf
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def _np_ln(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def _np_mha(P, pre, xq, xkv, nhead, allowed):
    """allowed: bool (B, T, S). in_proj_weight rows are [Wq; Wk; Wv]."""
    W, bias = P[pre + "in_proj_weight"], P[pre + "in_proj_bias"]
    C = xq.shape[-1]
    q = xq @ W[:C].T + bias[:C]
    k = xkv @ W[C:2 * C].T + bias[C:2 * C]
    v = xkv @ W[2 * C:].T + bias[2 * C:]
    B, T, S, D = xq.shape[0], xq.shape[1], xkv.shape[1], C // nhead
    q = q.reshape(B, T, nhead, D).transpose(0, 2, 1, 3)
    k = k.reshape(B, S, nhead, D).transpose(0, 2, 1, 3)
    v = v.reshape(B, S, nhead, D).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D)
    s = np.where(allowed[:, None], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return o @ P[pre + "out_proj.weight"].T + P[pre + "out_proj.bias"]


def _np_ffn(P, pre, x):
    h = _np_gelu(x @ P[pre + "linear1.weight"].T + P[pre + "linear1.bias"])
    return h @ P[pre + "linear2.weight"].T + P[pre + "linear2.bias"]


def _np_encoder_layer(P, pre, x, nhead, allowed, norm_first):
    ln = lambda i, y: _np_ln(y, P[f"{pre}norm{i}.weight"], P[f"{pre}norm{i}.bias"])
    if norm_first:
        x = x + _np_mha(P, pre + "self_attn.", ln(1, x), ln(1, x), nhead, allowed)
        return x + _np_ffn(P, pre, ln(2, x))
    x = ln(1, x + _np_mha(P, pre + "self_attn.", x, x, nhead, allowed))
    return ln(2, x + _np_ffn(P, pre, x))


def _params64(t, prefix="param."):
    return {k[len(prefix):]: v.astype(np.float64) for k, v in t.items() if k.startswith(prefix)}


def numpy_checks(name, t, cfg):
    close = lambda a, b, tol: np.abs(a - b).max() <= tol * (1 + np.abs(b).max())
    if name.startswith("encoder_2layer"):
        P = _params64(t)
        x = t["x"].astype(np.float64)
        B, T = t["attention_mask"].shape
        allowed = np.broadcast_to((t["attention_mask"] != 0)[:, None, :], (B, T, T))
        for i in range(cfg["num_layers"]):
            x = _np_encoder_layer(P, f"layers.{i}.", x, cfg["nhead"], allowed, cfg["norm_first"])
        assert close(x, t["out"], 1e-5), f"{name}: numpy forward differs"
    elif name == "decoder_layer.safetensors":
        P = _params64(t)
        x, mem = t["tgt"].astype(np.float64), t["memory"].astype(np.float64)
        B, T, S = x.shape[0], x.shape[1], mem.shape[1]
        causal = np.broadcast_to(np.tril(np.ones((T, T), bool)), (B, T, T))
        cross = np.broadcast_to((t["memory_mask"] != 0)[:, None, :], (B, T, S))
        ln = lambda i, y: _np_ln(y, P[f"norm{i}.weight"], P[f"norm{i}.bias"])
        x = ln(1, x + _np_mha(P, "self_attn.", x, x, cfg["nhead"], causal))
        x = ln(2, x + _np_mha(P, "multihead_attn.", x, mem, cfg["nhead"], cross))
        x = ln(3, x + _np_ffn(P, "", x))
        assert close(x, t["out"], 1e-5), f"{name}: numpy forward differs"
    elif name == "sdpa_small.safetensors":
        # The float64 formula agrees with torch's own float32 attention.
        for c in cfg["cases"]:
            p = c["prefix"]
            q, k, v = (torch.from_numpy(t[p + n].copy()) for n in "qkv")
            mask = torch.from_numpy(t[p + "key_mask"].copy()) == 0
            T, S = q.shape[-2], k.shape[-2]
            am = torch.zeros(q.shape[0], 1, T, S).masked_fill(mask[:, None, None, :], float("-inf"))
            if c["causal"]:
                am = am.masked_fill(torch.triu(torch.ones(T, S, dtype=torch.bool), 1), float("-inf"))
            ref = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + am, -1) @ v
            assert close(ref.numpy(), t[p + "out"], 1e-5), f"{name}:{p}out"
    elif name == "ops_small.safetensors":
        # Reference formulas agree with torch's own functions (float64).
        d = lambda n: torch.from_numpy(t[n].astype(np.float64))
        x = d("gelu.x").requires_grad_()
        (F.gelu(x) * d("gelu.R")).sum().backward()
        assert close(x.grad.numpy(), t["gelu.dx"], 1e-6)
        x, w, b = (d("layer_norm." + n).requires_grad_() for n in ("x", "weight", "bias"))
        o = F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)
        (o * d("layer_norm.R")).sum().backward()
        for n, g in (("dx", x), ("dweight", w), ("dbias", b)):
            assert close(g.grad.numpy(), t["layer_norm." + n], 1e-6), n
        x = d("softmax.x").requires_grad_()
        (torch.softmax(x, -1) * d("softmax.R")).sum().backward()
        assert close(x.grad.numpy(), t["softmax.dx"], 1e-6)
        z = d("cross_entropy.logits").requires_grad_()
        tg = torch.from_numpy(t["cross_entropy.targets"].copy())
        loss = F.cross_entropy(z, tg, ignore_index=-100, label_smoothing=0.1)
        loss.backward()
        assert close(loss.detach().numpy().reshape(1), t["cross_entropy.loss"], 1e-6), "ce loss"
        assert close(z.grad.numpy(), t["cross_entropy.dlogits"], 1e-6), "ce grad"
    elif name == "adamw_5steps.safetensors":
        lam = [lr_lambda(s) for s in range(cfg["steps"])]
        assert np.allclose(t["lrs"], np.float32(cfg["optimizer"]["lr"]) * np.float32(lam)), "lrs"


def verify_all():
    ok = True
    total = 0
    for name, make in FILES.items():
        path = os.path.join(HERE, name)
        loaded, cfg = read_safetensors(path)
        size = os.path.getsize(path)
        total += size
        setup_torch()
        tensors, config = make()
        problems = []
        if len(loaded) != len(tensors) or list(loaded) != list(tensors):
            problems.append("tensor names/order differ from a fresh run")
        if cfg != json.loads(json.dumps(config, sort_keys=True)):
            problems.append("config differs from a fresh run")
        for k, v in tensors.items():
            a = loaded.get(k)
            b = v.detach().numpy()
            if a is None or a.shape != b.shape or a.tobytes() != b.astype(a.dtype).tobytes():
                problems.append(f"{k}: differs from a fresh run")
            elif a.dtype.kind == "f" and not np.isfinite(a).all():
                problems.append(f"{k}: non-finite values")
        if size >= MAX_FILE_BYTES:
            problems.append(f"{size} bytes (limit {MAX_FILE_BYTES})")
        if not problems:
            try:
                numpy_checks(name, loaded, cfg)
            except AssertionError as e:
                problems.append(f"independent check failed: {e}")
        ok &= not problems
        print(f"{'ok  ' if not problems else 'FAIL'} {name} ({size} bytes, {len(loaded)} tensors)")
        for p in problems:
            print("     " + p)
    print(f"total {total} bytes")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify", action="store_true",
                    help="read the files back, check the layout, compare with a fresh run")
    args = ap.parse_args()
    if args.verify:
        sys.exit(0 if verify_all() else 1)
    write_all()


if __name__ == "__main__":
    main()
