"""The generation pipeline end to end on a short synthetic song (the shipped preliminary model): charts come out
playable, every .osu parses with rosu-pp-py, the .osz holds the charts and the audio, and bad requests fail clearly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rosu_pp_py as rosu
import soundfile as sf

from beatforge.errors import BeatforgeError
from beatforge.generation.pipeline import generate_mania, write_set
from beatforge.generation.postprocess import check_playable


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    sr, seconds = 22050, 12.0
    t = np.arange(int(sr * seconds)) / sr
    y = 0.02 * np.sin(2 * np.pi * 220 * t)
    for onset in np.arange(0.4, seconds, 60 / 150):  # 150 BPM clicks (synthetic)
        i = int(onset * sr)
        y[i : i + 400] += 0.8 * np.exp(-np.arange(400) / 60.0) * np.sin(2 * np.pi * 1800 * np.arange(400) / sr)
    path = tmp_path_factory.mktemp("song") / "synthetic click song.wav"
    sf.write(path, y.astype(np.float32), sr)
    return path


def test_generate_and_write(song: Path, tmp_path: Path) -> None:
    charts = generate_mania(song, keys=4, sr=[2.0, 4.0], steps=6, cfg=3.0, seed=1, bpm=150, offset=400)
    assert len(charts) == 2
    for c in charts:
        assert c.keys == 4 and check_playable(c, audio_ms=12000.0) == []
    files = write_set(charts, song, tmp_path / "out")
    osus = [p for p in files if p.suffix == ".osu"]
    assert len(osus) == 2
    for p in osus:
        text = p.read_text(encoding="utf-8")
        assert "AIMode:beatforge" in text
        rosu.Difficulty().calculate(rosu.Beatmap(path=str(p)))  # parses and rates
    with zipfile.ZipFile(files[-1]) as zf:
        names = zf.namelist()
    assert "audio.wav" in names and sum(n.endswith(".osu") for n in names) == 2


@pytest.mark.parametrize(
    "kwargs,needle",
    [({"keys": 0}, "--keys 0"), ({"keys": 9}, "trained for"), ({"sr": 12.0}, "--sr 12"), ({"count": 1000}, "--count")],
)
def test_bad_requests(song: Path, kwargs: dict, needle: str) -> None:
    with pytest.raises(BeatforgeError, match=needle):
        generate_mania(song, steps=2, **kwargs)
