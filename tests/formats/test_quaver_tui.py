"""Quaver (.qua / .qp) and tui-rhythm-game JSON charts, against facts checked by hand in the raw files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from beatforge.errors import ArchiveError, ChartError
from beatforge.formats.archive import member_names, read_member
from beatforge.formats.loader import load_charts
from beatforge.formats.quaver import parse_qua, read_qp, read_qua
from beatforge.formats.tuijson import read_tui_json
from tests.conftest import need_data


@pytest.mark.data
def test_princess_of_winter_easy_facts() -> None:
    # 2071.qua: 246 "StartTime" lines = 1 timing point + 245 notes; 28 "EndTime" lines; first note 609 ms,
    # lane 4; BPM 196.999985.
    chart = read_qua(need_data("songs", "quaver", "PrincessOfWinter", "2071.qua"))
    assert (chart.keys, chart.n_notes, chart.n_long, chart.first_ms) == (4, 245, 28, 609.0)
    assert chart.columns[0] == 3  # Lane 4 -> column 3 (lanes are 1-based)
    assert chart.timing[0].bpm == pytest.approx(196.999985)
    assert chart.meta.version == "Easy" and chart.meta.creator == "PianoLuigi"
    assert chart.meta.audio[0].path.name == "audio.mp3" and chart.meta.audio[0].exists()


@pytest.mark.data
def test_csikos_post_omitted_start_time_is_zero() -> None:
    charts = read_qp(need_data("songs", "quaver", "zetoban - Csikos Post.qp"))
    assert len(charts) == 6
    beginner = next(c for c in charts if c.meta.version == "Beginner")
    # 1416.qua: the first hit object is "- Lane: 1" with no StartTime (= 0), 167 notes, BPM 185 at time 0.
    assert (beginner.n_notes, beginner.first_ms, beginner.columns[0]) == (167, 0.0, 0)
    assert beginner.timing[0].time == 0 and beginner.timing[0].bpm == pytest.approx(185)
    assert beginner.meta.audio[0].member == "zetoban - Csikos Post.mp3"
    assert beginner.meta.audio[0].exists()


@pytest.mark.data
def test_umami_is_7k() -> None:
    charts = read_qp(need_data("songs", "quaver", "zetoban - Umami Packed Mountaineering.qp"))
    assert len(charts) == 9 and {c.keys for c in charts} == {7}
    assert all(c.first_ms == 125 for c in charts)


def test_scratch_key_adds_a_column() -> None:
    chart = parse_qua("Mode: Keys7\nHasScratchKey: true\nHitObjects:\n- StartTime: 5\n  Lane: 8\n", path="s.qua")
    assert chart.keys == 8 and chart.columns[0] == 7


@pytest.mark.parametrize(
    "text,needle",
    [
        ("Mode: Keys4\nHitObjects:\n- StartTime: 5\n  Lane: 9\n", "Lane"),
        ("Mode: Keys19\nHitObjects: []\n", "unsupported key count 19"),
        ("Mode: Banana\nHitObjects: []\n", "unsupported Quaver mode"),
        ("Mode: Keys4\nHitObjects:\n- StartTime: abc\n  Lane: 1\n", "malformed"),
        ("{{{{: not yaml", "YAML"),
    ],
)
def test_bad_qua(text: str, needle: str) -> None:
    with pytest.raises(ChartError, match=needle):
        parse_qua(text, path="bad.qua")


def test_qp_without_charts(tmp_path: Path) -> None:
    qp = tmp_path / "empty.qp"
    with zipfile.ZipFile(qp, "w") as zf:
        zf.writestr("audio.mp3", b"x")
    with pytest.raises(ChartError, match="no .qua"):
        read_qp(qp)


def test_qp_zip_slip(tmp_path: Path) -> None:
    qp = tmp_path / "evil.qp"
    with zipfile.ZipFile(qp, "w") as zf:
        zf.writestr("../../evil.qua", "Mode: Keys4\n")
    with pytest.raises(ArchiveError, match="zip slip"):
        read_qp(qp)


@pytest.mark.data
def test_katamari_json() -> None:
    # katamari.json: 428 notes, lanes 0-3, first note at beat 7.0 at 170 BPM = 2470.588 ms.
    chart = read_tui_json(need_data("songs", "katamari", "katamari.json"))
    assert (chart.keys, chart.n_notes, chart.n_long) == (4, 428, 0)
    assert chart.first_ms == pytest.approx(7 * 60000 / 170)
    assert chart.meta.audio[0].exists()
    assert load_charts(need_data("songs", "katamari", "katamari.json"))[0].n_notes == 428


def test_quaver_sorted_output() -> None:
    chart = parse_qua(
        "Mode: Keys4\nHitObjects:\n- StartTime: 50\n  Lane: 2\n- StartTime: 10\n  Lane: 3\n", path="x.qua"
    )
    assert np.all(np.diff(chart.starts) >= 0)


@pytest.mark.data
def test_fast_hit_object_path_equals_yaml() -> None:
    """The regex reader of the HitObjects block gives exactly what a full YAML parse gives, on every real .qua."""
    import yaml

    from beatforge.formats import quaver

    texts = [p.read_text(encoding="utf-8-sig") for p in need_data("songs", "quaver", "PrincessOfWinter").glob("*.qua")]
    for qp in need_data("songs", "quaver").glob("*.qp"):
        texts += [read_member(qp, n).decode("utf-8-sig") for n in member_names(qp) if n.endswith(".qua")]
    assert len(texts) == 23
    for text in texts:
        text = text.replace("\r\n", "\n")  # as parse_qua does (the Umami files are CRLF)
        fast = quaver._fast_hit_objects(text)
        assert fast is not None
        objs = yaml.safe_load(text)["HitObjects"]
        np.testing.assert_array_equal(fast[1], [o.get("StartTime", 0) for o in objs])
        np.testing.assert_array_equal(fast[2], [o["Lane"] for o in objs])
        np.testing.assert_array_equal(fast[3], [o.get("EndTime") or np.nan for o in objs])
        assert yaml.safe_load(fast[0])["Mode"] == yaml.safe_load(text)["Mode"]


def test_fast_path_falls_back_for_flow_style() -> None:
    chart = parse_qua("Mode: Keys4\nHitObjects:\n- {StartTime: 5, Lane: 2, EndTime: 90}\n", path="flow.qua")
    assert chart.n_notes == 1 and chart.n_long == 1 and chart.columns[0] == 1
