#!/usr/bin/python3
"""Writes the fixtures for tests/io (checkpoint and .npy readers).

    /usr/bin/python3 tests/golden/io/make_io_fixtures.py

Needs Debian's python3-torch (1.13) and python3-numpy. The Python safetensors
package is not available, so safetensors files are written by hand following
the reference Rust writer (huggingface/safetensors, safetensors/src/tensor.rs,
`prepare`): tensors sorted by dtype alignment (descending) then by name,
`__metadata__` first, compact JSON, header padded with spaces to a multiple
of 8, data contiguous from offset 0.

Outputs (all small, < 200 KB together):
  torch_state_dict.bin   torch.save of a state dict: f32, f16, bf16, f64, i64,
                         i32, bool, a transposed view, a slice with a storage
                         offset, tied weights (same tensor under two keys), two
                         views of one storage, a 0-d and an empty tensor, and the
                         OrderedDict `_metadata` of a real nn.Module.
  torch_legacy.bin       a small dict saved in the pre-1.6 (non-zip) format (its storage
                         keys are memory addresses, so only this file differs per run).
  torch_deflated.bin     torch_state_dict.bin re-zipped with DEFLATE (heed rejects it).
  expected.json          {name: {"dtype", "shape", "values"}} as heed loads it
                         (f16/f64 become f32; bool becomes u8); values exact.
  tensors.safetensors    the tensors above (contiguous), dtypes F32/F16/BF16/
                         I64/I32/BOOL/F64, metadata {"format": "pt", ...}.
  layout.safetensors     only heed's own dtypes (F32/BF16/I32/I64/U8); heed's
                         writer must reproduce it byte for byte.
  npy/*.npy              np.save of f32, f64, f16, i64, i32, u8, bool, a 0-d
                         array, a v2.0 header, and a Fortran-order array.
"""

import collections
import json
import os
import struct
import zipfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))

# name, element size (bytes), alignment rank in the Rust Dtype enum (higher first)
_ST = {
    torch.float64: ("F64", 8, 12),
    torch.int64: ("I64", 8, 13),
    torch.float32: ("F32", 4, 11),
    torch.int32: ("I32", 4, 9),
    torch.bfloat16: ("BF16", 2, 8),
    torch.float16: ("F16", 2, 7),
    torch.uint8: ("U8", 1, 1),
    torch.bool: ("BOOL", 1, 0),
}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bf16: reinterpret the bits
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().tobytes()  # native order; torch and heed run little-endian only


