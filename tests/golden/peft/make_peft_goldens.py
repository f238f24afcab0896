#!/usr/bin/python3
"""Writes the PEFT fixtures: adapters in PEFT's on-disk layout plus PyTorch goldens.

    /usr/bin/python3 tests/golden/peft/make_peft_goldens.py           # (re)write every file
    /usr/bin/python3 tests/golden/peft/make_peft_goldens.py --verify  # rerun, compare bytes

Needs Debian's python3-torch (1.13, CPU) and python3-numpy. There is no `peft`,
`transformers` or `safetensors` package here, so this script re-implements, in plain torch:
  * what `PeftModel.save_pretrained` writes (adapter_config.json = the config dataclass's
    `asdict`, `json.dumps(indent=2, sort_keys=True)`, inference_mode forced to true, and
    adapter_model.safetensors = `get_peft_model_state_dict` with the adapter name removed,
    metadata {"format": "pt"});
  * the forward of `PeftModelForSequenceClassification` around the committed base model
    tests/golden/bert/seqcls (BertForSequenceClassification, 3 labels) for LoRA, (IA)^3,
    AdaLoRA and prefix tuning, plus heed's own bottleneck adapters (Houlsby / Pfeiffer).
The BERT reference (module names, formulas, the safetensors writer) is imported from
tests/golden/bert/make_bert_goldens.py. See README.md beside this file.
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.dont_write_bytecode = True  # no __pycache__ beside the bert script
sys.path.insert(0, os.path.join(REPO, "tests", "golden", "bert"))
import make_bert_goldens as ref  # noqa: E402

MAX_TOTAL_BYTES = 1024 * 1024
BASE_DIR = os.path.join(REPO, "tests", "golden", "bert", "seqcls")
BASE_NAME = "tests/golden/bert/seqcls"  # base_model_name_or_path written in the configs
C = ref.CONFIG
H, NH, L = C["hidden_size"], C["num_attention_heads"], C["num_hidden_layers"]
HD = H // NH
NUM_LABELS = ref.NUM_LABELS


# ------------------------------------------------------------------ file helpers

def read_safetensors(path):
    """Minimal reader: u64 LE header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    np_dt = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np_dt[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__")


def read_npy(path):
    return torch.from_numpy(np.load(path).astype(np.int64))


def adapter_config_json(d):
    """PeftConfigMixin.save_pretrained: json.dumps(asdict, indent=2, sort_keys=True), no
    trailing newline."""
    return json.dumps(d, indent=2, sort_keys=True).encode("utf-8")


def st(tensors):
    return ref.encode_safetensors({k: ref.f32(v) for k, v in tensors.items()}, {"format": "pt"})


# --------------------------------------------------------------- PEFT config dicts
# Field sets as the dataclasses serialise them (asdict), with PEFT's defaults; see README
# for the source files and commits they were read from.

def peft_config_base(peft_type):
    return {"auto_mapping": None, "base_model_name_or_path": BASE_NAME, "inference_mode": True,
            "peft_type": peft_type, "revision": None, "task_type": "SEQ_CLS"}


def lora_config_fields(**kw):
    d = peft_config_base("LORA")
    d.update({
        "alpha_pattern": {}, "bias": "none", "exclude_modules": None, "fan_in_fan_out": False,
        "init_lora_weights": True, "layer_replication": None, "layers_pattern": None,
        "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 8, "lora_dropout": 0.0,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "r": 8, "rank_pattern": {}, "target_modules": None, "use_dora": False,
        "use_rslora": False,
    })
    d.update(kw)
    return d


# ------------------------------------------------------------ functional BERT

def layer_norm(x, P, name):
    return F.layer_norm(x, (H,), P[name + ".weight"], P[name + ".bias"], C["layer_norm_eps"])


class Plain:
    """No adapter: every Linear is F.linear(x, W, b)."""

    def linear(self, P, name, x):
        return F.linear(x, P[name + ".weight"], P[name + ".bias"])

    def sublayer(self, name, h):  # bottleneck hook after each sublayer's dense (+dropout)
        return h


def bert_seqcls_forward(P, inp, ad, prefix_kv=None):
    """BertForSequenceClassification.forward in eval mode, transformers 4.x semantics.

    P: {hf name: tensor}; ad: adapter object with linear()/sublayer();
    prefix_kv: None or list over layers of (key, value), each (B, NH, Pv, HD) -- the
    past_key_values PEFT builds for prefix tuning."""
    ids, mask, tt = inp["input_ids"], inp["attention_mask"], inp["token_type_ids"]
    B, T = ids.shape
    past = 0 if prefix_kv is None else prefix_kv[0][0].shape[2]
    if prefix_kv is not None:  # PeftModelForSequenceClassification.forward
        mask = torch.cat((torch.ones(B, past, dtype=mask.dtype), mask), dim=1)
    # BertEmbeddings: position_ids = self.position_ids[:, past : past + T]
    pos = torch.arange(past, past + T)[None, :]
    e = (F.embedding(ids, P["bert.embeddings.word_embeddings.weight"], padding_idx=0)
         + F.embedding(tt, P["bert.embeddings.token_type_embeddings.weight"])
         + F.embedding(pos, P["bert.embeddings.position_embeddings.weight"]))
    h = layer_norm(e, P, "bert.embeddings.LayerNorm")
    ext = mask[:, None, None, :].to(torch.float32)
    ext = (1.0 - ext) * torch.finfo(torch.float32).min

    def heads(x):
        return x.view(B, T, NH, HD).permute(0, 2, 1, 3)

    for i in range(L):
        pre = f"bert.encoder.layer.{i}."
        q = heads(ad.linear(P, pre + "attention.self.query", h))
        k = heads(ad.linear(P, pre + "attention.self.key", h))
        v = heads(ad.linear(P, pre + "attention.self.value", h))
        if prefix_kv is not None:  # BertSelfAttention: cat(past, own) along the sequence
            k = torch.cat([prefix_kv[i][0], k], dim=2)
            v = torch.cat([prefix_kv[i][1], v], dim=2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(HD)
        probs = F.softmax(scores + ext, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, H)
        a = ad.linear(P, pre + "attention.output.dense", ctx)
        a = ad.sublayer(pre + "attention.output", a)
        a = layer_norm(a + h, P, pre + "attention.output.LayerNorm")
        m = F.gelu(ad.linear(P, pre + "intermediate.dense", a))
        o = ad.linear(P, pre + "output.dense", m)
        o = ad.sublayer(pre + "output", o)
        h = layer_norm(o + a, P, pre + "output.LayerNorm")
    pooled = torch.tanh(ad.linear(P, "bert.pooler.dense", h[:, 0]))
    logits = ad.linear(P, "classifier", pooled)
    loss = F.cross_entropy(logits.view(-1, NUM_LABELS), inp["labels"].view(-1))
    return logits, loss


# ------------------------------------------------------------------- adapters

class LoraAd(Plain):
    """peft/tuners/lora/layer.py Linear.forward:
    result = base(x) + lora_B(lora_A(dropout(x))) * scaling, scaling = lora_alpha / r."""

    def __init__(self, T, scaling):
        self.T, self.s = T, scaling

    def linear(self, P, name, x):
        y = F.linear(x, P[name + ".weight"], P[name + ".bias"])
        key = "base_model.model." + name
        if key + ".lora_A.weight" in self.T:
            y = y + F.linear(F.linear(x, self.T[key + ".lora_A.weight"]),
                             self.T[key + ".lora_B.weight"]) * self.s
        return y


class IA3Ad(Plain):
    """peft/tuners/ia3/layer.py Linear.forward: feed-forward modules scale the input
    (x * l, l (1, in)), the others the output (base(x) * l, l (out, 1))."""

    def __init__(self, T, ff):
        self.T, self.ff = T, ff

    def linear(self, P, name, x):
        key = "base_model.model." + name + ".ia3_l"
        if key not in self.T:
            return F.linear(x, P[name + ".weight"], P[name + ".bias"])
        l = self.T[key].flatten()
        if self.ff[name]:
            return F.linear(x * l, P[name + ".weight"], P[name + ".bias"])
        return F.linear(x, P[name + ".weight"], P[name + ".bias"]) * l


class AdaLoraAd(Plain):
    """peft/tuners/adalora/layer.py SVDLinear.forward:
    result += (dropout(x) @ (A * E).T @ B.T) * scaling / (ranknum + 1e-5)."""

    def __init__(self, T, scaling, ranknum):
        self.T, self.s, self.rn = T, scaling, ranknum

    def linear(self, P, name, x):
        y = F.linear(x, P[name + ".weight"], P[name + ".bias"])
        key = "base_model.model." + name
        if key + ".lora_A" in self.T:
            A, B_, E = self.T[key + ".lora_A"], self.T[key + ".lora_B"], self.T[key + ".lora_E"]
            y = y + (x @ (A * E).T @ B_.T) * self.s / (self.rn + 1e-5)
        return y


class BottleneckAd(Plain):
    """heed's bottleneck adapter, inside a BERT sublayer after dense (+dropout):
    h = h + up(act(down(h))); the sublayer then applies LayerNorm(h + input)."""

    def __init__(self, T, act):
        self.T, self.act = T, act

    def sublayer(self, name, h):
        key = "base_model.model." + name + ".adapter."
        if key + "down.weight" not in self.T:
            return h
        z = F.linear(h, self.T[key + "down.weight"], self.T[key + "down.bias"])
        return h + F.linear(self.act(z), self.T[key + "up.weight"], self.T[key + "up.bias"])


def with_classifier(P, T, prefix):
    """modules_to_save: the adapter's classifier replaces the base one."""
    P = dict(P)
    P["classifier.weight"] = T[prefix + "classifier.weight"]
    P["classifier.bias"] = T[prefix + "classifier.bias"]
    return P


def prefix_past_key_values(prompt, B):
    """PeftModel.get_prompt for PREFIX_TUNING, num_transformer_submodules 1:
    (B, Pv, 2L*H) -> view (B, Pv, 2L, NH, HD) -> permute [2, 0, 3, 1, 4] -> split(2),
    then DynamicCache.from_legacy_cache: layer i gets key = [0], value = [1]."""
    Pv = prompt.shape[-2]
    pkv = prompt.view(B, Pv, L * 2, NH, HD).permute([2, 0, 3, 1, 4]).split(2)
    return [(t[0], t[1]) for t in pkv]


# ------------------------------------------------------------- PEFT matching

def ia3_matches(module_names, target_modules, feedforward_modules):
    """tuners_utils.check_target_module_exists (list form: exact name or endswith
    "." + target) and IA3Model._check_target_module_feedforward (list form: plain
    key.endswith(target), no dot)."""
    out = {}
    for key in module_names:
        if key in target_modules or any(key.endswith("." + t) for t in target_modules):
            out[key] = any(key.endswith(t) for t in feedforward_modules)
    return out


def linear_module_names():
    m = ref.BertForSequenceClassification(ref.Cfg({**C, "num_labels": NUM_LABELS}))
    return [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)]


# ---------------------------------------------------------------------- build

def randn(g, *shape, std=1.0):
    return torch.randn(*shape, generator=g) * std


def new_classifier(g, prefix):
    return {prefix + "classifier.weight": randn(g, NUM_LABELS, H, std=0.3),
            prefix + "classifier.bias": randn(g, NUM_LABELS, std=0.1)}


def run(P, inp, T, make_ad, cls_prefix, prefix_fn=None, extra_loss=None):
    """Forward with the tensors T as grad leaves; returns logits, loss, grads by name."""
    T = {k: v.detach().clone().requires_grad_(True) for k, v in T.items()}
    Pc = with_classifier(P, T, cls_prefix) if cls_prefix is not None else P
    kv = prefix_fn(T) if prefix_fn is not None else None
    logits, loss = bert_seqcls_forward(Pc, inp, make_ad(T), kv)
    total = loss if extra_loss is None else loss + extra_loss(T)
    names = sorted(T)
    grads = torch.autograd.grad(total, [T[n] for n in names])
    return logits.detach(), loss.detach(), total.detach(), dict(zip(names, grads))


def close(a, b, tol):
    return float((a - b).abs().max()) <= tol


def build():
    """Returns ({relative path: bytes}, report lines)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    files, report, goldens, meta = {}, [], {}, {}

    base_sd, _ = read_safetensors(os.path.join(BASE_DIR, "model.safetensors"))
    P = {k: v.to(torch.float32) for k, v in base_sd.items()}  # frozen: no requires_grad
    inp = {k: read_npy(os.path.join(REPO, "tests", "golden", "bert", "inputs", k + ".npy"))
           for k in ("input_ids", "attention_mask", "token_type_ids")}
    inp["labels"] = ref.make_inputs()["seqcls_labels"]
    goldens["seqcls_labels"] = inp["labels"]

    def put(name, logits, loss, grads=None, grad_tag="grad"):
        goldens[f"{name}.logits"] = logits
        goldens[f"{name}.loss"] = loss.reshape(1)
        for k, g in (grads or {}).items():
            goldens[f"{name}.{grad_tag}.{k}"] = g

    # -- base ------------------------------------------------------------------
    with torch.no_grad():
        base_logits, base_loss = bert_seqcls_forward(P, inp, Plain())
    put("base", base_logits, base_loss)
    bert_g, _ = read_safetensors(os.path.join(REPO, "tests", "golden", "bert", "goldens.safetensors"))
    assert close(base_logits, bert_g["seqcls.logits"], 1e-6), "functional BERT != bert goldens"
    report.append(f"base.logits vs bert/goldens seqcls.logits: max |diff| "
                  f"{float((base_logits - bert_g['seqcls.logits']).abs().max()):.2e}")

    LORA_PFX = "base_model.model."   # LoRA-type tuners: PeftModel.base_model = LoraModel
    PROMPT_PFX = "base_model."       # prompt learning: PeftModel.base_model = the HF model

    # -- lora ------------------------------------------------------------------
    g = torch.Generator().manual_seed(101)
    r, alpha = 8, 16
    T = {}
    for i in range(L):
        for mod in ("query", "value"):
            key = f"{LORA_PFX}bert.encoder.layer.{i}.attention.self.{mod}"
            T[key + ".lora_A.weight"] = randn(g, r, H, std=0.25)
            T[key + ".lora_B.weight"] = randn(g, H, r, std=0.25)
    T.update(new_classifier(g, LORA_PFX))
    cfg = lora_config_fields(r=r, lora_alpha=alpha, lora_dropout=0.1,
                             target_modules=["query", "value"], modules_to_save=["classifier"])
    files["lora/adapter_config.json"] = adapter_config_json(cfg)
    files["lora/adapter_model.safetensors"] = st(T)
    scaling = alpha / r
    logits, loss, _, grads = run(P, inp, T, lambda t: LoraAd(t, scaling), LORA_PFX)
    put("lora", logits, loss, grads)
    # merged: W' = W + scaling * B @ A
    Pm = with_classifier(P, T, LORA_PFX)
    for i in range(L):
        for mod in ("query", "value"):
            n = f"bert.encoder.layer.{i}.attention.self.{mod}"
            k = LORA_PFX + n
            Pm[n + ".weight"] = P[n + ".weight"] + scaling * (T[k + ".lora_B.weight"] @ T[k + ".lora_A.weight"])
    with torch.no_grad():
        ml, _ = bert_seqcls_forward(Pm, inp, Plain())
    goldens["lora.merged_logits"] = ml
    assert close(ml, logits, 1e-5), "lora merged != unmerged"
    assert not close(logits, base_logits, 1e-2), "lora does not change the logits"
    # B = 0 -> base model with the adapter's classifier
    T0 = {k: (torch.zeros_like(v) if k.endswith("lora_B.weight") else v) for k, v in T.items()}
    with torch.no_grad():
        l0, _ = bert_seqcls_forward(with_classifier(P, T0, LORA_PFX), inp, LoraAd(T0, scaling))
        lb, _ = bert_seqcls_forward(with_classifier(P, T0, LORA_PFX), inp, Plain())
    assert torch.equal(l0, lb), "lora with B=0 != base with the adapter's classifier"
    report.append(f"lora: merged vs unmerged max |diff| {float((ml - logits).abs().max()):.2e}; "
                  f"vs base {float((logits - base_logits).abs().max()):.3f}; B=0 == base+classifier")
    meta["lora"] = {
        "formula": "y = W x + b + (lora_alpha / r) * B (A x)   (dropout on x is off in eval)",
        "scaling": scaling, "r": r, "lora_alpha": alpha,
        "keys": sorted(T), "frozen_base": True,
        "grads": "of lora.loss w.r.t. every saved tensor only (lora_A, lora_B, classifier); the "
                 "base BERT is frozen (requires_grad False) as PEFT freezes it",
        "merged": "W' = W + scaling * B @ A for query/value; classifier replaced",
    }

    # -- ia3 -------------------------------------------------------------------
    target_modules = ["key", "value", "output.dense"]       # constants.py, "bert"
    feedforward_modules = ["output.dense"]
    matched = ia3_matches(linear_module_names(), target_modules, feedforward_modules)
    g = torch.Generator().manual_seed(202)
    T = {}
    shapes = {}
    for name, ff in matched.items():
        W = P[name + ".weight"]
        shape = (1, W.shape[1]) if ff else (W.shape[0], 1)
        T[LORA_PFX + name + ".ia3_l"] = 1.0 + randn(g, *shape, std=0.3)
        shapes[name] = {"feedforward": ff, "ia3_l_shape": list(shape)}
    T.update(new_classifier(g, LORA_PFX))
    cfg = peft_config_base("IA3")
    cfg.update({"exclude_modules": None, "fan_in_fan_out": False,
                "feedforward_modules": feedforward_modules, "init_ia3_weights": True,
                "modules_to_save": ["classifier"], "target_modules": target_modules})
    files["ia3/adapter_config.json"] = adapter_config_json(cfg)
    files["ia3/adapter_model.safetensors"] = st(T)
    logits, loss, _, grads = run(P, inp, T, lambda t: IA3Ad(t, matched), LORA_PFX)
    put("ia3", logits, loss, grads)
    Pm = with_classifier(P, T, LORA_PFX)
    for name, ff in matched.items():
        l = T[LORA_PFX + name + ".ia3_l"]
        if ff:   # W' = W diag(l): l (1, in) broadcasts over columns; bias unchanged
            Pm[name + ".weight"] = P[name + ".weight"] * l
        else:    # W' = diag(l) W, b' = l * b
            Pm[name + ".weight"] = P[name + ".weight"] * l
            Pm[name + ".bias"] = P[name + ".bias"] * l.reshape(-1)
    with torch.no_grad():
        ml, _ = bert_seqcls_forward(Pm, inp, Plain())
    goldens["ia3.merged_logits"] = ml
    assert close(ml, logits, 1e-5), "ia3 merged != unmerged"
    assert not close(logits, base_logits, 1e-2)
    report.append(f"ia3: matched {sorted(matched)}; merged max |diff| "
                  f"{float((ml - logits).abs().max()):.2e}")
    meta["ia3"] = {
        "target_modules": target_modules, "feedforward_modules": feedforward_modules,
        "matched": shapes,
        "formula": "feed-forward: y = W (x * l) + b, l (1, in); other: y = (W x + b) * l, l (out, 1)",
        "merged": "ff: W' = W * l (columns), b unchanged; non-ff: W' = l * W (rows), b' = l * b",
        "keys": sorted(T),
    }

    # -- adalora ---------------------------------------------------------------
    g = torch.Generator().manual_seed(303)
    init_r, target_r, a_alpha, orth_w = 6, 4, 8, 0.5
    kept = {}
    T = {}
    modules = [f"bert.encoder.layer.{i}.attention.self.{m}" for i in range(L) for m in ("query", "value")]
    for name, keep in zip(modules, [4, 3, 5, 4]):
        perm = torch.randperm(init_r, generator=g)[:keep].tolist()
        mask = [j in perm for j in range(init_r)]
        kept[name + ".lora_E"] = mask        # rank_pattern key as saved (".default" removed)
        A = randn(g, init_r, H, std=0.3)
        E = randn(g, init_r, 1, std=1.0)
        Bm = randn(g, H, init_r, std=0.3)
        idx = torch.tensor(mask)
        # resize_state_dict_by_rank_pattern: A[rank_idx], E[rank_idx], B[:, rank_idx]
        T[LORA_PFX + name + ".lora_A"] = A[idx]
        T[LORA_PFX + name + ".lora_E"] = E[idx]
        T[LORA_PFX + name + ".lora_B"] = Bm[:, idx]
    T.update(new_classifier(g, LORA_PFX))
    cfg = lora_config_fields(
        lora_alpha=a_alpha, lora_dropout=0.1, target_modules=["query", "value"],
        modules_to_save=["classifier"], rank_pattern=kept)
    cfg["peft_type"] = "ADALORA"
    cfg.update({"target_r": target_r, "init_r": init_r, "tinit": 10, "tfinal": 20, "deltaT": 10,
                "beta1": 0.85, "beta2": 0.85, "orth_reg_weight": orth_w, "total_step": 100})
    files["adalora/adapter_config.json"] = adapter_config_json(cfg)
    files["adalora/adapter_model.safetensors"] = st(T)
    ranknum = float(init_r)   # resize_modules_by_rank_pattern copies the old ranknum back
    a_scaling = float(a_alpha)  # AdaLoraLayer.update_layer: lora_alpha if > 0 else r

    def orth_reg(t):
        """AdaLoraModel.forward: mean over lora_A / lora_B parameters of
        ||A A^T - I||_F and ||B^T B - I||_F."""
        tot, n = 0.0, 0
        for k in sorted(t):
            if k.endswith(".lora_A") or k.endswith(".lora_B"):
                p = t[k]
                cov = p @ p.T if k.endswith(".lora_A") else p.T @ p
                tot = tot + torch.norm(cov - torch.eye(*cov.shape), p="fro")
                n += 1
        return tot / n

    logits, loss, _, grads = run(P, inp, T, lambda t: AdaLoraAd(t, a_scaling, ranknum), LORA_PFX)
    put("adalora", logits, loss, grads)
    _, _, total, grads_o = run(P, inp, T, lambda t: AdaLoraAd(t, a_scaling, ranknum), LORA_PFX,
                               extra_loss=lambda t: orth_w * orth_reg(t))
    with torch.no_grad():
        reg = orth_reg(T)
    goldens["adalora.orth_reg"] = reg.reshape(1)
    goldens["adalora.loss_with_orth_reg"] = total.reshape(1)
    for k, v in grads_o.items():
        goldens[f"adalora.grad_with_orth_reg.{k}"] = v
    Pm = with_classifier(P, T, LORA_PFX)
    for name in modules:
        k = LORA_PFX + name
        Pm[name + ".weight"] = P[name + ".weight"] + (
            T[k + ".lora_B"] @ (T[k + ".lora_A"] * T[k + ".lora_E"]) * a_scaling / (ranknum + 1e-5))
    with torch.no_grad():
        ml, _ = bert_seqcls_forward(Pm, inp, Plain())
    goldens["adalora.merged_logits"] = ml
    assert close(ml, logits, 1e-5)
    assert not close(logits, base_logits, 1e-2)
    report.append(f"adalora: kept ranks {[sum(v) for v in kept.values()]}, orth_reg {float(reg):.6f}")
    meta["adalora"] = {
        "formula": "y = W x + b + (x @ (A * E).T @ B.T) * scaling / (ranknum + 1e-5)",
        "scaling": a_scaling, "ranknum": ranknum, "init_r": init_r, "target_r": target_r,
        "lora_alpha": a_alpha,
        "ranknum_note": "after loading, ranknum stays init_r (resize_modules_by_rank_pattern "
                        "copies the pre-resize ranknum back), NOT the kept rank",
        "kept_ranks": {k: sum(v) for k, v in kept.items()},
        "orth_reg": "mean over the 8 lora_A/lora_B tensors of ||A A^T - I||_F (A: (r, in)) and "
                    "||B^T B - I||_F (B: (out, r)); adalora.loss_with_orth_reg = loss + "
                    f"{orth_w} * orth_reg; grads of that under adalora.grad_with_orth_reg.*",
        "merged": "W' = W + B @ (A * E) * scaling / (ranknum + 1e-5)",
        "keys": sorted(T),
    }

    # -- prefix ----------------------------------------------------------------
    Pv = 4
    g = torch.Generator().manual_seed(404)
    T = {"prompt_embeddings": randn(g, Pv, L * 2 * H, std=1.0)}
    T.update(new_classifier(g, PROMPT_PFX))

    def prefix_cfg(projection, enc_hidden):
        d = peft_config_base("PREFIX_TUNING")
        d.update({"encoder_hidden_size": enc_hidden, "init_weights": None,
                  "num_attention_heads": NH, "num_layers": L, "num_transformer_submodules": 1,
                  "num_virtual_tokens": Pv, "prefix_projection": projection, "token_dim": H})
        return d

    files["prefix/adapter_config.json"] = adapter_config_json(prefix_cfg(False, None))
    files["prefix/adapter_model.safetensors"] = st(T)
    B = inp["input_ids"].shape[0]
    # inference_mode: prompt_encoder.embedding.weight.repeat(batch_size, 1, 1)
    kvf = lambda t: prefix_past_key_values(t["prompt_embeddings"].repeat(B, 1, 1), B)
    logits, loss, _, grads = run(P, inp, T, lambda t: Plain(), PROMPT_PFX, prefix_fn=kvf)
    put("prefix", logits, loss, grads)
    assert not close(logits, base_logits, 1e-2)
    meta["prefix"] = {
        "num_virtual_tokens": Pv, "keys": sorted(T),
        "layout": "prompt_embeddings (Pv, 2*L*H) -> repeat(B) -> view(B, Pv, 2L, NH, HD) -> "
                  "permute(2,0,3,1,4) -> split(2): layer i key = row block 2i, value = 2i+1, "
                  "i.e. key_i[b,h,p,d] = E[p, (2i)*H + h*HD + d], value_i = E[p, (2i+1)*H + h*HD + d]",
        "attention_mask": "cat(ones(B, Pv), attention_mask) along dim 1",
        "position_ids": "offset by past length: positions Pv .. Pv+T-1 (BertEmbeddings slices "
                        "position_ids[:, past_key_values_length : past_key_values_length + T])",
        "token_type_ids": "passed unchanged (length T)",
        "classifier_key": "base_model.classifier.* (PeftModel.base_model is the HF model)",
    }

    # -- prefix_proj -------------------------------------------------------------
    g = torch.Generator().manual_seed(505)
    EH = 24
    PE = "prompt_encoder.default."
    TR = {PE + "embedding.weight": randn(g, Pv, H, std=1.0),
          PE + "transform.0.weight": randn(g, EH, H, std=0.3),
          PE + "transform.0.bias": randn(g, EH, std=0.1),
          PE + "transform.2.weight": randn(g, L * 2 * H, EH, std=0.5),
          PE + "transform.2.bias": randn(g, L * 2 * H, std=0.1)}
    CL = new_classifier(g, PROMPT_PFX)

    def prefix_encoder(t, tokens):
        x = F.embedding(tokens, t[PE + "embedding.weight"])
        x = torch.tanh(F.linear(x, t[PE + "transform.0.weight"], t[PE + "transform.0.bias"]))
        return F.linear(x, t[PE + "transform.2.weight"], t[PE + "transform.2.bias"])

    with torch.no_grad():  # get_prompt_embedding_to_save: encoder(arange(Pv)[None])[0]
        saved_prompt = prefix_encoder(TR, torch.arange(Pv)[None, :])[0]
    files["prefix_proj/adapter_config.json"] = adapter_config_json(prefix_cfg(True, EH))
    files["prefix_proj/adapter_model.safetensors"] = st({"prompt_embeddings": saved_prompt, **CL})
    files["prefix_proj/trainable.safetensors"] = st(TR)
    # training mode (inference_mode False in memory): past_key_values = prompt_encoder(tokens)
    kvt = lambda t: prefix_past_key_values(
        prefix_encoder(t, torch.arange(Pv)[None, :].expand(B, -1)), B)
    logits, loss, _, grads = run(P, inp, {**TR, **CL}, lambda t: Plain(), PROMPT_PFX, prefix_fn=kvt)
    put("prefix_proj", logits, loss, grads)
    # what a loader of the saved adapter (inference mode) computes must agree
    with torch.no_grad():
        kv_saved = prefix_past_key_values(saved_prompt.repeat(B, 1, 1), B)
        li, _ = bert_seqcls_forward(with_classifier(P, CL, PROMPT_PFX), inp, Plain(), kv_saved)
    goldens["prefix_proj.saved_logits"] = li
    assert close(li, logits, 1e-6), "prefix_proj saved vs trainable"
    report.append(f"prefix_proj: trainable vs saved-prompt logits max |diff| "
                  f"{float((li - logits).abs().max()):.2e}")
    meta["prefix_proj"] = {
        "encoder_hidden_size": EH, "trainable_keys": sorted(TR), "adapter_keys":
            sorted(["prompt_embeddings", *CL]),
        "encoder": "prompt_embeddings = transform.2(tanh(transform.0(embedding(arange(Pv)))))",
        "saved": "adapter_model.safetensors holds the MLP output (saved from a model with "
                 "inference_mode False); adapter_config.json says inference_mode true, as "
                 "PeftModel.save_pretrained forces it, so a loader uses prompt_embeddings directly",
        "grads": "prefix_proj.grad.prompt_encoder.default.* (trainable.safetensors names) and "
                 "prefix_proj.grad.base_model.classifier.*",
        "saved_logits": "logits from the saved prompt_embeddings (== prefix_proj.logits)",
    }

    # -- bottleneck (heed extension) --------------------------------------------
    def bottleneck(dirname, placement, factor, act_name, act, seed):
        g = torch.Generator().manual_seed(seed)
        dim = H // factor
        T = {}
        subs = ["attention.output", "output"] if placement == "houlsby" else ["output"]
        for i in range(L):
            for s in subs:
                k = f"{LORA_PFX}bert.encoder.layer.{i}.{s}.adapter."
                T[k + "down.weight"] = randn(g, dim, H, std=0.3)
                T[k + "down.bias"] = randn(g, dim, std=0.1)
                T[k + "up.weight"] = randn(g, H, dim, std=0.3)
                T[k + "up.bias"] = randn(g, H, std=0.1)
        T.update(new_classifier(g, LORA_PFX))
        cfg = {"base_model_name_or_path": BASE_NAME, "inference_mode": True,
               "modules_to_save": ["classifier"], "non_linearity": act_name,
               "peft_type": "BOTTLENECK", "placement": placement, "reduction_factor": factor,
               "revision": None, "task_type": "SEQ_CLS"}
        files[f"{dirname}/adapter_config.json"] = adapter_config_json(cfg)
        files[f"{dirname}/adapter_model.safetensors"] = st(T)
        logits, loss, _, grads = run(P, inp, T, lambda t: BottleneckAd(t, act), LORA_PFX)
        put(dirname, logits, loss, grads)
        assert not close(logits, base_logits, 1e-2)
        meta[dirname] = {
            "placement": placement, "sublayers": subs, "bottleneck_dim": dim,
            "non_linearity": act_name,
            "formula": "in each listed BERT sublayer: h = dropout(dense(x)); "
                       "h = h + up(act(down(h))); out = LayerNorm(h + input)",
            "keys": sorted(T)}

    bottleneck("bottleneck", "houlsby", 4, "relu", F.relu, 606)
    bottleneck("bottleneck_pfeiffer", "pfeiffer", 2, "gelu", F.gelu, 707)

    meta.update({
        "torch_version": torch.__version__, "mode": "eval (dropout off), float32, 1 thread",
        "base": "tests/golden/bert/seqcls (BertForSequenceClassification, 3 labels), its own "
                "classifier; base.logits == bert goldens seqcls.logits",
        "inputs": "tests/golden/bert/inputs/*.npy (B 3, T 11, right padding); labels "
                  "seqcls_labels",
        "loss": "single-label cross entropy, mean over the batch",
        "grads": "X.grad.<saved key>: gradient of X.loss w.r.t. each saved tensor (adapter "
                 "tensors + classifier); base BERT frozen",
    })
    goldens = {k: (v if v.dtype == torch.int64 else ref.f32(v)) for k, v in goldens.items()}
    files["goldens.safetensors"] = ref.encode_safetensors(
        goldens, {"config": json.dumps(meta, sort_keys=True)})
    return files, report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify", action="store_true",
                    help="rebuild in memory and compare with the files on disk, byte for byte")
    args = ap.parse_args()
    files, report = build()
    for line in report:
        print(line)
    total = sum(len(b) for b in files.values())
    assert total < MAX_TOTAL_BYTES, f"fixtures are {total} bytes (limit {MAX_TOTAL_BYTES})"
    if args.verify:
        ok = True
        for rel, data in sorted(files.items()):
            path = os.path.join(HERE, rel)
            same = os.path.exists(path) and open(path, "rb").read() == data
            ok &= same
            print(f"{'ok  ' if same else 'FAIL'} {rel} ({len(data)} bytes)")
        print(f"total {total} bytes")
        sys.exit(0 if ok else 1)
    for rel, data in sorted(files.items()):
        path = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False) as f:
            f.write(data)
        os.chmod(f.name, 0o644)
        os.replace(f.name, path)
        print(f"wrote {rel} ({len(data)} bytes)")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
