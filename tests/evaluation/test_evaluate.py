"""``beatforge evaluate`` / ``beatforge preview`` and :func:`beatforge.evaluation.report.evaluate`.

The acceptance checks run on a real human chart with its audio (Csikos Post [Hard], Quaver, 892 notes, 106 s):
against itself it scores F1 1.0 and star rating error 0; a copy moved 30 ms later scores F1 0 at 10 ms and 1 at
50 ms; a copy moved 60 ms (either way) scores a lower onset F1 against the audio than the original does.
Bad input ends with one ``beatforge: error:`` line, exit code 2 and no report folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beatforge.cli import main
from tests.conftest import need_data

CSIKOS = ("songs", "quaver", "zetoban - Csikos Post.qp")
PNG = b"\x89PNG\r\n\x1a\n"
OSU = (
    "osu file format v14\n[General]\nAudioFilename: audio.mp3\nMode: 3\n[Metadata]\nTitle:{title}\nVersion:X\n"
    "[Difficulty]\nCircleSize:4\n[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n"
    "64,192,1000,1,0,0:0:0:0:\n192,192,1500,1,0,0:0:0:0:\n"
)


@pytest.fixture(scope="module")
def song_dirs(tmp_path_factory) -> Path:
    """ref/: the human chart as .osu with its audio; gen/: copies moved +30, +60 and -60 ms (same audio)."""
    from beatforge.formats.export import export_osu
    from beatforge.formats.loader import load_chart

    chart = load_chart(need_data(*CSIKOS), version="Hard")
    root = tmp_path_factory.mktemp("evaluate")
    export_osu(chart, root / "ref" / "hard.osu")
    for shift in (30, 60, -60):
        moved = chart.shifted(shift)
        moved.meta.version = f"Hard {shift:+d} ms"
        export_osu(moved, root / "gen" / f"hard{shift:+d}.osu")
    return root


@pytest.fixture(scope="module")
def self_result(song_dirs: Path) -> dict:
    from beatforge.evaluation.report import evaluate

    return evaluate(song_dirs / "ref", song_dirs / "ref", song_dirs / "report-self")


@pytest.fixture(scope="module")
def shifted(song_dirs: Path) -> dict:
    from beatforge.evaluation.report import evaluate

    result = evaluate(song_dirs / "gen", song_dirs / "ref", song_dirs / "report-shifted")
    return {c["version"]: c for c in result["charts"]}


@pytest.mark.data
def test_chart_against_itself_is_perfect(self_result: dict) -> None:
    assert self_result["n_charts"] == 1
    assert self_result["rhythm_f1_10ms"] == 1.0 and self_result["rhythm_f1_50ms"] == 1.0
    assert self_result["sr_error"] == 0.0
    (c,) = self_result["charts"]
    assert c["generated"] == c["reference"] and c["paired_by"] == "audio"
    assert c["skillset_distance"] == 0.0 and c["column_share_distance"] == 0.0
    assert c["onset_f1"] == c["reference_onset_f1"] > 0.6  # a human chart follows its audio


@pytest.mark.data
def test_30ms_late_copy_fails_at_10ms_and_passes_at_50ms(shifted: dict) -> None:
    c = shifted["Hard +30 ms"]
    assert c["rhythm_f1_10ms"] == 0.0
    assert c["rhythm_f1_50ms"] == 1.0
    assert c["rhythm_offset_ms"] == pytest.approx(30.0)
    assert c["reference_choice"].startswith("nearest star rating")


@pytest.mark.data
@pytest.mark.parametrize("version", ["Hard +60 ms", "Hard -60 ms"])
def test_chart_60ms_off_its_audio_scores_lower_onset_f1(shifted: dict, version: str) -> None:
    c = shifted[version]
    assert c["audio"] is not None and c["onset_f1"] is not None
    assert c["onset_f1"] < c["reference_onset_f1"] - 0.2
    # chart-only metrics miss the shift at the usual tolerance: both charts have the same notes
    assert c["sr_error"] < 0.05 and c["density_correlation"] > 0.95


@pytest.mark.data
def test_report_folder_has_html_plots_and_previews(song_dirs: Path, shifted: dict) -> None:
    report = song_dirs / "report-shifted"
    index = (report / "index.html").read_text(encoding="utf-8")
    plots = sorted((report / "plots").glob("*.png"))
    previews = sorted((report / "previews").glob("*.png"))
    assert len(plots) >= 4 and len(previews) == 4  # 3 generated charts + their one reference
    for png in [*plots, *previews]:
        assert png.read_bytes()[:8] == PNG
        assert f"src='{png.relative_to(report).as_posix()}'" in index
    assert json.loads((report / "report.json").read_text(encoding="utf-8"))["n_charts"] == 3
    assert "Mapperatorinator" in index  # the note on the looser matching
    assert not list(song_dirs.glob(".report-*"))  # no temporary folder left behind


@pytest.mark.data
def test_cli_json(song_dirs: Path, capsys) -> None:
    out = song_dirs / "report-cli"
    rc = main(["evaluate", "--generated", str(song_dirs / "gen"), "--reference", str(song_dirs / "ref"),
               "--audio", str(song_dirs / "ref" / "audio.mp3"), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    result = json.loads(captured.out)
    for key in ("rhythm_f1_10ms", "rhythm_f1_50ms", "sr_error", "charts"):
        assert key in result
    assert len(result["charts"]) == 3 and result["charts_with_audio"] == 3
    assert (out / "index.html").is_file()
    # a second run replaces the report whole
    assert main(["evaluate", "--generated", str(song_dirs / "ref"), "--reference", str(song_dirs / "ref"),
                 "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_charts"] == 1
    assert len(list((out / "previews").glob("*.png"))) == 2


@pytest.mark.data
def test_cli_preview(song_dirs: Path, tmp_path: Path, capsys) -> None:
    qp = need_data(*CSIKOS)
    out = tmp_path / "chart.png"
    assert main(["preview", str(qp), "--version", "Hard", "--audio", str(song_dirs / "ref" / "audio.mp3"),
                 "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    assert main(["preview", str(song_dirs / "ref" / "hard.osu"), "-o", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").read_bytes()[:8] == PNG
    capsys.readouterr()
    assert main(["preview", str(qp), "--index", "99", "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("beatforge: error:") and "index 99" in err[0]
    assert not (tmp_path / "c.png").exists()


# ------------------------------------------------------------------------------------------------ bad input
def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def small_dirs(tmp_path: Path) -> Path:
    """gen/ and ref/ of one synthetic song (title "Alpha", no audio), and other folders for the bad cases."""
    _write(tmp_path / "gen" / "a.osu", OSU.format(title="Alpha"))
    _write(tmp_path / "ref" / "a.osu", OSU.format(title="Alpha"))
    _write(tmp_path / "other" / "b.osu", OSU.format(title="Beta"))
    _write(tmp_path / "corrupt" / "c.osu", b"\x00\x01garbage")
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "notreport" / "keep.txt", "mine")
    return tmp_path


def test_chart_only_evaluation_without_audio(small_dirs: Path) -> None:
    from beatforge.evaluation.report import evaluate

    result = evaluate(small_dirs / "gen", small_dirs / "ref")  # no out_dir: nothing written
    assert result["rhythm_f1_10ms"] == 1.0 and result["sr_error"] == 0.0 and result["report"] is None
    c = result["charts"][0]
    assert c["paired_by"] == "title" and c["audio"] is None and c["onset_f1"] is None


@pytest.mark.parametrize(
    "case,expect",
    [
        ("missing dir", "no such folder"),
        ("empty dir", "no chart files found"),
        ("no pairs", "no generated chart shares a song"),
        ("corrupt chart", "c.osu"),
        ("missing audio", "nope.mp3"),
        ("audio of no song", "matches no evaluated song"),
        ("undecodable audio", "not a readable audio file"),
        ("output not a report", "not an evaluation report"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(small_dirs: Path, capsys, case: str, expect: str) -> None:
    gen, ref, out = small_dirs / "gen", small_dirs / "ref", small_dirs / "report"
    extra: list[str] = []
    if case == "missing dir":
        gen = small_dirs / "nope"
    elif case == "empty dir":
        ref = small_dirs / "empty"
    elif case == "no pairs":
        ref = small_dirs / "other"
    elif case == "corrupt chart":
        gen = small_dirs / "corrupt"
    elif case == "missing audio":
        extra = ["--audio", str(small_dirs / "nope.mp3")]
    elif case == "audio of no song":
        # a real audio file named after another song, given for a two-song evaluation
        _write(small_dirs / "gen" / "b.osu", OSU.format(title="Beta"))
        _write(small_dirs / "ref" / "b.osu", OSU.format(title="Beta"))
        extra = ["--audio", str(_write(small_dirs / "gamma.wav", b"RIFF"))]
    elif case == "undecodable audio":
        extra = ["--audio", str(_write(small_dirs / "alpha.wav", b"RIFF"))]  # names the song, cannot be decoded
    elif case == "output not a report":
        out = small_dirs / "notreport"
    rc = main(["evaluate", "--generated", str(gen), "--reference", str(ref), "-o", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("beatforge: error:") and expect in err[0], err
    if case == "output not a report":
        assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
    else:
        assert not out.exists()
    assert not list(small_dirs.glob(".report*"))


def test_onset_peaks_follow_librosas_rules() -> None:
    """librosa.onset.onset_detect's picking, without numba: spikes a beat apart are all found, a spike 17 ms
    after a kept one is dropped (30 ms wait), and a flat envelope has none (same frames as librosa gives)."""
    from beatforge.evaluation.report import onset_peaks

    sr, hop = 22050, 128  # 5.8 ms frames: the 30 ms wait is 5 frames
    env = np.zeros(2000)
    env[[100, 300, 500, 503, 900]] = [1.0, 0.8, 0.9, 0.95, 0.7]
    # as librosa: a peak is the maximum of the 30 ms *before* it, so 500 is kept and 503 falls in its wait
    assert onset_peaks(env, sr=sr, hop_length=hop).tolist() == [100, 300, 500, 900]
    env[500] = 0.0
    assert onset_peaks(env, sr=sr, hop_length=hop).tolist() == [100, 300, 503, 900]
    assert onset_peaks(np.ones(500), sr=sr, hop_length=hop).size == 0
