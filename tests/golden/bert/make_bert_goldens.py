#!/usr/bin/python3
"""Writes the BERT fixtures: small checkpoints in Hugging Face's layout plus PyTorch goldens.

    /usr/bin/python3 tests/golden/bert/make_bert_goldens.py           # (re)write every file
    /usr/bin/python3 tests/golden/bert/make_bert_goldens.py --verify  # rerun, compare bytes

Needs Debian's python3-torch (1.13, CPU) and python3-numpy; there is no `transformers`
package here, so the reference below re-implements transformers' modeling_bert.py (v4.x)
with the same module names, so that its state_dict keys are exactly Hugging Face's
("bert.encoder.layer.0.attention.self.query.weight", ...) and its formulas are HF's:
  * extended attention mask (1 - mask) * finfo(float32).min added to the scores,
  * exact (erf) GELU for hidden_act "gelu",
  * post-LN layers: LN(x + dropout(dense(h))),
  * pooler tanh(dense(h[:, 0])), MLM decoder tied to the word embeddings,
  * losses as BertForPreTraining / ...ForSequenceClassification / ...ForQuestionAnswering.
See README.md beside this file for what each output directory holds.
"""

import argparse
import io
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_TOTAL_BYTES = 3 * 1024 * 1024

# The small random config. Keys and defaults as transformers' BertConfig.to_dict();
# "use_cache" and "gradient_checkpointing" are real-world keys heed does not model (kept
# on a round trip).
CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "classifier_dropout": None,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 37,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 64,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 99,
}
NUM_LABELS = 3
ID2LABEL = {"0": "NEG", "1": "NEU", "2": "POS"}
B, T, LENGTHS = 3, 11, [11, 8, 5]
WEIGHT_STD = 0.15  # larger than initializer_range so attention is far from uniform


class Cfg:
    def __init__(self, d):
        self.__dict__.update(d)


# ------------------------------------------------------------ reference BERT

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.register_buffer("position_ids",
                             torch.arange(c.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids, token_type_ids):
        seq = input_ids.size(1)
        position_ids = self.position_ids[:, :seq]
        e = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
             + self.position_embeddings(position_ids))
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_attention_heads = c.num_attention_heads
        self.attention_head_size = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        x = x.view(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size))
        return x.permute(0, 2, 1, 3)

    def forward(self, h, extended_mask):
        q = self.transpose_for_scores(self.query(h))
        k = self.transpose_for_scores(self.key(h))
        v = self.transpose_for_scores(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        scores = scores + extended_mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (-1,)), probs


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, extended_mask):
        ctx, probs = self.self(x, extended_mask)
        return self.output(ctx, x), probs


ACT = {"gelu": F.gelu, "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu}


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = ACT[c.hidden_act]

    def forward(self, h):
        return self.act(self.dense(h))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, extended_mask):
        a, probs = self.attention(x, extended_mask)
        return self.output(self.intermediate(a), a), probs


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, h):
        return self.activation(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooling_layer else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * torch.finfo(torch.float32).min
        h = self.embeddings(input_ids, token_type_ids)
        hidden_states, attentions = [h], []
        for layer in self.encoder.layer:
            h, probs = layer(h, ext)
            hidden_states.append(h)
            attentions.append(probs)
        pooled = self.pooler(h) if self.pooler is not None else None
        return {"last_hidden_state": h, "pooler_output": pooled,
                "hidden_states": hidden_states, "attentions": attentions}


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.transform_act_fn = ACT[c.hidden_act]
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h):
        return self.LayerNorm(self.transform_act_fn(self.dense(h)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, h):
        return self.decoder(self.transform(h))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = BertLMPredictionHead(c)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = BertLMPredictionHead(c)
        self.seq_relationship = nn.Linear(c.hidden_size, 2)


class BertForPreTraining(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        self.cls = BertPreTrainingHeads(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, attention_mask, token_type_ids, labels, next_sentence_label):
        o = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls.predictions(o["last_hidden_state"])
        nsp = self.cls.seq_relationship(o["pooler_output"])
        V = self.config.vocab_size
        loss = (F.cross_entropy(logits.view(-1, V), labels.view(-1))
                + F.cross_entropy(nsp.view(-1, 2), next_sentence_label.view(-1)))
        return {**o, "prediction_logits": logits, "seq_relationship_logits": nsp, "loss": loss}


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_labels = c.num_labels
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c.hidden_dropout_prob if c.classifier_dropout is None
                                  else c.classifier_dropout)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids, labels):
        o = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.classifier(self.dropout(o["pooler_output"]))
        # problem_type "single_label_classification" (labels are int64, num_labels > 1)
        loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return {"logits": logits, "loss": loss}


class BertForTokenClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_labels = c.num_labels
        self.bert = BertModel(c, add_pooling_layer=False)
        self.dropout = nn.Dropout(c.hidden_dropout_prob if c.classifier_dropout is None
                                  else c.classifier_dropout)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids, labels):
        o = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.classifier(self.dropout(o["last_hidden_state"]))
        loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return {"logits": logits, "loss": loss}


