"""Property tests (hypothesis) over every chart reader: whatever bytes or values a stranger's file holds, a
reader either returns a sane chart (finite note times within the chart budget) or raises one BeatforgeError;
never another exception, and fast. Seeded examples complement tests/hostile/test_chart_formats.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra (pip install -e '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from beatforge.constants import MAX_CHART_MS  # noqa: E402
from beatforge.errors import BeatforgeError  # noqa: E402
from beatforge.formats.loader import load_charts  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=3000, derandomize=True, database=None,  # no .hypothesis/ in the checkout
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# allow_subnormal=False: generation code turns on flush-to-zero (torch.set_flush_denormal) in the same worker,
# and hypothesis refuses to draw subnormals then
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), st.integers(-10**30, 10**30),
                    st.sampled_from([0, -1, 1e300, -1e300, 2**63, 0.5]))


def _sane_or_clean_error(path: Path) -> None:
    t0 = time.perf_counter()
    try:
        charts = load_charts(path)
    except BeatforgeError as exc:
        assert "\n" not in str(exc)
        return
    finally:
        assert time.perf_counter() - t0 < 5.0
    for c in charts:
        times = np.concatenate([c.starts, c.ends[np.isfinite(c.ends)]])
        assert np.all(np.isfinite(c.starts)) and (len(times) == 0 or np.abs(times).max() <= MAX_CHART_MS)


@SETTINGS
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".osu", ".qua", ".sm", ".ssc", ".json"]))
def test_random_bytes(tmp_path_factory, data: bytes, suffix: str) -> None:
    d = tmp_path_factory.mktemp("bytes")
    if suffix == ".json":
        data = b'{"bpm": 1, "notes": []}' + data  # past the tui sniff
    (d / f"chart{suffix}").write_bytes(data)
    _sane_or_clean_error(d / f"chart{suffix}")


@SETTINGS
@given(time_=NUMBERS, length=NUMBERS, bpm=NUMBERS, lane=NUMBERS)
def test_osu_values(tmp_path_factory, time_, length, bpm, lane) -> None:
    d = tmp_path_factory.mktemp("osu")
    beat = 60000.0 / bpm if isinstance(bpm, (int, float)) and bpm not in (0,) and bpm == bpm else bpm
    (d / "m.osu").write_text(
        "osu file format v14\n[General]\nAudioFilename: a.mp3\nMode: 3\n[Difficulty]\nCircleSize:4\n"
        f"[TimingPoints]\n0,{beat},4,1,0,100,1,0\n[HitObjects]\n{lane},192,{time_},128,0,{length}:0:0:0:0:\n"
        "64,192,1000,1,0,0:0:0:0:\n")
    _sane_or_clean_error(d / "m.osu")


@SETTINGS
@given(start=NUMBERS, end=NUMBERS, bpm=NUMBERS, lane=NUMBERS)
def test_qua_values(tmp_path_factory, start, end, bpm, lane) -> None:
    d = tmp_path_factory.mktemp("qua")
    (d / "q.qua").write_text(f"Mode: Keys4\nTimingPoints:\n- Bpm: {bpm}\nHitObjects:\n- StartTime: {start}\n"
                             f"  EndTime: {end}\n  Lane: {lane}\n- StartTime: 1000\n  Lane: 1\n")
    _sane_or_clean_error(d / "q.qua")


@SETTINGS
@given(bpm=NUMBERS, beat=NUMBERS, duration=NUMBERS, lane=NUMBERS)
def test_tui_values(tmp_path_factory, bpm, beat, duration, lane) -> None:
    d = tmp_path_factory.mktemp("tui")
    doc = {"bpm": bpm, "lanes": 4, "notes": [{"beat": beat, "lane": lane, "duration": duration},
                                             {"beat": 1, "lane": 0}]}
    (d / "c.json").write_text(json.dumps(doc))
    _sane_or_clean_error(d / "c.json")


@SETTINGS
@given(bpm=NUMBERS, offset=NUMBERS, stop=NUMBERS)
def test_sm_values(tmp_path_factory, bpm, offset, stop) -> None:
    d = tmp_path_factory.mktemp("sm")
    (d / "s.sm").write_text(f"#TITLE:t;\n#OFFSET:{offset};\n#BPMS:0={bpm};\n#STOPS:1={stop};\n#NOTES:\n"
                            " dance-single:\n x:\n Hard:\n 5:\n 0,0,0,0,0:\n1000\n0100\n0010\n0001\n,\n"
                            "2000\n0000\n0000\n3000\n;\n")
    _sane_or_clean_error(d / "s.sm")
