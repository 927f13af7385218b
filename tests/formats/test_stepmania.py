"""The StepMania .sm / .ssc reader: facts counted by hand on MechaTribe Assault, StepMania's timing semantics
on small hand-made simfiles, and bad input (garbage, truncation, unsupported styles) raising ChartError."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from beatforge.errors import ChartError
from beatforge.formats.loader import load_charts
from beatforge.formats.stepmania import parse_msd, read_stepmania

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MECHA = DATA / "songs" / "stepmania" / "MechaTribe Assault" / "Mecha-Tribe Assault.ssc"


def _mecha() -> Path:
    if not MECHA.is_file():
        pytest.skip("../shared/data not found")
    return MECHA


def _write(tmp_path: Path, text: str, name: str = "song.sm") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


def _sm(notes: str, *, header: str = "#BPMS:0=120;", style: str = "dance-single") -> str:
    """A one-chart .sm (120 BPM: one beat = 500 ms unless the header says otherwise)."""
    return (f"#TITLE:T;\n#ARTIST:A;\n#OFFSET:0;\n{header}\n"
            f"#NOTES:\n     {style}:\n     someone:\n     Hard:\n     9:\n     0,0,0,0,0:\n{notes}\n;\n")


# 4 rows = one row per beat (beats 0, 1, 2, 3)
FOUR_TAPS = "1000\n0100\n0010\n0001\n"


# ============================================================================================ real data
# Counted by hand over the raw file (awk over each #NOTES block: characters 1, 2, 4, L; 2 and 4 for long
# notes); the totals equal each chart's own #RADARVALUES "Notes" and "Holds"+"Rolls" fields.
# (chart index in the file, style, keys, version, notes, long notes, last note or tail beat)
MECHA_FACTS = [
    (0, "dance-single", 4, "Challenge 11", 638, 63, 316),
    (1, "dance-single", 4, "Hard 10", 519, 73, 316),
    (2, "dance-single", 4, "Medium 8", 395, 50, 316),
    (3, "dance-single", 4, "Easy 6", 304, 52, 316),
    (4, "dance-single", 4, "Beginner 2", 177, 18, 302),
    (5, "dance-solo", 6, "dance-solo Hard 10", 488, 42, 315),
    (6, "pump-single", 5, "pump-single Hard 19", 688, 47, 316),
    (7, "pump-single", 5, "pump-single Medium 13", 610, 70, 316),
    (8, "pump-single", 5, "pump-single Easy 6", 316, 19, 316),
    # 9 is dance-couple (two players, 284 notes, 88 holds) and 10 dance-threepanel: not supported styles
    (11, "pump-halfdouble", 6, "pump-halfdouble Medium 11", 375, 64, 312),
]


def _beat_ms(beat: float) -> float:
    # #OFFSET:-0.028 and a constant 180 BPM
    return 28.0 + beat * 60000.0 / 180.0


@pytest.mark.data
def test_mechatribe_charts_match_hand_counts() -> None:
    charts = read_stepmania(_mecha())
    assert [c.meta.path.rsplit("#", 1)[1] for c in charts] == [str(f[0]) for f in MECHA_FACTS]
    for chart, (_, _style, keys, version, n, n_long, last_beat) in zip(charts, MECHA_FACTS):
        assert chart.keys == keys
        assert chart.meta.version == version
        assert chart.n_notes == n, version
        assert chart.n_long == n_long, version
        # every chart's first note is at beat 16 (measure 4, row 0)
        assert chart.first_ms == pytest.approx(_beat_ms(16), abs=1e-6)
        assert chart.last_ms == pytest.approx(_beat_ms(last_beat), abs=1e-6)
        assert [(tp.time, round(tp.bpm, 6)) for tp in chart.timing] == [(pytest.approx(28.0), 180.0)]
        assert chart.meta.source_game == "stepmania"
        assert chart.meta.title == "Mecha-Tribe Assault" and chart.meta.artist == "Kommisar"
        assert chart.meta.song_key == str(MECHA.parent)
        assert chart.meta.audio[0].path.name == "Mecha-Tribe Assault.ogg" and chart.meta.audio[0].exists()
        assert chart.meta.preview_ms == pytest.approx(48018.002)
    assert charts[0].meta.creator == "Wyde" and charts[6].meta.creator == "Vin.il"
    assert [c.n_notes for c in load_charts(MECHA)] == [f[4] for f in MECHA_FACTS]  # the loader dispatches here


@pytest.mark.data
def test_mechatribe_counts_against_a_raw_regex_count() -> None:
    """An independent count straight from the text: notes are the 1/2/4/L characters of the note rows."""
    text = _mecha().read_text(encoding="utf-8")
    blocks = re.findall(r"#STEPSTYPE:([^;]*);.*?#NOTES:(.*?);", text, flags=re.S)
    raw = {i: (style.strip(), sum(len(re.findall(r"[124L]", row)) for row in body.split() if row.isalnum()))
           for i, (style, body) in enumerate(blocks)}
    charts = {int(c.meta.path.rsplit("#", 1)[1]): c for c in read_stepmania(MECHA)}
    assert raw[10][0] == "dance-threepanel" and 10 not in charts
    for i, chart in charts.items():
        assert chart.n_notes == raw[i][1]


@pytest.mark.data
def test_mechatribe_long_notes_end_on_their_tails() -> None:
    chart = read_stepmania(_mecha())[0]
    ln = chart.is_long
    assert np.all(chart.ends[ln] > chart.starts[ln])
    # all times lie on StepMania's 48-rows-per-beat grid at 180 BPM
    beats = (chart.starts - 28.0) / (60000.0 / 180.0)
    assert np.allclose(beats * 48, np.round(beats * 48), atol=1e-6)
    assert np.all(np.diff(chart.starts) >= 0)


# ============================================================================================ timing
def _times(path: Path, index: int = 0) -> list[float]:
    return [round(t, 6) for t in read_stepmania(path)[index].starts.tolist()]


def test_bpm_integral_and_offset(tmp_path: Path) -> None:
    p = _write(tmp_path, _sm(FOUR_TAPS, header="#BPMS:0=120,2=60;"))
    assert _times(p) == [0.0, 500.0, 1000.0, 2000.0]
    p = _write(tmp_path, _sm(FOUR_TAPS).replace("#OFFSET:0;", "#OFFSET:0.1;"))
    assert _times(p) == [-100.0, 400.0, 900.0, 1400.0]  # time = -OFFSET + beats


def test_stop_comes_after_the_notes_of_its_beat(tmp_path: Path) -> None:
    p = _write(tmp_path, _sm(FOUR_TAPS, header="#BPMS:0=120;\n#STOPS:1=0.5;"))
    assert _times(p) == [0.0, 500.0, 1500.0, 2000.0]


def test_delay_comes_before_the_notes_of_its_beat(tmp_path: Path) -> None:
    p = _write(tmp_path, _sm(FOUR_TAPS, header="#BPMS:0=120;\n#DELAYS:1=0.5;"))
    assert _times(p) == [0.0, 1000.0, 1500.0, 2000.0]


def test_timing_points_resume_the_grid_after_a_stop(tmp_path: Path) -> None:
    chart = read_stepmania(_write(tmp_path, _sm(FOUR_TAPS, header="#BPMS:0=120,3=240;\n#STOPS:1=0.25;")))[0]
    assert [(round(tp.time, 6), round(tp.bpm, 6)) for tp in chart.timing] == [
        (0.0, 120.0), (750.0, 120.0), (1750.0, 240.0)]


def test_sm_negative_bpm_is_a_warp(tmp_path: Path) -> None:
    # 120 BPM, -120 BPM over beat 1-2, then 120 again: StepMania warps from beat 1 to beat 3.
    p = _write(tmp_path, _sm(FOUR_TAPS + ",\n1000\n0000\n0000\n0000\n", header="#BPMS:0=120,1=-120,2=120;"))
    chart = read_stepmania(p)[0]
    assert chart.starts.tolist() == [0.0, 500.0, 1000.0]  # beats 0, 3 and 4; beats 1 and 2 are warped away
    assert chart.columns.tolist() == [0, 3, 0]


def test_sm_negative_stop_is_a_warp(tmp_path: Path) -> None:
    p = _write(tmp_path, _sm(FOUR_TAPS, header="#BPMS:0=120;\n#STOPS:1=-0.25;"))
    assert _times(p) == [0.0, 750.0, 1250.0]  # beat 1 lies in the warp [1, 1.5)


def test_ssc_warps_fakes_and_split_timing(tmp_path: Path) -> None:
    text = ("#VERSION:0.83;\n#TITLE:T;\n#OFFSET:0;\n#BPMS:0=120;\n#WARPS:1=1;\n"
            "#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#DIFFICULTY:Hard;\n#METER:9;\n#CREDIT:me;\n"
            f"#NOTES:\n{FOUR_TAPS};\n"
            "#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#DIFFICULTY:Challenge;\n#METER:12;\n"
            "#OFFSET:-0.5;\n#BPMS:0=60;\n#FAKES:2=1;\n"
            f"#NOTES:\n{FOUR_TAPS};\n")
    a, b = read_stepmania(_write(tmp_path, text, "song.ssc"))
    # song timing: beat 1 is inside the warp [1, 2) and is dropped; time stands still through it
    assert a.starts.tolist() == [0.0, 500.0, 1000.0] and a.meta.version == "Hard 9" and a.meta.creator == "me"
    # the chart's own timing: its offset and BPM, no song warp, and beat 2 is a fake
    assert b.starts.tolist() == [500.0, 1500.0, 3500.0] and b.meta.version == "Challenge 12"


def test_holds_rolls_and_other_note_types(tmp_path: Path) -> None:
    notes = ("2400\n"  # hold head col 0, roll head col 1
             "0000\n"
             "3300\n"  # both tails
             "00L1\n"  # lift = tap, tap
             "2MFK\n"  # head col 0; mine, fake and auto-keysound are not notes
             "M000\n"  # a mine breaks the pending hold: its head is dropped
             "3000\n"  # ... and this tail is unmatched
             "0020\n")  # a head that never ends is dropped
    chart = read_stepmania(_write(tmp_path, _sm(notes)))[0]
    assert chart.columns.tolist() == [0, 1, 2, 3]
    assert chart.starts.tolist() == [0.0, 0.0, 750.0, 750.0]  # 8 rows: a row is half a beat
    assert chart.ends[:2].tolist() == [500.0, 500.0]
    assert np.isnan(chart.ends[2:]).all()


def test_measures_comments_crlf_bom_and_keysounds(tmp_path: Path) -> None:
    text = _sm("1000 // first\n0000\n,  // measure 1 has three rows\n0100[3]\n0010\n0001\n,,\n1000\n")
    p = tmp_path / "x.sm"
    p.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    chart = read_stepmania(p)[0]
    # measure 0: beat 0; measure 1 (beats 4-8) split in 3 and rounded to 48 rows per beat; ",," is one break
    beats = [round(t / 500.0, 6) for t in chart.starts.tolist()]
    assert beats == [0.0, 4.0, round(4 + 64 / 48, 6), round(4 + 128 / 48, 6), 8.0]
    assert chart.meta.title == "T"


def test_other_styles_and_versions(tmp_path: Path) -> None:
    notes = "10000\n00000\n00000\n00001\n"
    chart = read_stepmania(_write(tmp_path, _sm(notes, style="pump-single")))[0]
    assert chart.keys == 5 and chart.meta.version == "pump-single Hard 9" and chart.meta.creator == "someone"
    chart = read_stepmania(_write(tmp_path, _sm("1" + "0" * 9 + "\n", style="pump-double")))[0]
    assert chart.keys == 10
    old = _sm(FOUR_TAPS).replace("     Hard:", "     Heavy:")  # an old .sm difficulty name
    assert read_stepmania(_write(tmp_path, old))[0].meta.version == "Hard 9"


def test_music_is_matched_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "Track.OGG").write_bytes(b"x")
    p = _write(tmp_path, _sm(FOUR_TAPS).replace("#TITLE:T;", "#TITLE:T;\n#MUSIC:track.ogg;"))
    chart = read_stepmania(p)[0]
    assert chart.meta.audio[0].path == tmp_path / "Track.OGG"
    assert chart.meta.path == f"{p}#0" and chart.meta.song_key == str(tmp_path)


def test_msd_recovers_a_missing_semicolon() -> None:
    values = parse_msd("#TITLE:a\\;b\n#ARTIST:x:y;\n// c\n#X:1#2;")
    assert [(v.params, v.terminated) for v in values] == [
        (["TITLE", "a;b"], True), (["ARTIST", "x", "y"], True), (["X", "1#2"], True)]
    assert parse_msd("#NOTES:0000")[0].terminated is False


# ============================================================================================ bad input
def test_garbage_bytes_raise_chart_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    p = tmp_path / "junk.sm"
    p.write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    with pytest.raises(ChartError, match="junk.sm"):
        read_stepmania(p)
    p.write_bytes(bytes(rng.randrange(1, 256) for _ in range(5000)))  # no NUL byte: still not a simfile
    with pytest.raises(ChartError, match="junk.sm"):
        read_stepmania(p)


@pytest.mark.data
def test_truncated_ssc_raises_chart_error(tmp_path: Path) -> None:
    data = _mecha().read_bytes()
    p = tmp_path / "cut.ssc"
    p.write_bytes(data[: len(data) // 2])  # in the middle of a chart's notes
    with pytest.raises(ChartError, match="truncated"):
        read_stepmania(p)
    # wherever it is cut, only ChartError (or a shorter, still valid file) comes out
    for cut in range(1, len(data), len(data) // 23):
        p.write_bytes(data[:cut])
        try:
            charts = read_stepmania(p)
        except ChartError as exc:
            assert str(p) in str(exc) and "\n" not in str(exc)
        else:
            assert charts


def test_only_lights_cabinet_raises(tmp_path: Path) -> None:
    p = _write(tmp_path, _sm("10000\n", style="lights-cabinet"))
    with pytest.raises(ChartError, match=r"no dance-single/.*pump-single/.*chart \(found lights-cabinet\)"):
        read_stepmania(p)


def test_malformed_charts_raise(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="row of 5 columns"):
        read_stepmania(_write(tmp_path, _sm("10000\n")))
    with pytest.raises(ChartError, match="#NOTES fields"):
        read_stepmania(_write(tmp_path, "#BPMS:0=120;\n#NOTES:dance-single:x:Hard:1000;\n"))
    with pytest.raises(ChartError, match="empty"):
        read_stepmania(_write(tmp_path, _sm("0000\n")))
    with pytest.raises(ChartError, match="cannot read"):
        read_stepmania(tmp_path / "missing.sm")


@pytest.mark.data
def test_dialect_comes_from_the_content(tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.sm"
    renamed.write_bytes(_mecha().read_bytes())
    assert [c.n_notes for c in read_stepmania(renamed)] == [f[4] for f in MECHA_FACTS]
