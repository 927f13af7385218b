"""Training windows of osu!mania charts: shapes, determinism, augmentations lining up chart and audio, the
DataModule, errors; on a synthetic library built here (and one real song where ../shared/data is present)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from beatforge.charts.mania_tensor import decode, mirror, permute_columns
from beatforge.config import AugmentConfig, Config, DataConfig
from beatforge.constants import FRAME_MS, MAX_KEYS, MEL_HOP_MS
from beatforge.data.build import BuildOptions, build_dataset, read_index
from beatforge.data.mania_dataset import Augment, ManiaDataModule, ManiaWindowDataset
from beatforge.data.synthetic import make_synthetic_library
from beatforge.errors import BeatforgeError
from beatforge.features import FeatureTable
from tests.conftest import REPO, need_data

MULT = 64  # the default model's downsampling (VAE 8x, UNet 8x)


@pytest.fixture(scope="module")
def features() -> FeatureTable:
    return FeatureTable.from_yaml(REPO / "configs" / "mug" / "mania_beatmap_features.yaml")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A dataset built from the synthetic library (6 songs, 4K and 7K, 24 s each)."""
    base = tmp_path_factory.mktemp("synth")
    songs = make_synthetic_library(base / "songs")
    out = base / "dataset"
    build_dataset(BuildOptions(songs=[songs], out=out, workers=1), progress=False)
    return out


def data_cfg(ds: Path, **kw) -> DataConfig:
    base = {"batch_size": 4, "num_workers": 0, "window_frames": 512, "train_augment": AugmentConfig()}
    return DataConfig(dataset=[str(ds)], **{**base, **kw})


def no_aug(**kw) -> AugmentConfig:
    return AugmentConfig(**{"mirror_p": 0.0, "shuffle_p": 0.0, "rate_p": 0.0, "feature_dropout_p": 0.0, **kw})


def make(ds: Path, features: FeatureTable, split: str = "train", *, train: bool = True, **kw) -> ManiaWindowDataset:
    return ManiaWindowDataset([ds], split, data_cfg(ds, **kw), features, train=train, multiple_of=MULT)


# ============================================================================================ synthetic library
def test_synthetic_library_is_deterministic_and_marked(tmp_path) -> None:
    a = make_synthetic_library(tmp_path / "a", n_songs=2, keys=(4,), seconds=8.0, seed=3)
    b = make_synthetic_library(tmp_path / "b", n_songs=2, keys=(4,), seconds=8.0, seed=3)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files_a) == 4  # per song: audio.wav + one chart
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    text = next(a.rglob("*.osu")).read_text()
    assert "Creator:beatforge synthetic" in text and "synthetic" in text.split("Tags:")[1].splitlines()[0]


def test_synthetic_dataset_has_both_splits(synth) -> None:
    records = read_index(synth)
    assert len(records) == 12 and {r["keys"] for r in records} == {4, 7}
    assert {r["split"] for r in records} == {"train", "val"}
    assert all(r["mel_file"] for r in records)
    assert len({r["title"] for r in records}) == 6


# ============================================================================================ items
def test_item_shapes_and_dtypes(synth, features) -> None:
    ds = make(synth, features)
    item = ds[0]
    w = 512
    expect = {
        "x": ((4 * MAX_KEYS, w), torch.float32),
        "valid": ((w,), torch.float32),
        "keys": ((), torch.int64),
        "tokens": ((len(features),), torch.int64),
        "mel": ((128, 8 * w), torch.float32),
        "rate": ((), torch.float32),
        "start": ((), torch.int64),
        "index": ((), torch.int64),
    }
    assert set(item) == set(expect)
    for key, (shape, dtype) in expect.items():
        assert tuple(item[key].shape) == shape and item[key].dtype == dtype, key
    assert int(item["index"]) == 0 and int(item["keys"]) == ds.record(0)["keys"]
    assert float(item["valid"].sum()) > 0 and float(item["mel"].abs().sum()) > 0
    no_audio = make(synth, features, with_audio=False)[0]
    assert "mel" not in no_audio


def test_val_items_are_deterministic(synth, features) -> None:
    ds = make(synth, features, "val", train=False)
    for i in range(len(ds)):
        a, b = ds[i], ds[i]
        for key in a:
            assert torch.equal(a[key], b[key]), key
        first_frame = int(np.floor(ds.notes(i)[0, 0] / FRAME_MS))
        assert int(a["start"]) == max(0, first_frame - 16)
        assert float(a["rate"]) == 1.0
        assert np.array_equal(a["tokens"].numpy(), ds.tokens(i))  # no dropout in validation
        assert float(a["x"][:, :16].abs().sum()) == 0 and float(a["x"][:, 16].abs().sum()) > 0


def test_train_windows_cover_notes(synth, features) -> None:
    ds = make(synth, features)
    for i in range(len(ds)):
        for _ in range(5):
            assert float(ds[i]["valid"].sum()) > 0