class BertForQuestionAnswering(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(c.hidden_size, 2)

    def forward(self, input_ids, attention_mask, token_type_ids, start_positions, end_positions):
        o = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.qa_outputs(o["last_hidden_state"])
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        ignored_index = start_logits.size(1)
        start_positions = start_positions.clamp(0, ignored_index)
        end_positions = end_positions.clamp(0, ignored_index)
        loss = (F.cross_entropy(start_logits, start_positions, ignore_index=ignored_index)
                + F.cross_entropy(end_logits, end_positions, ignore_index=ignored_index)) / 2
        return {"start_logits": start_logits, "end_logits": end_logits, "loss": loss}


def init_weights_(model):
    """HF's BertPreTrainedModel._init_weights with std WEIGHT_STD, then every bias and
    LayerNorm weight gets 0.1*randn so their gradients test something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, WEIGHT_STD)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Embedding):
                m.weight.normal_(0.0, WEIGHT_STD)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
        ln = {id(m.weight) for m in model.modules() if isinstance(m, nn.LayerNorm)}
        for name, p in model.named_parameters():
            if name.endswith("bias") or id(p) in ln:
                p.add_(0.1 * torch.randn_like(p))


# ---------------------------------------------------------------- file writers

# torch dtype -> (safetensors code, little-endian numpy dtype, alignment rank)
_DTYPES = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.float16: ("F16", np.dtype("<f2")),
    torch.int64: ("I64", np.dtype("<i8")),
}
# The reference writer (huggingface/safetensors, tensor.rs) sorts by dtype alignment,
# descending, then by name.
_ALIGN = {"I64": 8, "F32": 4, "F16": 2}


def encode_safetensors(tensors, metadata):
    items = []
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        code, npd = _DTYPES[t.dtype]
        items.append((name, code, list(t.shape), t.numpy().astype(npd, copy=False).tobytes()))
    items.sort(key=lambda it: (-_ALIGN[it[1]], it[0]))
    header = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, code, shape, data in items:
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def config_json(extra):
    """config.json as transformers' PretrainedConfig.to_json_file: sorted keys, indent 2."""
    return (json.dumps({**CONFIG, **extra}, indent=2, sort_keys=True) + "\n").encode("utf-8")


def torch_save_bytes(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def f32(t):
    return t.detach().to(torch.float32).contiguous()


# ---------------------------------------------------------------------- build

def make_inputs():
    g = torch.Generator().manual_seed(7)
    input_ids = torch.randint(5, CONFIG["vocab_size"], (B, T), generator=g)
    input_ids[:, 0] = 2  # a [CLS]-like first token
    attention_mask = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).to(torch.int64)
    input_ids = input_ids * attention_mask  # padding id 0 (pad_token_id)
    token_type_ids = torch.zeros(B, T, dtype=torch.int64)
    for b, start in enumerate([6, 4, 3]):  # segment B up to the end of the real tokens
        token_type_ids[b, start:LENGTHS[b]] = 1
    labels = torch.full((B, T), -100, dtype=torch.int64)
    for b, pos in enumerate([[1, 4, 9], [2, 5], [1, 3]]):
        for p in pos:
            labels[b, p] = int(torch.randint(1, CONFIG["vocab_size"], (1,), generator=g))
    next_sentence_label = torch.tensor([0, 1, 0])
    seqcls_labels = torch.tensor([2, 0, 1])
    tokcls_labels = torch.randint(0, NUM_LABELS, (B, T), generator=g)
    tokcls_labels[attention_mask == 0] = -100
    # 40 is past the sequence: clamped to T = ignored_index, so that row's start is ignored.
    start_positions = torch.tensor([3, 40, 1])
    end_positions = torch.tensor([5, 6, 0])
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "token_type_ids": token_type_ids, "labels": labels,
            "next_sentence_label": next_sentence_label, "seqcls_labels": seqcls_labels,
            "tokcls_labels": tokcls_labels, "start_positions": start_positions,
            "end_positions": end_positions}


def outputs_of(prefix, o):
    out = {}
    for k in ("last_hidden_state", "pooler_output", "prediction_logits",
              "seq_relationship_logits", "logits", "start_logits", "end_logits"):
        if o.get(k) is not None:
            out[f"{prefix}.{k}"] = f32(o[k])
    for i, h in enumerate(o.get("hidden_states", [])):
        out[f"{prefix}.hidden_states_{i:02d}"] = f32(h)
    for i, a in enumerate(o.get("attentions", [])):
        out[f"{prefix}.attentions_{i:02d}"] = f32(a)
    if "loss" in o:
        out[f"{prefix}.loss"] = f32(o["loss"]).reshape(1)
    return out


def legacy_name(k):
    """Pre-2019 checkpoints (TF conversions) named LayerNorm parameters gamma/beta."""
    if k.endswith("LayerNorm.weight"):
        return k[: -len("weight")] + "gamma"
    if k.endswith("LayerNorm.bias"):
        return k[: -len("bias")] + "beta"
    return k


