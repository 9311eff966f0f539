"""The :class:`Mask` value type: parameter name -> boolean keep-tensor (``True`` = kept).

Modelled on open_lth ``pruning/mask.py``: masks are keyed by the *plain* parameter name (``encoder.fc.weight``,
as in the folded model's ``state_dict``), save to ``.safetensors`` or ``.pt`` and validate against a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import DataFormatError
from ..io import atomic_open, atomic_write_bytes


class Mask(Mapping[str, torch.Tensor]):
    """An immutable-by-convention mapping ``name -> bool tensor``; ``True`` marks a kept weight."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self._t: dict[str, torch.Tensor] = {}
        for name, t in tensors.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"mask entry {name!r} is {type(t).__name__}, expected a tensor")
            self._t[name] = t.detach().to(device="cpu", dtype=torch.bool).clone()

    # -- Mapping ---------------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        return self._t[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._t)

    def __len__(self) -> int:
        return len(self._t)

    def __repr__(self) -> str:
        return f"Mask({len(self)} tensors, sparsity={self.sparsity:.4f})"

    # -- constructors ----------------------------------------------------------------------------------------
    @classmethod
    def ones_like(cls, tensors: Mapping[str, torch.Tensor]) -> "Mask":
        """A dense mask (everything kept) shaped like ``tensors`` (e.g. the prunable parameters)."""
        return cls({n: torch.ones(t.shape, dtype=torch.bool) for n, t in tensors.items()})

    # -- statistics ------------------------------------------------------------------------------------------
    @property
    def numel(self) -> int:
        return sum(t.numel() for t in self._t.values())

    @property
    def num_kept(self) -> int:
        return sum(int(t.sum()) for t in self._t.values())

    @property
    def num_pruned(self) -> int:
        return self.numel - self.num_kept

    @property
    def sparsity(self) -> float:
        """Fraction of masked weights that are pruned (0 for an empty mask)."""
        n = self.numel
        return self.num_pruned / n if n else 0.0

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def report(self) -> list[dict[str, Any]]:
        """Per-tensor rows: name, shape, numel, kept, sparsity."""
        rows = []
        for n, t in self._t.items():
            kept = int(t.sum())
            rows.append({"name": n, "shape": list(t.shape), "numel": t.numel(), "kept": kept,
                         "sparsity": 1.0 - kept / t.numel() if t.numel() else 0.0})
        return rows

    def is_subset_of(self, other: "Mask") -> bool:
        """True if every weight kept here is kept in ``other`` (masks only shrink)."""
        if set(self) != set(other):
            return False
        return all(bool((self[n] & ~other[n]).sum() == 0) for n in self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask) or list(self) != list(other):
            return False
        return all(torch.equal(self[n], other[n]) for n in self)

    __hash__ = None  # type: ignore[assignment]

    # -- validation ------------------------------------------------------------------------------------------
    def validate(self, reference: Mapping[str, Any], *, source: object = "mask") -> None:
        """Check names and shapes against ``reference`` (name -> tensor/parameter or shape).

        Raises :class:`DataFormatError` naming the first mismatching tensor and the fix.
        """
        for name, ref in reference.items():
            shape = tuple(ref.shape) if hasattr(ref, "shape") else tuple(ref)
            if name not in self._t:
                raise DataFormatError(f"mask has no entry for prunable tensor {name!r} {list(shape)}",
                                      path=source, fix="the mask was made for another model or another "
                                      "prunable selection; recompute it or pass the same include/exclude")
            if tuple(self._t[name].shape) != shape:
                raise DataFormatError(
                    f"mask tensor {name!r} has shape {list(self._t[name].shape)} but the model's is {list(shape)}",
                    path=source, fix="use the mask saved for this model architecture")
        extra = [n for n in self._t if n not in reference]
        if extra:
            raise DataFormatError(f"mask tensor {extra[0]!r} is not a prunable tensor of the model "
                                  f"({len(extra)} such tensors)", path=source,
                                  fix="use the mask saved for this model architecture and prunable selection")

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write atomically to ``.safetensors`` or ``.pt`` (chosen by suffix)."""
        path = Path(path)
        tensors = {n: t.contiguous() for n, t in self._t.items()}
        if path.suffix == ".safetensors":
            from safetensors.torch import save

            atomic_write_bytes(path, save(tensors, metadata={"format": "irprune.mask/1"}))
        elif path.suffix == ".pt":
            with atomic_open(path, "wb") as fh:
                torch.save({"format": "irprune.mask/1", "masks": tensors}, fh)
        else:
            raise ValueError(f"{path}: unknown mask file suffix {path.suffix!r}; use .safetensors or .pt")

    @classmethod
    def load(cls, path: str | Path, reference: Mapping[str, Any] | None = None) -> "Mask":
        """Read a mask file; if ``reference`` (name -> tensor) is given, validate names and shapes against it."""
        path = Path(path)
        if not path.is_file():
            raise DataFormatError("mask file not found", path=path, fix="run the pruning stage that writes it")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                tensors = load_file(str(path))
            elif path.suffix == ".pt":
                obj = torch.load(path, map_location="cpu", weights_only=True)
                if not isinstance(obj, dict) or obj.get("format") != "irprune.mask/1":
                    raise DataFormatError("not an irprune mask file (missing format 'irprune.mask/1')", path=path,
                                          fix="save masks with Mask.save")
                tensors = obj["masks"]
            else:
                raise DataFormatError(f"unknown mask file suffix {path.suffix!r}", path=path,
                                      fix="use .safetensors or .pt")
        except DataFormatError:
            raise
        except Exception as e:  # corrupt file
            raise DataFormatError(f"cannot read mask file: {e}", path=path, fix="re-create it") from None
        for n, t in tensors.items():
            if t.dtype != torch.bool:
                raise DataFormatError(f"mask tensor {n!r} has dtype {t.dtype}, expected bool", path=path,
                                      fix="save masks with Mask.save")
        mask = cls(tensors)
        if reference is not None:
            mask.validate(reference, source=path)
        return mask