def _onset_hits(mel: np.ndarray, times_ms: np.ndarray, tol: float = 1.0) -> float:
    """Share of note times whose strongest spectral-flux onset within +-6 mel frames lies within ``tol``."""
    flux = np.r_[0.0, np.maximum(np.diff(mel.sum(axis=0)), 0.0)]
    hits = 0
    for t in times_ms:
        m = t / MEL_HOP_MS
        lo, hi = max(int(m) - 6, 0), min(int(m) + 7, mel.shape[1])
        best = lo + int(np.argmax(flux[lo:hi]))
        hits += abs(best - m) <= tol
    return hits / len(times_ms)


def test_rate_augmentation_moves_notes_and_mel_together(synth, features) -> None:
    ds = make(synth, features, window_frames=576)  # 26.7 s: the whole 24 s song at rate 1
    i = 0
    keys = ds.record(i)["keys"]
    plain = ds.item(i, Augment(rate=1.0, start=0))
    fast = ds.item(i, Augment(rate=1.25, start=0))
    assert float(fast["rate"]) == pytest.approx(1.25)
    c1 = decode(plain["x"], keys=keys)
    c2 = decode(fast["x"], keys=keys)
    assert c1.n_notes == c2.n_notes == ds.record(i)["notes"]
    np.testing.assert_allclose(c2.starts, c1.starts / 1.25, atol=1e-3)
    np.testing.assert_array_equal(c2.columns, c1.columns)
    lns = ~np.isnan(c1.ends)
    np.testing.assert_allclose(c2.ends[lns], c1.ends[lns] / 1.25, atol=1e-3)
    # Every click of the audio sits at its note in both, and the un-resampled audio does not fit the fast notes.
    onsets = np.unique(c1.starts)
    mel1, mel2 = plain["mel"].numpy(), fast["mel"].numpy()
    assert _onset_hits(mel1, onsets) >= 0.95
    assert _onset_hits(mel2, onsets / 1.25) >= 0.95
    assert _onset_hits(mel1, onsets / 1.25) < 0.5
    # The resampled mel is the original read at positions j * rate.
    j = np.arange(0, 3000, 7)
    np.testing.assert_allclose(mel2[:, j], np.stack([np.interp(j * 1.25, np.arange(mel1.shape[1]), row)
                                                     for row in mel1])[:, :], atol=1e-3)


def test_rate_changes_features(synth, features) -> None:
    ds = make(synth, features)
    base = features.decode(ds.tokens(0))
    fast = features.decode(ds.tokens(0, 1.25))
    assert fast["keys"] == base["keys"] and fast["ln_ratio"] == base["ln_ratio"]
    assert fast["sr"] > base["sr"] and fast["overall"] > base["overall"]


def test_mirror_and_shuffle_move_columns(synth, features) -> None:
    ds = make(synth, features)
    for i in range(len(ds)):
        keys = ds.record(i)["keys"]
        plain = ds.item(i, Augment(start=10))["x"].numpy()
        mirrored = ds.item(i, Augment(mirror=True, start=10))["x"].numpy()
        assert np.abs(plain).sum() > 0
        np.testing.assert_array_equal(mirrored, mirror(plain, keys))
        perm = tuple(int(p) for p in np.random.default_rng(i).permutation(keys))
        shuffled = ds.item(i, Augment(perm=perm, start=10))["x"].numpy()
        np.testing.assert_array_equal(shuffled, permute_columns(plain, keys, perm))


def test_padding_columns_and_frames(synth, features) -> None:
    ds = make(synth, features, window_frames=1024)  # longer than every chart
    for i in range(len(ds)):
        keys = ds.record(i)["keys"]
        for item in (ds[i], ds.item(i, Augment(mirror=True, perm=tuple(range(keys))[::-1], rate=0.8, start=3))):
            x = item["x"].numpy().reshape(4, MAX_KEYS, -1)
            assert x[:, :keys].any() and not x[:, keys:].any()
            valid = item["valid"].numpy()
            last = int(np.flatnonzero(valid)[-1])
            assert valid[: last + 1].all() and last < 1023
            assert not x[..., last + 1 :].any()
        mel = ds.item(i, Augment(start=0))["mel"].numpy()
        audio_frames = round(ds.record(i)["audio_seconds"] * 1000 / MEL_HOP_MS)
        assert mel[:, audio_frames - 10 : audio_frames].any() and not mel[:, audio_frames + 1 :].any()


def test_tokens_decode_to_record(synth, features) -> None:
    ds = make(synth, features, "val", train=False)
    for i in range(len(ds)):
        r = ds.record(i)
        got = features.decode(ds[i]["tokens"].numpy())
        assert got["keys"] == r["keys"]
        assert got["sr"] == pytest.approx(1.0 + round((r["star_rating"] - 1.0) / 0.2) * 0.2)
        assert got["overall"] == pytest.approx(max(5.0, round(r["overall"])))
        assert got["ln_ratio"] == pytest.approx(round(r["ln_ratio"] * 10) / 10)
        assert got["map_type"] == r["map_type"] and got["source_game"] == r["source_game"]


def test_feature_dropout_one_keeps_only_keys(synth, features) -> None:
    ds = make(synth, features, train_augment=no_aug(feature_dropout_p=1.0))
    null = features.null()
    k = features.names.index("keys")
    for i in range(len(ds)):
        tokens = ds[i]["tokens"].numpy()
        others = np.arange(len(features)) != k
        np.testing.assert_array_equal(tokens[others], null[others])
        assert features.decode(tokens)["keys"] == ds.record(i)["keys"]


