"""``beatforge dataset build`` on the real songs: the summary, the split by song, resuming, and the filters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from beatforge.analysis.skillsets import SKILLSETS
from beatforge.cli import main
from beatforge.data.build import BuildOptions, build_dataset, load_notes, read_index
from tests.conftest import need_data


@pytest.fixture(scope="module")
def full_build(tmp_path_factory) -> tuple[Path, object]:
    """All of songs/ (charts with audio) plus the chart-only osu!mania charts (audio optional)."""
    songs, mania = need_data("songs"), need_data("mania")
    out = tmp_path_factory.mktemp("ds") / "dataset"
    summary = build_dataset(BuildOptions(songs=[songs, mania], out=out, audio="optional", workers=2), progress=False)
    return out, summary


@pytest.mark.slow
@pytest.mark.data
def test_full_build_summary(full_build) -> None:
    out, summary = full_build
    records = read_index(out)
    by_game = {g: sum(r["source_game"] == g for r in records) for g in {r["source_game"] for r in records}}
    # songs/: Quaver 6 + 8 + 9, StepMania 10 (5 dance-single, 3 pump-single, dance-solo, pump-halfdouble),
    # Frets on Fire 12 (muldjord) + 8 (sectoid) + 1 (tutorial), tui 1 (katamari); mania/: 10 osu! charts.
    assert by_game == {"quaver": 23, "stepmania": 10, "fretsonfire": 21, "tui": 1, "osu": 10}
    assert summary.kept == len(records) == 65
    assert summary.rejected == {}
    assert sum(1 for r in records if r["mel_file"]) == 55  # every chart of songs/ has its spectrogram
    assert all(r["mel_file"] is None for r in records if r["source_game"] == "osu")
    # one spectrogram per distinct audio: 12 songs (the two Quaver PrincessOfWinter / Csikos sets share none)
    assert len(list((out / "audio").rglob("*.npy"))) == 12
    assert set(summary.kept_by_keys) == {"4", "5", "6", "7"}


@pytest.mark.slow
@pytest.mark.data
def test_split_is_by_song_and_deterministic(full_build) -> None:
    out, _ = full_build
    records = read_index(out)
    sides: dict[str, set[str]] = {}
    for r in records:
        sides.setdefault(r["song_key"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values()), "a song straddles train and val"
    assert {r["split"] for r in records} == {"train", "val"}
    from beatforge.data.build import assign_splits

    again = [dict(r) for r in records]
    assign_splits(again, 0.1)
    assert [r["split"] for r in again] == [r["split"] for r in records]


@pytest.mark.slow
@pytest.mark.data
def test_stored_arrays_and_features(full_build) -> None:
    out, _ = full_build
    for r in read_index(out):
        notes = load_notes(out, r)
        assert notes.shape == (r["notes"], 3)
        assert int(np.sum(~np.isnan(notes[:, 1]))) == r["long_notes"]
        assert tuple(r["skillsets"]) == SKILLSETS
        assert r["star_rating"] > 0
        if r["mel_file"]:
            mel = np.load(out / r["mel_file"], allow_pickle=False)
            assert mel.shape[0] == 128 and mel.dtype == np.float16
            assert r["last_ms"] <= (r["audio_seconds"] + 2) * 1000


@pytest.mark.slow
@pytest.mark.data
def test_rerun_resumes(full_build) -> None:
    out, first = full_build
    again = build_dataset(
        BuildOptions(songs=[need_data("songs"), need_data("mania")], out=out, audio="optional", workers=1),
        progress=False,
    )
    assert again.units_resumed == again.units and again.kept == first.kept


@pytest.mark.data
def test_filters_and_rejections(tmp_path: Path, capsys) -> None:
    mania, quaver = need_data("mania"), need_data("songs", "quaver", "PrincessOfWinter")
    lib = tmp_path / "lib"
    shutil.copytree(mania, lib / "mania")
    shutil.copytree(quaver, lib / "pow")
    (lib / "broken").mkdir()
    (lib / "broken" / "x.osu").write_bytes(b"\x00\x01garbage")
    (lib / "broken" / "y.qua").write_text("Mode: Keys4\nHitObjects:\n- StartTime: 5\n  Lane: 9\n")
    ids = tmp_path / "ids.txt"
    ids.write_text("# nothing\n")
    out = tmp_path / "ds"
    rc = main(
        [
            "dataset",
            "build",
            "--songs",
            str(lib),
            "--out",
            str(out),
            "--keys",
            "4",
            "--ids",
            str(ids),
            "--workers",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    # the 10 osu! charts fail the ID filter; the 8 Quaver charts keep their audio; the mania charts
    # would have been rejected for missing audio anyway, but filters come first
    assert summary["kept"] == 8 and summary["skipped"] == {"ids": 10}
    assert summary["rejected"] == {"corrupt file": 2}  # binary garbage .osu, and a Lane outside 1-4
    printed = capsys.readouterr().out
    assert "kept" in printed and "ids" in printed and "rejected" in printed


@pytest.mark.data
def test_missing_audio_is_a_rejection(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    summary = build_dataset(BuildOptions(songs=[need_data("mania")], out=out, workers=1), progress=False)
    # 4869637.osu names no audio file at all; the other nine name one that is not there
    assert summary.kept == 0 and summary.rejected == {"missing audio": 9, "no audio file named": 1}


@pytest.mark.data
def test_interrupted_build_continues(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C half-way leaves the finished sources recorded; the same command then does only the rest."""
    import beatforge.data.build as build

    songs = need_data("songs", "quaver")
    opts = BuildOptions(songs=[songs], out=tmp_path / "ds", workers=1)
    real, calls = build.process_unit, []

    def interrupted(unit, o):
        calls.append(unit.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(unit, o)

    monkeypatch.setattr(build, "process_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(opts, progress=False)
    assert not (tmp_path / "ds" / "index.jsonl").exists()
    monkeypatch.setattr(build, "process_unit", real)
    summary = build_dataset(opts, progress=False)
    assert summary.units == 3 and summary.units_resumed == 1
    assert summary.kept == 23  # 6 + 8 + 9 Quaver charts
