"""The DSI model: a sequence-to-sequence network (:mod:`.arch`: a T5, or a BERT-initialised encoder-decoder) plus
its input tokenizer, document ids and the id trie; building, saving and loading (safetensors, written atomically).

The decoder's vocabulary holds its special tokens and the id tokens ``[id_offset, id_offset + n_tokens)``; a
document's target is ``id tokens + EOS``.  Arch t5 shares one vocabulary between text and ids (text tokens below
``id_offset``); arch bert's decoder has only ``<pad>``, ``</s>``, the start token and the id tokens.  Both tie the
decoder's input embeddings and output layer.  One :class:`DSIModel` serves training, constrained decoding, pruning
and evaluation for every arch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from ..config import from_mapping, to_mapping
from ..errors import DataFormatError
from ..io import atomic_dir, atomic_write_json
from .arch import ARCHS, Arch
from .config import DSIModelConfig
from .ids import DocIds
from .tokenizer import Tokenizer, load_tokenizer
from .trie import IdTrie

FORMAT = "irprune-dsi/1"
WEIGHTS = "model.safetensors"
META = "dsi.json"
DOCIDS = "docids.json"
_FIX = "delete the checkpoint directory and re-run the DSI stage"


@dataclass
class DSIModel:
    """A network (``net``, of architecture ``cfg.arch``) that generates document ids; ``trie`` holds every valid
    ``id tokens + EOS`` sequence; ``pad_id`` / ``eos_id`` / ``start_id`` are the decoder's special tokens."""

    net: torch.nn.Module
    tokenizer: Tokenizer
    docids: DocIds
    id_offset: int
    cfg: DSIModelConfig
    trie: IdTrie = field(init=False)
    pad_id: int = field(init=False)
    eos_id: int = field(init=False)
    start_id: int = field(init=False)

    def __post_init__(self) -> None:
        rows = self.net.get_decoder().get_input_embeddings().num_embeddings
        need = self.id_offset + self.docids.n_tokens
        if rows != need:
            raise DataFormatError(f"the model's vocabulary has {rows} rows but the offset ({self.id_offset}) "
                                  f"plus the {self.docids.n_tokens} id tokens of the {self.docids.scheme!r} ids "
                                  f"need {need}", fix="use the document ids the checkpoint was trained with")
        try:
            self.arch.check(self.net, self.tokenizer, self.id_offset)
        except ValueError as e:
            raise DataFormatError(str(e), fix=_FIX) from None
        self.pad_id, self.eos_id, self.start_id = self.arch.decoder_tokens(self.tokenizer)
        self.trie = IdTrie(self.target(d) for d in self.docids.ids)

    @property
    def arch(self) -> Arch:
        return ARCHS.get(self.cfg.arch)

    def target(self, docid: str) -> list[int]:
        """Decoder tokens of a document's id, EOS-terminated."""
        return [self.id_offset + t for t in self.docids.ids[docid]] + [self.eos_id]

    def decode(self, tokens: Sequence[int]) -> str | None:
        """The document of generated tokens (decoder start stripped; up to the first EOS, whatever padding
        follows), or None if they are not a valid id."""
        toks = [int(t) for t in tokens]
        if self.eos_id not in toks:
            return None
        ids = [t - self.id_offset for t in toks[: toks.index(self.eos_id)]]
        if not ids or any(t < 0 for t in ids):
            return None
        return self.docids.docid(ids)

    def input_row(self, tokens: Sequence[int]) -> list[int]:
        """Encoder input of already truncated text tokens: ``tokens </s>`` (T5) or ``[CLS] tokens [SEP]`` (BERT)."""
        bos = self.tokenizer.bos_id
        return ([] if bos is None else [bos]) + list(tokens) + [self.tokenizer.eos_id]

    def encode(self, texts: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded input ids ``[B, L]`` (each text truncated to ``max_tokens``, then wrapped by
        :meth:`input_row`) and attention mask."""
        rows = [self.input_row(self.tokenizer.encode(t)[:max_tokens]) for t in texts]
        return pad_rows(rows, self.tokenizer.pad_id)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.net.parameters()}.values())


def pad_rows(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def build_model(cfg: DSIModelConfig, corpus_texts: Sequence[str], docids: DocIds, seed: int = 0) -> DSIModel:
    """A new DSI model of ``cfg.arch`` (:data:`irprune.dsi.arch.ARCHS`; an unknown name lists the known ones)."""
    arch = ARCHS.get(cfg.arch)
    torch.manual_seed(seed)
    built = arch.build(cfg, corpus_texts, docids)
    return DSIModel(net=built.net, tokenizer=built.tokenizer, docids=docids, id_offset=built.id_offset, cfg=cfg)


def _dedup_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The plain (mask-folded) state dict with tied tensors stored once (safetensors refuses shared storage)."""
    from ..pruning.apply import plain_state_dict

    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for k, v in plain_state_dict(model).items():
        if v.data_ptr() in seen:
            continue
        seen.add(v.data_ptr())
        out[k] = v.contiguous()
    return out


def save_dsi(model: DSIModel, directory: str | Path) -> Path:
    """Atomically write weights (safetensors), the network config, tokenizer, document ids and ``dsi.json``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        save_file(_dedup_state(model.net), str(tmp / WEIGHTS), metadata={"format": FORMAT})
        atomic_write_json(tmp / model.arch.config_file, model.net.config.to_dict())
        model.tokenizer.save(tmp)
        model.docids.save(tmp / DOCIDS)
        atomic_write_json(tmp / META, {"format": FORMAT, "id_offset": model.id_offset, "scheme": model.docids.scheme,
                                       "n_id_tokens": model.docids.n_tokens, "config": to_mapping(model.cfg)})
    return directory


def load_dsi(directory: str | Path, docids: DocIds | None = None, map_location: str = "cpu") -> DSIModel:
    """Load a checkpoint of :func:`save_dsi`.  ``docids``, when given, must equal the stored ids; a vocabulary
    that does not fit the ids, missing files or corrupt weights raise :class:`DataFormatError` naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    meta_path = directory / META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError("not a DSI checkpoint (no dsi.json)", path=directory, fix=_FIX) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"corrupt DSI metadata ({e})", path=meta_path, fix=_FIX) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataFormatError(f"not a {FORMAT} checkpoint", path=meta_path, fix=_FIX)
    stored = DocIds.load(directory / DOCIDS)
    if docids is not None and (docids.scheme != stored.scheme or docids.ids != stored.ids):
        missing = len(set(docids.ids) - set(stored.ids))
        raise DataFormatError(f"the checkpoint's {stored.scheme!r} ids ({len(stored)} documents) differ from the "
                              f"requested {docids.scheme!r} ids ({len(docids)} documents, {missing} not in the "
                              "checkpoint)", path=directory / DOCIDS,
                              fix="evaluate on the documents the model indexed, or re-train on the new collection")
    cfg = from_mapping(DSIModelConfig, meta.get("config") or {}, prefix=f"{meta_path}: config")
    arch = ARCHS.get(cfg.arch)
    config_path = directory / arch.config_file
    try:
        net = arch.from_config(json.loads(config_path.read_text("utf-8")))
    except FileNotFoundError:
        raise DataFormatError(f"the {arch.name} config of the checkpoint is missing", path=config_path,
                              fix=_FIX) from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError, KeyError) as e:
        raise DataFormatError(f"the {arch.name} config of the checkpoint is corrupt ({e})", path=config_path,
                              fix=_FIX) from None
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise DataFormatError(f"checkpoint weights are missing, truncated or corrupt ({e})",
                              path=directory / WEIGHTS, fix=_FIX) from None
    expected = net.state_dict()
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise DataFormatError(f"weights do not fit the stored {arch.name} config ({'; '.join(wrong[:3])})",
                              path=directory / WEIGHTS, fix=_FIX)
    missing, unexpected = net.load_state_dict(state, strict=False)
    tied = {k for k, v in expected.items()
            if any(v.data_ptr() == expected[s].data_ptr() for s in state if s in expected)}
    if unexpected or set(missing) - tied:
        raise DataFormatError(f"weights do not fit the {arch.name} architecture (missing "
                              f"{sorted(set(missing) - tied)[:4]}, unexpected {sorted(unexpected)[:4]})",
                              path=directory / WEIGHTS, fix=_FIX)
    model = DSIModel(net=net.to(map_location).eval(), tokenizer=load_tokenizer(directory), docids=stored,
                     id_offset=int(meta["id_offset"]), cfg=cfg)
    return model


__all__ = ["DSIModel", "build_model", "save_dsi", "load_dsi", "pad_rows"]

