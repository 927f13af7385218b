"""The .osu reader and writer: round trips on every real beatmap, quirks, and mania facts checked by hand."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from beatforge.errors import ChartError
from beatforge.formats.osu import (
    Beatmap,
    beatmap_to_mania,
    column_x,
    mania_column,
    mania_to_beatmap,
    parse_osu,
    write_osu,
)
from tests.conftest import DATA, need_data

COMPARED = (
    "format_version",
    "general",
    "editor",
    "metadata",
    "difficulty",
    "events",
    "timing_points",
    "colours",
    "hit_objects",
    "extra_sections",
)


def _all_real_beatmaps() -> list[tuple[str, bytes]]:
    if not DATA.exists():
        return []
    out = [(str(p), p.read_bytes()) for p in sorted(DATA.rglob("*.osu"))]
    for osz in sorted(DATA.rglob("*.osz")):
        with zipfile.ZipFile(osz) as zf:
            out += [(f"{osz.name}::{n}", zf.read(n)) for n in sorted(zf.namelist()) if n.endswith(".osu")]
    return out


REAL = _all_real_beatmaps()


def _same(a: Beatmap, b: Beatmap) -> None:
    for name in COMPARED:
        if name == "format_version":
            continue  # the writer always writes v14
        assert getattr(a, name) == getattr(b, name), name


@pytest.mark.data
@pytest.mark.parametrize("name,data", REAL, ids=[n for n, _ in REAL] or None)
def test_round_trip_every_real_beatmap(name: str, data: bytes) -> None:
    bm = parse_osu(data, path=name)
    again = parse_osu(write_osu(bm), path=name)
    _same(bm, again)
    # and a second generation is byte-identical (the writer is deterministic)
    assert write_osu(again) == write_osu(bm)


def test_real_beatmaps_cover_every_mode() -> None:
    need_data()
    modes = {parse_osu(d, path=n).mode for n, d in REAL}
    assert modes == {0, 1, 2, 3}
    assert len(REAL) >= 100


# Facts counted by hand (a plain split of each [HitObjects] line, outside beatforge): notes, long notes
# (type bit 128), first note ms, BPM of the first red line.
MANIA_FACTS = {
    "mania/4869637.osu": (1419, 0, 355, 126.0),
    "mania/aiae.osu": (4279, 193, 675, 180.0),
    "mania/delta.osu": (10500, 17, 208, 182.0),
    "mania/epsilon.osu": (9703, 3, 2521, 189.8),
    "mania/everythingblack.osu": (1683, 0, 150, 300.0),
    "mania/onus.osu": (4078, 308, 3172, 300.727),
    "mania/purple.osu": (6786, 1826, 1548, 155.0),
    "mania/revenge.osu": (3883, 841, 500, 165.0),
    "mania/ricochet.osu": (2160, 1445, 2315, 180.0),
    "mania/theempress.osu": (2505, 78, 119, 270.0),
    "rosu-pp/mania/1355822.osu": (1176, 75, 1668, 182.0),
    "rosu-pp/mania/992512.osu": (5891, 470, 13, 270.0),
}


@pytest.mark.data
@pytest.mark.parametrize("rel", sorted(MANIA_FACTS))
def test_mania_facts(rel: str) -> None:
    path = need_data(*rel.split("/"))
    chart = beatmap_to_mania(parse_osu(path), audio_dir=path.parent)
    notes, lns, first, bpm = MANIA_FACTS[rel]
    assert chart.keys == 4
    assert (chart.n_notes, chart.n_long, chart.first_ms) == (notes, lns, first)
    assert chart.timing[0].bpm == pytest.approx(bpm, abs=1e-3)
    assert np.all(chart.ends[chart.is_long] > chart.starts[chart.is_long])


@pytest.mark.data
def test_renatus_set_has_7k_mania_charts() -> None:
    osz = need_data("sets", "241526 Soleily - Renatus (no audio).osz")
    from beatforge.formats.loader import load_charts

    charts = load_charts(osz)
    assert {c.keys for c in charts} == {7}
    assert all(c.meta.audio and c.meta.audio[0].member for c in charts)


def test_quirks_bom_crlf_comments_missing_sections_old_version() -> None:
    text = (
        "\ufeff\r\nosu file format v3\r\n\r\n[General]\r\nAudioFilename: a.mp3\r\nMode: 3\r\n"
        "// a comment\r\n[Difficulty]\r\nCircleSize:7\r\n[TimingPoints]\r\n12.5,333.33\r\n100,-50\r\n"
        "[HitObjects]\r\n36.5,192,1000.25,1,0\r\n109,192,1500,128,0,1800:0:0:0:0:\r\n"
    )
    bm = parse_osu(text.encode("utf-8"), path="quirky.osu")
    assert bm.format_version == 3 and bm.metadata == {} and bm.mode == 3
    assert bm.timing_points[0].time == 12.5 and bm.timing_points[0].uninherited
    assert not bm.timing_points[1].uninherited  # old files: a negative beat length is a green line
    assert bm.hit_objects[0].x == 36.5 and bm.hit_objects[0].time == 1000.25
    assert bm.hit_objects[1].end_time == 1800
    chart = beatmap_to_mania(bm)
    assert chart.keys == 7 and list(chart.columns) == [0, 1] and chart.n_long == 1
    _same(bm, parse_osu(write_osu(bm)))


def test_every_slider_curve_type_parses() -> None:
    lines = [
        "100,100,1000,2,0,B|200:100|200:100|300:200,1,200",
        "100,100,2000,6,0,P|150:50|200:100,2,150,0|0|0,0:0|0:0|0:0,0:0:0:0:",
        "100,100,3000,2,0,L|300:100,1,200",
        "100,100,4000,2,0,C|150:150|200:100|250:150,3,180.5",
    ]
    text = "osu file format v14\n[General]\nMode: 0\n[TimingPoints]\n0,500,4,2,0,100,1,0\n[HitObjects]\n" + "\n".join(
        lines
    )
    bm = parse_osu(text)
    assert [o.curve_type for o in bm.hit_objects] == ["B", "P", "L", "C"]
    assert bm.hit_objects[3].slides == 3 and bm.hit_objects[3].length == 180.5
    _same(bm, parse_osu(write_osu(bm)))


@pytest.mark.parametrize(
    "text,needle",
    [
        (b"\x00\x01\x02garbage" * 10, "binary"),
        (b"[General]\nMode: 3\n", "header"),
        (b"osu file format v14\n[HitObjects]\n1,2\n", "bad hit object"),
        (b"osu file format v14\n[HitObjects]\n1,2,abc,1,0\n", "bad number"),
        (b"osu file format v14\n[HitObjects]\n99999999,2,100,1,0\n", "absurd coordinates"),
        (b"osu file format v14\n[TimingPoints]\nnan,500\n", "non-finite"),
    ],
)
def test_bad_osu_text_raises_chart_error(text: bytes, needle: str) -> None:
    with pytest.raises(ChartError, match=needle):
        parse_osu(text, path="bad.osu")


def test_unsupported_key_counts() -> None:
    for cs in (0, 19):
        bm = parse_osu(
            f"osu file format v14\n[General]\nMode: 3\n[Difficulty]\nCircleSize:{cs}\n[HitObjects]\n".encode()
        )
        with pytest.raises(ChartError, match=f"unsupported key count {cs}"):
            beatmap_to_mania(bm)


@pytest.mark.parametrize("keys", range(1, 11))
def test_column_x_round_trip(keys: int) -> None:
    cols = np.arange(keys)
    assert list(mania_column(column_x(cols, keys), keys)) == list(cols)


@pytest.mark.data
def test_mania_write_read_keeps_notes() -> None:
    path = need_data("mania", "purple.osu")
    chart = beatmap_to_mania(parse_osu(path))
    again = beatmap_to_mania(parse_osu(write_osu(mania_to_beatmap(chart))))
    assert again.keys == chart.keys
    np.testing.assert_array_equal(again.starts, chart.starts)
    np.testing.assert_array_equal(again.columns, chart.columns)
    np.testing.assert_array_equal(np.isnan(again.ends), np.isnan(chart.ends))
    assert [tp.beat_length for tp in again.timing] == [tp.beat_length for tp in chart.timing]


def test_parse_from_path_object(tmp_path: Path) -> None:
    p = tmp_path / "x.osu"
    p.write_text("osu file format v14\n[General]\nMode: 3\n[HitObjects]\n64,192,100,1,0,0:0:0:0:\n")
    assert parse_osu(p).hit_objects[0].time == 100