# ============================================================================================ DataModule
def full_cfg(ds: Path, **data) -> Config:
    cfg = Config()
    cfg.data = data_cfg(ds, **data)
    return cfg


def test_datamodule_batches(synth, features) -> None:
    dm = ManiaDataModule(full_cfg(synth), features)
    batches = list(dm.train_dataloader())
    assert len(batches) == len(dm.train_set) // 4  # drop_last
    b = batches[0]
    assert b["x"].shape == (4, 40, 512) and b["mel"].shape == (4, 128, 4096) and b["tokens"].shape == (4, 21)
    assert b["keys"].shape == (4,) and b["rate"].dtype == torch.float32
    val = list(dm.val_dataloader())
    assert sum(len(v["index"]) for v in val) == len(dm.val_set)
    limited = ManiaDataModule(full_cfg(synth, max_val_charts=1), features)
    assert [len(v["index"]) for v in limited.val_dataloader()] == [1]
    with pytest.raises(BeatforgeError, match="multiple of 32"):
        ManiaDataModule(full_cfg(synth, window_frames=500), features)


def test_datamodule_workers_are_reproducible(synth, features) -> None:
    dm = ManiaDataModule(full_cfg(synth, num_workers=2, train_augment=AugmentConfig(rate_p=0.5)), features)

    def first_batch() -> dict:
        torch.manual_seed(5)
        loader = dm.train_dataloader()
        it = iter(loader)
        try:
            return next(it)
        finally:
            del it

    a, b = first_batch(), first_batch()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # One chart asked of both workers, one item at a time: each worker draws from its own generator.
    same = torch.utils.data.Subset(dm.train_set, [0] * 8)
    loader = torch.utils.data.DataLoader(same, batch_size=1, num_workers=2)
    rates = [float(item["rate"]) for item in loader]
    assert rates[0::2] != rates[1::2]


# ============================================================================================ errors
def test_errors_name_the_problem(synth, features, tmp_path) -> None:
    cfg = data_cfg(synth)
    with pytest.raises(BeatforgeError, match="not a beatforge dataset"):
        ManiaWindowDataset([tmp_path], "train", cfg, features, train=True, multiple_of=MULT)
    with pytest.raises(BeatforgeError, match="no such folder"):
        ManiaWindowDataset([tmp_path / "nope"], "train", cfg, features, train=True, multiple_of=MULT)
    only_train = tmp_path / "only_train"
    only_train.mkdir()
    lines = [json.dumps({**r, "split": "train"}) for r in read_index(synth)]
    (only_train / "index.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(BeatforgeError, match="no validation charts .*split is by song"):
        ManiaWindowDataset([only_train], "val", cfg, features, train=False, multiple_of=MULT)
    with pytest.raises(BeatforgeError, match="data.keys"):
        ManiaWindowDataset([synth], "train", replace(cfg, keys=[9]), features, train=True, multiple_of=MULT)


# ============================================================================================ real data
@pytest.mark.data
def test_real_windows_round_trip(tmp_path, features) -> None:
    song = need_data("songs", "quaver", "PrincessOfWinter")
    out = tmp_path / "dataset"
    build_dataset(BuildOptions(songs=[song], out=out, workers=1, val_fraction=0.0), progress=False)
    ds = ManiaWindowDataset([out], "train", data_cfg(out), features, train=True, multiple_of=MULT)
    rng = np.random.default_rng(0)
    for i in range(len(ds)):
        keys = ds.record(i)["keys"]
        drawn = replace(ds.draw(i, rng), mirror=False, perm=None)
        for aug in (Augment(), replace(drawn, rate=1.0), replace(drawn, rate=1.1)):
            notes = ds.notes(i) / np.array([aug.rate, aug.rate, 1.0])
            item = ds.item(i, aug)
            start = int(item["start"])
            lo, hi = start * FRAME_MS, (start + 512) * FRAME_MS
            got = decode(item["x"], keys=keys, offset_ms=lo)
            frames = np.floor((notes[:, 0] - lo) / FRAME_MS)
            want = notes[(frames >= 0) & (frames < 512)]
            assert got.n_notes == len(want) > 0
            np.testing.assert_allclose(got.starts, want[:, 0], atol=1.0)
            np.testing.assert_array_equal(got.columns, want[:, 2].astype(np.int64))
            np.testing.assert_array_equal(np.isnan(got.ends), np.isnan(want[:, 1]))
            ln = ~np.isnan(want[:, 1])
            np.testing.assert_allclose(got.ends[ln], np.minimum(want[ln, 1], hi), atol=1.0)


def test_copy_of_dataset_reads_from_its_own_folder(synth, features, tmp_path) -> None:
    """Paths in the index are relative: a moved dataset still loads."""
    moved = tmp_path / "moved"
    shutil.copytree(synth, moved)
    ds = make(moved, features)
    assert ds.mel_path(0).is_relative_to(moved)
    assert ds[0]["x"].shape == (40, 512)