def build():
    """Returns {relative path: bytes} for every fixture file."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(4242)
    c = Cfg(CONFIG)
    files = {}
    inp = make_inputs()
    model_in = (inp["input_ids"], inp["attention_mask"], inp["token_type_ids"])

    # -- pretraining: the base checkpoint, both file formats -------------------------
    pre = BertForPreTraining(c)
    init_weights_(pre)
    pre.eval()  # dropout off (HF's from_pretrained returns eval mode)
    o = pre(*model_in, inp["labels"], inp["next_sentence_label"])
    o["loss"].backward()
    goldens = {k: v for k, v in inp.items()}
    goldens.update(outputs_of("pretraining", o))
    for name, p in pre.named_parameters():  # tied decoder appears once, as HF's
        goldens["grad." + name] = f32(p.grad)
    sd = pre.state_dict()  # includes the tied cls.predictions.decoder.{weight,bias}
    safe = {k: v for k, v in sd.items()
            if k not in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")}
    arch = lambda name: {"architectures": [name]}
    files["pretraining/config.json"] = config_json(arch("BertForPreTraining"))
    files["pretraining/model.safetensors"] = encode_safetensors(safe, {"format": "pt"})
    # As older real checkpoints: every state_dict key (tied ones too) and the position_ids
    # buffer, which was persistent before transformers 4.31.
    bin_sd = dict(sd)
    bin_sd["bert.embeddings.position_ids"] = pre.bert.embeddings.position_ids.clone()
    files["pretraining/pytorch_model.bin"] = torch_save_bytes(bin_sd)

    # -- variant: no "bert." prefix, gamma/beta, float16, position_ids buffer --------
    half = {}
    for k, v in safe.items():
        k2 = k[len("bert."):] if k.startswith("bert.") else k
        half[legacy_name(k2)] = v.detach().to(torch.float16)
    half["embeddings.position_ids"] = pre.bert.embeddings.position_ids.clone()
    files["variant/config.json"] = config_json({**arch("BertForPreTraining"),
                                                "torch_dtype": "float16"})
    files["variant/model.safetensors"] = encode_safetensors(half, {"format": "pt"})
    var = BertForPreTraining(c)
    with torch.no_grad():
        var.load_state_dict({k: v.to(torch.float16).to(torch.float32) for k, v in sd.items()})
    var.eval()
    with torch.no_grad():
        ov = var(*model_in, inp["labels"], inp["next_sentence_label"])
    goldens.update({k: v for k, v in outputs_of("variant", ov).items()
                    if "hidden_states_" not in k and "attentions_" not in k})

    # -- fine-tuning heads sharing the encoder -----------------------------------
    head_cfg = Cfg({**CONFIG, "num_labels": NUM_LABELS})
    id2 = {"id2label": ID2LABEL, "label2id": {v: int(k) for k, v in ID2LABEL.items()}}
    heads = [
        ("seqcls", BertForSequenceClassification, "BertForSequenceClassification", id2,
         lambda m: m(*model_in, inp["seqcls_labels"])),
        ("tokcls", BertForTokenClassification, "BertForTokenClassification", id2,
         lambda m: m(*model_in, inp["tokcls_labels"])),
        ("qa", BertForQuestionAnswering, "BertForQuestionAnswering", {},
         lambda m: m(*model_in, inp["start_positions"], inp["end_positions"])),
    ]
    bert_sd = {k: v for k, v in sd.items() if k.startswith("bert.")}
    for sub, cls, name, extra, run in heads:
        m = cls(head_cfg)
        init_weights_(m)
        missing, unexpected = m.load_state_dict(bert_sd, strict=False)
        assert all(not k.startswith("bert.") for k in missing), missing
        m.eval()
        with torch.no_grad():
            goldens.update(outputs_of(sub, run(m)))
        files[f"{sub}/config.json"] = config_json({**arch(name), **extra})
        files[f"{sub}/model.safetensors"] = encode_safetensors(m.state_dict(), {"format": "pt"})

    # -- inputs for `heed forward` --------------------------------------------------
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        buf = io.BytesIO()
        np.save(buf, inp[k].numpy().astype("<i8"))
        files[f"inputs/{k}.npy"] = buf.getvalue()

    meta = {"config": json.dumps({
        "torch_version": torch.__version__, "bert_config": CONFIG, "num_labels_heads": NUM_LABELS,
        "B": B, "T": T, "lengths": LENGTHS, "weight_std": WEIGHT_STD, "mode": "eval",
        "pretraining_loss": "CE(prediction_logits, labels, ignore -100) + CE(nsp, next_sentence_label)",
        "grads": "of pretraining.loss, for every named parameter (tied decoder counted once)",
        "variant": "outputs of the pretraining model with weights rounded to float16",
    }, sort_keys=True)}
    goldens = {k: (v if v.dtype == torch.int64 else f32(v)) for k, v in goldens.items()}
    files["goldens.safetensors"] = encode_safetensors(goldens, meta)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify", action="store_true",
                    help="rebuild in memory and compare with the files on disk, byte for byte")
    args = ap.parse_args()
    files = build()
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
