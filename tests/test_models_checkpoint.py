"""Checkpoints: safetensors round trip, atomic save, corrupt files and wrong architectures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from irprune.errors import ConfigError, DataFormatError
from irprune.models import build_model, load_checkpoint, model_config, save_checkpoint
from irprune.text import Vocab, WordPieceConfig, train_wordpiece

CORPUS = ["the quick brown fox jumps over the lazy dog", "kernel pooling for neural ranking",
          "pruning bert cross encoders", "documents and queries share words"]
PAIRS = [("quick fox", "the quick brown fox"), ("pruning", "pruning bert cross encoders"), ("zebra", "")]
NAMES = ["monobert", "conv_knrm", "conformer_kernel"]


@pytest.fixture(scope="module")
def texts() -> dict[str, Any]:
    vocab = Vocab.build(CORPUS)
    return {"monobert": train_wordpiece(CORPUS * 2, WordPieceConfig(vocab_size=120, min_frequency=1)),
            "conv_knrm": vocab, "conformer_kernel": vocab}


def _cfg(name: str) -> Any:
    return model_config(name, "small", {"window": 3, "stride": 2} if name == "conformer_kernel" else None)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_gives_identical_scores(name: str, texts: dict[str, Any], tmp_path: Path) -> None:
    model = build_model(name, _cfg(name), texts[name], seed=5).eval()
    with torch.no_grad():   # perturb so that a loader that ignored the weights file would be caught
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]          # no temp dirs left
    loaded = load_checkpoint(tmp_path / "ckpt", expect=name)
    assert type(loaded) is type(model) and loaded.cfg == model.cfg and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(loaded.collate(PAIRS)), model(model.collate(PAIRS)))
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embeddings_stay_frozen_after_loading(name: str, freeze: bool, texts: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """The prune stage fine-tunes a loaded checkpoint: what training kept frozen must stay frozen there."""
    import dataclasses

    model = build_model(name, dataclasses.replace(_cfg(name), freeze_embeddings=freeze), texts[name], seed=0)
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt", expect=name)
    frozen = lambda m: sorted(k for k, p in m.named_parameters() if not p.requires_grad)  # noqa: E731
    assert frozen(loaded) == frozen(model) and bool(frozen(model)) == freeze


def test_save_replaces_old_checkpoint_and_failed_save_keeps_it(texts: dict[str, Any], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_model("conv_knrm", None, texts["conv_knrm"], seed=1).eval()
    b = build_model("conv_knrm", None, texts["conv_knrm"], seed=2).eval()
    save_checkpoint(a, tmp_path / "ck")
    save_checkpoint(b, tmp_path / "ck")
    batch = b.collate(PAIRS)
    with torch.no_grad():
        assert torch.equal(load_checkpoint(tmp_path / "ck")(batch), b(batch))

    def killed(directory: Path) -> None:
        raise KeyboardInterrupt("killed mid-save")
    monkeypatch.setattr(a, "save_text", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(a, tmp_path / "ck")
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(a, tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]            # no half-written checkpoint
    with torch.no_grad():
        assert torch.equal(load_checkpoint(tmp_path / "ck")(batch), b(batch))


def test_truncated_or_corrupt_weights_name_the_file_and_the_fix(texts: dict[str, Any], tmp_path: Path) -> None:
    save_checkpoint(build_model("conv_knrm", None, texts["conv_knrm"]), tmp_path / "ck")
    weights = tmp_path / "ck" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"model\.safetensors.*truncated or corrupt.*delete the checkpoint"):
        load_checkpoint(tmp_path / "ck")
    weights.write_bytes(b"\x00" * 7)
    with pytest.raises(DataFormatError, match=r"model\.safetensors.*truncated or corrupt"):
        load_checkpoint(tmp_path / "ck")
    weights.unlink()
    with pytest.raises(DataFormatError, match="weights are missing"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "ranker.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"ranker\.json.*corrupt"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(DataFormatError, match="checkpoint directory not found"):
        load_checkpoint(tmp_path / "nothing")


def test_wrong_architecture_names_both(texts: dict[str, Any], tmp_path: Path) -> None:
    save_checkpoint(build_model("conv_knrm", None, texts["conv_knrm"]), tmp_path / "ck")
    with pytest.raises(ConfigError, match="holds a 'conv_knrm' checkpoint but a 'conformer_kernel' model"):
        load_checkpoint(tmp_path / "ck", expect="conformer_kernel")
    # weights of another shape under the right name: the loader reports the mismatch, naming the file
    save_checkpoint(build_model("conv_knrm", {"n_filters": 8}, texts["conv_knrm"]), tmp_path / "other")
    meta = json.loads((tmp_path / "other" / "ranker.json").read_text())
    meta["config"]["n_filters"] = 16
    (tmp_path / "other" / "ranker.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match=r"model\.safetensors: checkpoint weights do not fit the conv_knrm "
                                              r"architecture.*convs\.0\.weight: file \(8, 128, 1\) vs model \(16"):
        load_checkpoint(tmp_path / "other")
    meta["architecture"], meta["config"] = "conformer_kernel", {}
    (tmp_path / "other" / "ranker.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="holds 'conv_knrm' weights but ranker.json says 'conformer_kernel'"):
        load_checkpoint(tmp_path / "other")
