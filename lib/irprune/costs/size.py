"""Size on disk of a (pruned) model: dense safetensors vs a compressed sparse format written here.

Dense: the safetensors file of the folded fp32 ``state_dict`` (tied tensors stored once).  Sparse: the
``irprune-sparse-v1`` file written by :func:`save_sparse`.  Each tensor is stored in the smallest (before
compression) of three encodings, compared by exact byte counts:

* ``dense``   -- every value (best for biases, LayerNorm, anything with few zeros);
* ``bitmask`` -- one bit per entry (``numpy.packbits``, big-endian bit order: entry 0 is the high bit of
  byte 0) plus the non-zero values in row-major order: ``ceil(n/8) + nnz * itemsize`` bytes;
* ``csr``     -- compressed sparse rows of the tensor viewed as ``[shape[0], numel/shape[0]]`` (1-D and 0-D
  tensors as one row): ``indptr`` (rows+1 entries) and column ``indices`` in the smallest unsigned integer
  type that holds them, plus the values: wins over the bitmask below ~1/(8 * index bytes) density
  (Saad 2003, "Iterative Methods for Sparse Linear Systems", sec. 3.4 for CSR).

"Zero" means an all-zero bit pattern, so ``-0.0`` and NaN are kept as values and the round trip is bit-exact.
Values keep their dtype (fp32 for the models here).  The file is ``MAGIC`` followed by one zlib stream (level 9,
Deutsch & Gailly, RFC 1950) of: an 8-byte little-endian header length, a UTF-8 JSON header (per tensor: name,
dtype, shape, encoding and its parts' numpy dtypes and lengths) and the concatenated parts.
:func:`load_sparse` rebuilds the dense tensors exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import DataFormatError
from ..io import atomic_write_bytes

MAGIC = b"IRPSPARSE1\n"
FORMAT = "irprune-sparse-v1"
ENCODINGS = ("dense", "bitmask", "csr")
_BITS = {1: (torch.uint8, np.uint8), 2: (torch.int16, np.uint16), 4: (torch.int32, np.uint32),
         8: (torch.int64, np.uint64)}
_SIGNED = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool)}
_FIX = "re-write it with irprune.costs.save_sparse"


def _uint_for(max_value: int) -> type:
    for t in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(t).max:
            return t
    return np.uint64


def _bits(t: Tensor) -> np.ndarray:
    """The raw bit patterns of ``t`` (flattened) as unsigned integers of the same width."""
    name = str(t.dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise TypeError(f"save_sparse: unsupported dtype {t.dtype}; supported: {', '.join(_DTYPES)}")
    tv, nv = _BITS[t.element_size()]
    t = t.detach().to("cpu").contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.view(tv).numpy().view(nv)


def encode_tensor(t: Tensor) -> tuple[str, list[np.ndarray]]:
    """``(encoding, parts)`` of the smallest of the three encodings (ties: dense, bitmask, csr)."""
    bits = _bits(t)
    n = bits.size
    nz = bits != 0
    values = bits[nz]
    rows = t.shape[0] if t.dim() >= 2 else 1
    cols = n // rows if rows else 0
    nnz = values.size
    candidates: list[tuple[int, str]] = [(bits.nbytes, "dense")]
    candidates.append(((n + 7) // 8 + values.nbytes, "bitmask"))
    ip_t, ix_t = _uint_for(nnz), _uint_for(max(cols - 1, 0))
    csr_bytes = (rows + 1) * np.dtype(ip_t).itemsize + nnz * np.dtype(ix_t).itemsize + values.nbytes
    candidates.append((csr_bytes, "csr"))
    _, enc = min(candidates, key=lambda c: (c[0], ENCODINGS.index(c[1])))
    if enc == "dense":
        return enc, [bits]
    if enc == "bitmask":
        return enc, [np.packbits(nz), values]
    nz2 = nz.reshape(rows, cols)
    indptr = np.zeros(rows + 1, dtype=ip_t)
    np.cumsum(nz2.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(nz2)[1].astype(ix_t)
    return enc, [indptr, indices, values]


def encode_state(state: Mapping[str, Tensor]) -> tuple[bytes, dict[str, str]]:
    """The uncompressed body (header length, JSON header, parts) of ``state`` and each tensor's encoding."""
    header: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, t in state.items():
        enc, parts = encode_tensor(t)
        header.append({"name": name, "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                       "encoding": enc, "parts": [[p.dtype.str, int(p.size)] for p in parts]})
        blobs.extend(p.tobytes() for p in parts)
    head = json.dumps({"format": FORMAT, "tensors": header}, separators=(",", ":")).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs), {h["name"]: h["encoding"] for h in header}


def save_sparse(state: Mapping[str, Tensor], path: str | os.PathLike, level: int = 9) -> dict[str, str]:
    """Write ``state`` in ``irprune-sparse-v1`` atomically; returns ``name -> encoding`` of every tensor."""
    body, encodings = encode_state(state)
    atomic_write_bytes(path, MAGIC + zlib.compress(body, level))
    return encodings


def _decode_one(entry: Mapping[str, Any], parts: list[np.ndarray], path: Any) -> Tensor:
    name, dtype = entry["name"], _DTYPES.get(entry["dtype"])
    if dtype is None:
        raise DataFormatError(f"tensor {name!r} has unknown dtype {entry['dtype']!r}", path=path, fix=_FIX)
    shape = tuple(int(s) for s in entry["shape"])
    n = int(np.prod(shape, dtype=np.int64))
    tv, nv = _BITS[torch.empty((), dtype=dtype).element_size()]
    enc = entry["encoding"]
    bits = np.zeros(n, dtype=nv)
    if enc == "dense" and len(parts) == 1 and parts[0].size == n:
        bits[:] = parts[0]
    elif enc == "bitmask" and len(parts) == 2 and parts[0].size == (n + 7) // 8:
        nz = np.unpackbits(parts[0], count=n).astype(bool)
        if int(nz.sum()) != parts[1].size:
            raise DataFormatError(f"tensor {name!r}: bitmask marks {int(nz.sum())} non-zeros but "
                                  f"{parts[1].size} values are stored", path=path, fix=_FIX)
        bits[nz] = parts[1]
    elif enc == "csr" and len(parts) == 3:
        indptr, indices, values = parts
        rows = shape[0] if len(shape) >= 2 else 1
        cols = n // rows if rows else 0
        if (indptr.size != rows + 1 or int(indptr[-1]) != values.size or indices.size != values.size
                or np.any(np.diff(indptr.astype(np.int64)) < 0) or (indices.size and int(indices.max()) >= cols)):
            raise DataFormatError(f"tensor {name!r}: inconsistent CSR arrays for shape {list(shape)}", path=path,
                                  fix=_FIX)
        row_of = np.repeat(np.arange(rows, dtype=np.int64), np.diff(indptr.astype(np.int64)))
        bits[row_of * cols + indices.astype(np.int64)] = values
    else:
        raise DataFormatError(f"tensor {name!r}: encoding {enc!r} with parts {entry['parts']} does not fit shape "
                              f"{list(shape)}", path=path, fix=_FIX)
    out = torch.from_numpy(bits.view(_SIGNED[bits.itemsize]).copy())       # torch has few unsigned types
    if dtype == torch.bool:
        return out.to(torch.bool).reshape(shape)
    return out.view(dtype).reshape(shape)


def load_sparse(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read an ``irprune-sparse-v1`` file back into dense tensors (bit-exact)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(MAGIC):
        raise DataFormatError(f"not an {FORMAT} file (bad magic bytes)", path=path, fix=_FIX)
    try:
        body = zlib.decompress(raw[len(MAGIC):])
        (hlen,) = struct.unpack_from("<Q", body)
        header = json.loads(body[8: 8 + hlen].decode())
    except (zlib.error, struct.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"truncated or corrupt {FORMAT} file ({e})", path=path, fix=_FIX) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataFormatError(f"header does not declare format {FORMAT!r}", path=path, fix=_FIX)
    out: dict[str, Tensor] = {}
    pos = 8 + hlen
    for entry in header["tensors"]:
        parts = []
        for dt, count in entry["parts"]:
            nbytes = np.dtype(dt).itemsize * int(count)
            if pos + nbytes > len(body):
                raise DataFormatError(f"tensor {entry['name']!r}: data ends early", path=path, fix=_FIX)
            parts.append(np.frombuffer(body, dtype=dt, count=int(count), offset=pos))
            pos += nbytes
        out[entry["name"]] = _decode_one(entry, parts, path)
    if pos != len(body):
        raise DataFormatError(f"{len(body) - pos} trailing bytes after the last tensor", path=path, fix=_FIX)
    return out


def folded_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The plain (mask-folded) ``state_dict`` on CPU, contiguous, with tied tensors kept once (first name)."""
    from ..pruning.apply import plain_state_dict

    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    dup: set[str] = set()
    for key, v in model.state_dict(keep_vars=True).items():
        ident = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if ident in seen and ".parametrizations." not in key:
            dup.add(key)
        seen.add(ident)
    return {k: v.detach().to("cpu").contiguous() for k, v in plain_state_dict(model).items() if k not in dup}


@dataclasses.dataclass(frozen=True)
class SizeReport:
    """Bytes on disk: ``dense`` safetensors, the same file zlib-compressed (what compression alone gives),
    and the ``sparse`` format; ``encodings`` counts tensors per chosen encoding."""

    dense_bytes: int
    dense_zlib_bytes: int
    sparse_bytes: int
    nonzero: int
    numel: int
    encodings: Mapping[str, int]

    @property
    def ratio(self) -> float:
        """``dense_bytes / sparse_bytes``."""
        return self.dense_bytes / self.sparse_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"size_dense_bytes": self.dense_bytes, "size_dense_zlib_bytes": self.dense_zlib_bytes,
                "size_sparse_bytes": self.sparse_bytes, "size_ratio": self.ratio, "stored_values": self.numel,
                "stored_nonzero": self.nonzero, **{f"size_tensors_{k}": v for k, v in self.encodings.items()}}


def size_on_disk(model: nn.Module | Mapping[str, Tensor], workdir: str | os.PathLike | None = None) -> SizeReport:
    """Write the model's folded state (or a given state_dict) densely and sparsely to temporary files and measure
    them.  Tensors are stored as they are (fp32 for the models here)."""
    from safetensors.torch import save as st_save

    state = folded_state_dict(model) if isinstance(model, nn.Module) else {
        k: v.detach().to("cpu").contiguous() for k, v in model.items()}
    with tempfile.TemporaryDirectory(prefix="irprune-size-", dir=workdir) as tmp:
        dense_path = Path(tmp) / "model.safetensors"
        dense = st_save(state)
        atomic_write_bytes(dense_path, dense)
        encodings = save_sparse(state, Path(tmp) / "model.sparse")
        sparse = os.path.getsize(Path(tmp) / "model.sparse")
        dense_size = os.path.getsize(dense_path)
    counts = {e: sum(1 for v in encodings.values() if v == e) for e in ENCODINGS}
    nonzero = sum(int((_bits(t) != 0).sum()) for t in state.values())
    return SizeReport(dense_bytes=dense_size, dense_zlib_bytes=len(zlib.compress(dense, 9)), sparse_bytes=sparse,
                      nonzero=nonzero, numel=sum(t.numel() for t in state.values()), encodings=counts)


__all__ = ["ENCODINGS", "FORMAT", "SizeReport", "encode_tensor", "folded_state_dict", "load_sparse",
           "save_sparse", "size_on_disk"]