def encode_safetensors(tensors, metadata):
    """Bytes of a safetensors file laid out like the reference Rust writer."""
    order = sorted(tensors.items(), key=lambda kv: (-_ST[kv[1].dtype][2], kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    blobs, offset = [], 0
    for name, t in order:
        data = tensor_bytes(t)
        header[name] = {"dtype": _ST[t.dtype][0], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def expected_entry(t):
    t = t.detach()
    if t.dtype in (torch.float16, torch.float64, torch.float32, torch.bfloat16):
        dtype = "bf16" if t.dtype == torch.bfloat16 else "f32"
        values = [float(v) for v in t.float().reshape(-1).tolist()]
    elif t.dtype == torch.bool:
        dtype, values = "u8", [int(v) for v in t.to(torch.uint8).reshape(-1).tolist()]
    else:
        dtype = {torch.int64: "i64", torch.int32: "i32", torch.uint8: "u8"}[t.dtype]
        values = [int(v) for v in t.reshape(-1).tolist()]
    return {"dtype": dtype, "shape": list(t.shape), "values": values}


def build_state_dict():
    g = torch.Generator().manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    sd = module.state_dict()  # OrderedDict with a _metadata attribute
    sd["f16"] = torch.randn(2, 3, generator=g).half()
    sd["bf16"] = torch.randn(5, generator=g).bfloat16()
    sd["f64"] = torch.randn(3, generator=g).double()
    sd["i64"] = torch.tensor([[-3, 0, 7, 2**40], [5, -(2**33), 1, 9]], dtype=torch.int64)
    sd["i32"] = torch.tensor([1, -2, 2**30], dtype=torch.int32)
    sd["mask"] = torch.tensor([[True, False, True]])
    sd["transposed"] = torch.randn(3, 5, generator=g).t()  # (5, 3), strides (1, 5)
    big = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    sd["slice"] = big[1:3, 1:4]  # storage offset 6, strides (5, 1)
    emb = torch.randn(6, 4, generator=g)
    sd["tied.embed"] = emb
    sd["tied.decoder"] = emb  # the same tensor object: pickled once, then memo-referenced
    shared = torch.randn(10, generator=g)
    sd["shared.head"] = shared[:4]
    sd["shared.tail"] = shared[4:].view(2, 3)  # another view of the same storage
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def main():
    torch.manual_seed(0)
    sd = build_state_dict()

    torch.save(sd, os.path.join(HERE, "torch_state_dict.bin"))
    small = collections.OrderedDict(w=torch.ones(2))
    torch.save(small, os.path.join(HERE, "torch_legacy.bin"), _use_new_zipfile_serialization=False)

    with zipfile.ZipFile(os.path.join(HERE, "torch_state_dict.bin")) as src, \
            zipfile.ZipFile(os.path.join(HERE, "torch_deflated.bin"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            dst.writestr(fixed, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)

    expected = {name: expected_entry(t) for name, t in sd.items()}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    st = {name: t.detach().contiguous() for name, t in sd.items()
          if name not in ("tied.decoder", "shared.tail")}
    st["i64"] = sd["i64"]
    st["mask"] = sd["mask"]  # BOOL
    with open(os.path.join(HERE, "tensors.safetensors"), "wb") as f:
        f.write(encode_safetensors(st, {"format": "pt", "note": "heed io fixture"}))

    g = torch.Generator().manual_seed(1)
    layout = {
        "a.weight": torch.randn(3, 2, generator=g),
        "b.bf16": torch.randn(3, generator=g).bfloat16(),
        "c.ids": torch.tensor([4, 5, 6], dtype=torch.int64),
        "d.i32": torch.tensor([7, 8, 9], dtype=torch.int32),
        "e.mask": torch.tensor([1, 0, 1, 1, 0], dtype=torch.uint8),
        "f.scalar": torch.tensor(1.5),
    }
    with open(os.path.join(HERE, "layout.safetensors"), "wb") as f:
        f.write(encode_safetensors(layout, {"format": "pt"}))
    with open(os.path.join(HERE, "layout.json"), "w") as f:
        json.dump({k: expected_entry(v) for k, v in layout.items()}, f, indent=1)
        f.write("\n")

    npy = os.path.join(HERE, "npy")
    os.makedirs(npy, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "f32": rng.standard_normal((2, 3)).astype("<f4"),
        "f64": rng.standard_normal((4,)).astype("<f8"),
        "f16": rng.standard_normal((3,)).astype("<f2"),
        "i64": np.array([[1, -2], [2**40, 3]], dtype="<i8"),
        "i32": np.array([5, -6, 7], dtype="<i4"),
        "u8": np.array([0, 255, 7], dtype="u1"),
        "bool": np.array([[True, False], [False, True]]),
        "scalar": np.array(3.25, dtype="<f4"),
        "empty": np.zeros((0, 2), dtype="<f4"),
    }
    npy_expected = {}
    for name, a in arrays.items():
        np.save(os.path.join(npy, name + ".npy"), a)
        floaty = a.dtype.kind == "f"
        npy_expected[name] = {
            "dtype": "f32" if floaty else {"i8": "i64", "i4": "i32"}.get(a.dtype.str[1:], "u8"),
            "shape": list(a.shape),
            "values": [float(np.float32(v)) if floaty else int(v) for v in a.reshape(-1)],
        }
    with open(os.path.join(npy, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, arrays["f32"], version=(2, 0))
    npy_expected["v2"] = dict(npy_expected["f32"])
    np.save(os.path.join(npy, "fortran.npy"), np.asfortranarray(rng.standard_normal((2, 3))))
    np.save(os.path.join(npy, "bigendian.npy"), np.array([1.0, 2.0], dtype=">f4"))
    with open(os.path.join(npy, "expected.json"), "w") as f:
        json.dump(npy_expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
