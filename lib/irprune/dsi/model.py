"""The DSI model: ``transformers``' ``T5ForConditionalGeneration`` (Raffel et al. 2020) plus its tokenizer,
document ids and the id trie; building (from scratch or ``from_pretrained`` on a local directory), saving and
loading (safetensors, written atomically).

Model vocabulary = text vocabulary (``[0, id_offset)``) + id tokens (``[id_offset, id_offset + n_tokens)``);
a document's target is ``id tokens + EOS``.  T5 ties its input embeddings and output layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from ..config import from_mapping, to_mapping
from ..errors import ConfigError, DataFormatError
from ..io import atomic_dir, atomic_write_json
from .config import DSIModelConfig
from .ids import DocIds
from .tokenizer import HFTokenizer, Tokenizer, WordTokenizer, load_tokenizer
from .trie import IdTrie

FORMAT = "irprune-dsi/1"
WEIGHTS = "model.safetensors"
META = "dsi.json"
T5_CONFIG = "t5_config.json"
DOCIDS = "docids.json"
_FIX = "delete the checkpoint directory and re-run the DSI stage"


@dataclass
class DSIModel:
    """A T5 that generates document ids; ``trie`` holds every valid ``id tokens + EOS`` sequence."""

    t5: torch.nn.Module
    tokenizer: Tokenizer
    docids: DocIds
    id_offset: int
    cfg: DSIModelConfig
    trie: IdTrie = field(init=False)

    def __post_init__(self) -> None:
        rows = self.t5.get_input_embeddings().num_embeddings
        need = self.id_offset + self.docids.n_tokens
        if rows != need:
            raise DataFormatError(f"the model's vocabulary has {rows} rows but the text vocabulary ({self.id_offset}) "
                                  f"plus the {self.docids.n_tokens} id tokens of the {self.docids.scheme!r} ids "
                                  f"need {need}", fix="use the document ids the checkpoint was trained with")
        if len(self.tokenizer) > self.id_offset:
            raise DataFormatError(f"tokenizer has {len(self.tokenizer)} entries, more than the id offset "
                                  f"{self.id_offset}", fix=_FIX)
        self.trie = IdTrie(self.target(d) for d in self.docids.ids)

    def target(self, docid: str) -> list[int]:
        """Model tokens of a document's id, EOS-terminated."""
        return [self.id_offset + t for t in self.docids.ids[docid]] + [self.tokenizer.eos_id]

    def decode(self, tokens: Sequence[int]) -> str | None:
        """The document of generated tokens (decoder start stripped; up to the first EOS, whatever padding
        follows), or None if they are not a valid id."""
        toks = [int(t) for t in tokens]
        if self.tokenizer.eos_id not in toks:
            return None
        ids = [t - self.id_offset for t in toks[: toks.index(self.tokenizer.eos_id)]]
        if not ids or any(t < 0 for t in ids):
            return None
        return self.docids.docid(ids)

    def encode(self, texts: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded input ids ``[B, L]`` (each text truncated to ``max_tokens``, then EOS) and attention mask."""
        rows = [self.tokenizer.encode(t)[:max_tokens] + [self.tokenizer.eos_id] for t in texts]
        return pad_rows(rows, self.tokenizer.pad_id)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.t5.parameters()}.values())


def pad_rows(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def _resolve_pretrained(cfg: DSIModelConfig) -> str:
    """A local directory, or (only with ``allow_download``) a hub id; offline hub ids fail with the fix."""
    name = cfg.pretrained
    if Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} is a directory without config.json; "
                              "fix: point at a T5 checkpoint directory (config.json, weights, tokenizer files)")
        return name
    if not cfg.allow_download:
        raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} is not a local directory and downloads are "
                          "off (the study runs offline); fix: download it once elsewhere (e.g. `huggingface-cli "
                          f"download {name} --local-dir models/{name}`) and pass that local directory, or set "
                          "dsi.model.allow_download: true on a machine with network access")
    return name


def build_model(cfg: DSIModelConfig, corpus_texts: Sequence[str], docids: DocIds, seed: int = 0) -> DSIModel:
    """A new DSI model: T5 from scratch with a word vocabulary of ``corpus_texts``, or ``cfg.pretrained``."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    if cfg.pretrained:
        name = _resolve_pretrained(cfg)
        try:
            t5 = T5ForConditionalGeneration.from_pretrained(name, local_files_only=not cfg.allow_download)
            tok: Tokenizer = HFTokenizer.from_dir(name) if Path(name).is_dir() else HFTokenizer(
                __import__("transformers").AutoTokenizer.from_pretrained(name))
        except OSError as e:
            raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} cannot be loaded ({e}); fix: pass a "
                              "local directory holding a T5 checkpoint") from None
        offset = t5.get_input_embeddings().num_embeddings
        t5.resize_token_embeddings(offset + docids.n_tokens)
    else:
        tok = WordTokenizer.build(corpus_texts, cfg.min_word_freq)
        offset = len(tok)
        t5 = T5ForConditionalGeneration(T5Config(
            vocab_size=offset + docids.n_tokens, d_model=cfg.d_model, d_kv=cfg.d_kv, d_ff=cfg.d_ff,
            num_layers=cfg.num_layers, num_decoder_layers=cfg.num_decoder_layers, num_heads=cfg.num_heads,
            dropout_rate=cfg.dropout, feed_forward_proj="relu", tie_word_embeddings=True,
            pad_token_id=tok.pad_id, eos_token_id=tok.eos_id, decoder_start_token_id=tok.pad_id))
    return DSIModel(t5=t5, tokenizer=tok, docids=docids, id_offset=offset, cfg=cfg)


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
    """Atomically write weights (safetensors), T5 config, tokenizer, document ids and ``dsi.json``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        save_file(_dedup_state(model.t5), str(tmp / WEIGHTS), metadata={"format": FORMAT})
        atomic_write_json(tmp / T5_CONFIG, model.t5.config.to_dict())
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
    from transformers import T5Config, T5ForConditionalGeneration

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
    try:
        t5_config = T5Config.from_dict(json.loads((directory / T5_CONFIG).read_text("utf-8")))
    except FileNotFoundError:
        raise DataFormatError("the T5 config of the checkpoint is missing", path=directory / T5_CONFIG,
                              fix=_FIX) from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as e:
        raise DataFormatError(f"the T5 config of the checkpoint is corrupt ({e})", path=directory / T5_CONFIG,
                              fix=_FIX) from None
    t5 = T5ForConditionalGeneration(t5_config)
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise DataFormatError(f"checkpoint weights are missing, truncated or corrupt ({e})",
                              path=directory / WEIGHTS, fix=_FIX) from None
    expected = t5.state_dict()
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise DataFormatError(f"weights do not fit the stored T5 config ({'; '.join(wrong[:3])})",
                              path=directory / WEIGHTS, fix=_FIX)
    missing, unexpected = t5.load_state_dict(state, strict=False)
    tied = {k for k, v in expected.items() if any(v.data_ptr() == expected[s].data_ptr() for s in state if s in expected)}
    if unexpected or set(missing) - tied:
        raise DataFormatError(f"weights do not fit the T5 architecture (missing {sorted(set(missing) - tied)[:4]}, "
                              f"unexpected {sorted(unexpected)[:4]})", path=directory / WEIGHTS, fix=_FIX)
    model = DSIModel(t5=t5.to(map_location).eval(), tokenizer=load_tokenizer(directory), docids=stored,
                     id_offset=int(meta["id_offset"]), cfg=cfg)
    return model


__all__ = ["DSIModel", "build_model", "save_dsi", "load_dsi", "pad_rows"]

