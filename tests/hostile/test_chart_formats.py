"""Hostile chart files: every reader either loads a sane chart or raises one clear BeatforgeError.

A stranger's file may hold 1e300, inf, NaN, a BPM of 0, a MIDI delta time of days, 200,000-deep nesting or random
bytes. For .osu, .qua, .sm/.ssc, tui JSON and notes.mid, each case is loaded both by the format's own reader and by
``load_charts``; it must either give charts within the chart budget (finite times within +-MAX_CHART_MS, at most
MAX_CHART_NOTES notes, positive finite beat lengths) or raise a one-line BeatforgeError, never any other exception,
and quickly. The property cases are seeded random files (random bytes, random mutations of a valid file, random
numbers put in place of a valid file's numbers), so every run checks the same files.
"""

from __future__ import annotations

import math
import random
import re
import struct
import time
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest

from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.constants import MAX_CHART_MS, MAX_CHART_NOTES, MAX_KEYS, MIN_KEYS
from beatforge.errors import BeatforgeError, ChartError
from beatforge.formats import fretsonfire, osu, quaver, stepmania
from beatforge.formats.fretsonfire import read_fretsonfire
from beatforge.formats.loader import load_chart, load_charts
from beatforge.formats.osu import mania_to_beatmap, parse_osu, read_osu_mania, write_osu
from beatforge.formats.quaver import read_qua
from beatforge.formats.stepmania import read_stepmania
from beatforge.formats.tuijson import read_tui_json

SECONDS_PER_CASE = 5.0  # generous: every case here takes milliseconds; a loop over a huge allocation takes minutes
RANGE = f"-{MAX_CHART_MS:.0f} to {MAX_CHART_MS:.0f} ms"
# Numbers a hostile file puts where a number belongs (text formats)
HOSTILE_NUMBERS = ["1e300", "-1e300", "1e999", "-1e999", "inf", "-inf", "nan", "NaN", "Infinity", "-Infinity",
                   ".inf", ".nan", "-1", "0", "-0", "1e-300", "4.9e-324", "99999999999999999999", "9" * 5000,
                   "", "x", "1.5", "2147483648", "-2147483649", "86400001", "1e9"]
_NUMBER_RE = re.compile(rb"-?\d+(?:\.\d+)?")
_TOKENS = [b"1e300", b"-1", b"NaN", b"Infinity", b"1e999", b",", b":", b";", b"#", b"\n", b"[", b"]", b"{", b"}",
           b"\x00", b"\xff", b"- ", b"&a", b"*a", b"\\", b"//", b'"', b"99999999999"]


# ============================================================================================ checks
def _assert_sane(chart: ManiaChart) -> None:
    assert isinstance(chart, ManiaChart)
    assert MIN_KEYS <= chart.keys <= MAX_KEYS
    assert chart.n_notes <= MAX_CHART_NOTES
    assert np.all(np.isfinite(chart.starts)) and np.all(np.abs(chart.starts) <= MAX_CHART_MS)
    held = ~np.isnan(chart.ends)
    assert np.all(np.isfinite(chart.ends[held])) and np.all(np.abs(chart.ends[held]) <= MAX_CHART_MS)
    assert np.all((chart.columns >= 0) & (chart.columns < chart.keys))
    for tp in chart.timing:
        assert math.isfinite(tp.time) and abs(tp.time) <= MAX_CHART_MS
        assert math.isfinite(tp.beat_length) and 0 < tp.beat_length <= MAX_CHART_MS
    preview = chart.meta.preview_ms
    assert preview is None or (math.isfinite(preview) and 0 <= preview <= MAX_CHART_MS)


def _outcome(load: Callable[[], object]) -> BeatforgeError | list[ManiaChart]:
    """What ``load`` gives: its sane charts, or the BeatforgeError it raised (any other exception fails the test)."""
    t0 = time.perf_counter()
    try:
        result = load()
    except BeatforgeError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"not one line: {message!r}"
        return exc
    finally:
        assert time.perf_counter() - t0 < SECONDS_PER_CASE
    charts = result if isinstance(result, list) else [result]
    for chart in charts:
        _assert_sane(chart)
    return charts


def _check_path(path: Path, reader: Callable[[Path], object]) -> BeatforgeError | list[ManiaChart]:
    """The outcome of the format's own reader, after checking ``load_charts`` and ``load_chart`` agree on it."""
    own = _outcome(lambda: reader(path))
    via_loader = _outcome(lambda: load_charts(path))
    assert isinstance(own, BeatforgeError) == isinstance(via_loader, BeatforgeError), (own, via_loader)
    if not isinstance(own, BeatforgeError):
        _outcome(lambda: load_chart(path))
    return own


def _rejects(path: Path, reader: Callable[[Path], object], *needles: str) -> str:
    out = _check_path(path, reader)
    assert isinstance(out, ChartError), f"loaded: {out}"
    message = str(out)
    for needle in needles:
        assert needle in message, message
    return message


def _loads(path: Path, reader: Callable[[Path], object]) -> list[ManiaChart]:
    out = _check_path(path, reader)
    assert not isinstance(out, BeatforgeError), str(out)
    return out


# ============================================================================================ fuzzing
def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(b) + 1)
        op = rng.random()
        if op < 0.25 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op < 0.45:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.65 and b:
            del b[pos:pos + rng.randint(1, 24)]
        elif op < 0.85:
            b[pos:pos] = rng.choice(_TOKENS)
        else:
            start = rng.randrange(len(b) + 1)
            b[pos:pos] = b[start:start + rng.randint(1, 64)] * rng.randint(1, 4)
    return bytes(b)


def _renumber(data: bytes, rng: random.Random, numbers: list[str] = HOSTILE_NUMBERS) -> bytes:
    """``data`` with 1-4 of its numbers replaced by hostile ones."""
    spans = [m.span() for m in _NUMBER_RE.finditer(data)]
    for start, end in sorted(rng.sample(spans, min(len(spans), rng.randint(1, 4))), reverse=True):
        data = data[:start] + rng.choice(numbers).encode() + data[end:]
    return data


def _random_bytes(rng: random.Random, head: bytes = b"") -> bytes:
    return head + bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))


FUZZ_SEEDS = range(12)
EXAMPLES_PER_SEED = 4


def _fuzz(kind: str, seed: int, valid: bytes, head: bytes, write: Callable[[bytes], Path],
          reader: Callable[[Path], object], numbers: list[str] = HOSTILE_NUMBERS) -> None:
    rng = random.Random(f"{kind}-{seed}")
    for _ in range(EXAMPLES_PER_SEED):
        if kind == "bytes":
            data = _random_bytes(rng, head if rng.random() < 0.5 else b"")
        elif kind == "mutation":
            data = _mutate(valid, rng)
        else:
            data = _renumber(valid, rng, numbers)
        _check_path(write(data), reader)


# ============================================================================================ .osu
def _osu_valid() -> bytes:
    chart = ManiaChart(4, np.array([0.0, 250.0, 500.0, 750.0]), np.array([np.nan, 400.0, np.nan, 1000.0]),
                       np.array([0, 1, 2, 3]), [TimingPoint(0.0, 500.0, 4)])
    return write_osu(mania_to_beatmap(chart, audio_filename="song.ogg")).encode()  # no digits in the name


def _osu_with(timing: str = "0,500,4,1,0,70,1,0", objects: str = "64,192,0,1,0,0:0:0:0:",
              difficulty: str = "CircleSize:4", general: str = "Mode: 3") -> bytes:
    return (f"osu file format v14\n[General]\n{general}\n[Difficulty]\n{difficulty}\n"
            f"[TimingPoints]\n{timing}\n[HitObjects]\n{objects}\n").encode()


def _write_osu_bytes(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "map.osu"
    p.write_bytes(data)
    return p


OSU_REJECTED = [
    (_osu_with(objects="64,192,1e300,1,0,0:0:0:0:"), ("hit object", RANGE)),
    (_osu_with(objects="64,192,86400001,1,0,0:0:0:0:"), ("hit object", RANGE)),
    (_osu_with(objects="64,192,-86400001,1,0,0:0:0:0:"), ("hit object", RANGE)),
    (_osu_with(objects="64,192,inf,1,0,0:0:0:0:"), ("non-finite",)),
    (_osu_with(objects="64,192,nan,1,0,0:0:0:0:"), ("non-finite",)),
    (_osu_with(objects="64,192,100,128,0,1e300:0:0:0:0:"), ("hold's end", RANGE)),
    (_osu_with(objects="64,192,100,128,0,inf:0:0:0:0:"), ("non-finite",)),
    (_osu_with(objects="64,192,100,128,0,nan:0:0:0:0:"), ("non-finite",)),
    (_osu_with(objects="256,192,100,12,0,1e300"), ("spinner's end", RANGE)),
    (_osu_with(timing="1e300,500,4,1,0,70,1,0"), ("timing point", RANGE)),
    (_osu_with(timing="nan,500,4,1,0,70,1,0"), ("non-finite",)),
    (_osu_with(timing="0,1e300,4,1,0,70,1,0"), ("beat length",)),
    (_osu_with(timing="0,inf,4,1,0,70,1,0"), ("non-finite",)),
    (_osu_with(difficulty="CircleSize:1e300"), ("key count",)),
    (_osu_with(difficulty="CircleSize:nan"), ("non-finite",)),
    (_osu_with(difficulty="CircleSize:0"), ("key count",)),
    (_osu_with(general="Mode: 1e300"), ("not osu!mania",)),
    (_osu_with(general="Mode: inf"), ("non-finite",)),
    (_osu_with(objects="1e300,192,0,1,0"), ("absurd coordinates",)),
    (_osu_with(objects="64,192,0"), ("bad hit object",)),
    (_osu_with(objects="64,192,0,abc,0"), ("bad number",)),
    (b"", ("not an .osu file",)),
    (b"\xef\xbb\xbf", ("not an .osu file",)),
    (b"\x00\x01\x02\x03" * 50, ()),
    (b"osu file format v" + b"9" * 5000 + b"\n[HitObjects]\n", ()),
]


@pytest.mark.parametrize("data,needles", OSU_REJECTED)
def test_osu_hostile_values_are_chart_errors(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    _rejects(_write_osu_bytes(tmp_path, data), read_osu_mania, *needles)


@pytest.mark.parametrize("data", [
    _osu_with(general="Mode: 3\nPreviewTime: \u00b2"),  # a digit int() refuses
    _osu_with(general="Mode: 3\nPreviewTime: 99999999999999999999"),
    _osu_with(general="Mode: 3\nPreviewTime: " + "9" * 5000),
    _osu_with(general="Mode: 3", difficulty="CircleSize:4\nOverallDifficulty:1e300\nHPDrainRate:-1e300"),
    _osu_with(objects="64,192,86400000,1,0,0:0:0:0:"),  # the budget's edge is still a chart
    _osu_with(timing="0,1e-300,4,1,0,70,1,0"),
    _osu_with(timing="0,500,1e300,1e300,1e300,1e300,1,1e300"),
    _osu_with(objects="64,192,100,2,0,B|1e300:1e300,99999999,1e300"),  # a slider in a mania map
])
def test_osu_odd_but_finite_values_load_sanely(tmp_path: Path, data: bytes) -> None:
    _check_path(_write_osu_bytes(tmp_path, data), read_osu_mania)


def test_osu_overlong_audio_file_name(tmp_path: Path) -> None:
    data = _osu_with(general="Mode: 3\nAudioFilename: " + "a" * 300 + ".mp3")
    _check_path(_write_osu_bytes(tmp_path, data), read_osu_mania)


def test_osu_note_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osu, "MAX_CHART_NOTES", 50)
    objects = "\n".join(f"64,192,{i * 10},1,0,0:0:0:0:" for i in range(51))
    _rejects(_write_osu_bytes(tmp_path, _osu_with(objects=objects)), read_osu_mania, "more than 50 notes")
    assert parse_osu(_osu_with(objects="\n".join(objects.splitlines()[:50]))).hit_objects


@pytest.mark.parametrize("kind", ["bytes", "mutation", "numbers"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_osu_property(tmp_path: Path, kind: str, seed: int) -> None:
    _fuzz(kind, seed, _osu_valid(), b"osu file format v14\n[General]\nMode: 3\n[HitObjects]\n",
          lambda d: _write_osu_bytes(tmp_path, d), read_osu_mania)


def test_osu_valid_chart_still_loads(tmp_path: Path) -> None:
    (chart,) = _loads(_write_osu_bytes(tmp_path, _osu_valid()), read_osu_mania)
    assert chart.starts.tolist() == [0.0, 250.0, 500.0, 750.0] and chart.n_long == 2


# ============================================================================================ .qua
QUA_VALID = """AudioFile: audio.mp3
SongPreviewTime: 1000
MapId: 5
MapSetId: 7
Mode: Keys4
Title: T
Artist: A
DifficultyName: Hard
TimingPoints:
- StartTime: 0
  Bpm: 120
HitObjects:
- StartTime: 100
  Lane: 1
- StartTime: 200
  Lane: 2
  EndTime: 400
- StartTime: 300
  Lane: 4
"""


def _qua(**fields: str) -> bytes:
    """QUA_VALID with lines ``Key: value`` replaced (first match) for each ``Key=value``."""
    text = QUA_VALID
    for key, value in fields.items():
        text = re.sub(rf"^(- |  )?{key}: .*$", lambda m, v=value, k=key: f"{m.group(1) or ''}{k}: {v}", text,
                      count=1, flags=re.M)
    return text.encode()


def _write_qua(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "chart.qua"
    p.write_bytes(data)
    return p


DEEP = 200_000
QUA_REJECTED = [
    (_qua(StartTime="1e300"), (RANGE,)),
    (_qua(StartTime=".inf"), (RANGE,)),
    (_qua(StartTime="-.inf"), (RANGE,)),
    (_qua(StartTime=".nan"), (RANGE,)),
    (_qua(StartTime="1e999"), (RANGE,)),
    (_qua(StartTime="86400001"), (RANGE,)),
    (_qua(EndTime="1e300"), ("end", RANGE)),
    (_qua(EndTime=".inf"), ("end", RANGE)),
    (_qua(EndTime=".nan"), ("NaN",)),
    (_qua(Lane="1e300"), ("Lane",)),
    (_qua(Lane=".inf"), ("Lane",)),
    (_qua(Lane=".nan"), ("Lane",)),
    (_qua(Lane="99"), ("Lane lies outside 1-4",)),
    (_qua(Lane="abc"), ("malformed hit object",)),
    (_qua(Bpm=".inf"), ("Bpm",)),
    (_qua(Bpm=".nan"), ("Bpm",)),
    (_qua(Bpm="1e-300"), ("beat length",)),
    (_qua(Bpm="[1, 2]"), ("malformed timing point",)),
    (QUA_VALID.replace("TimingPoints:\n- StartTime: 0\n  Bpm: 120\n", "TimingPoints: 5\n").encode(),
     ("malformed timing point",)),
    (QUA_VALID.replace("- StartTime: 0\n  Bpm: 120\n", "- StartTime: 1e300\n  Bpm: 120\n").encode(),
     ("timing point", RANGE)),
    (QUA_VALID.split("HitObjects:")[0].encode() + b"HitObjects: 5\n", ("not a list",)),
    (_qua(Mode="Keys" + "9" * 5000), ("unsupported Quaver mode",)),
    (_qua(Mode="Keys99"), ("key count",)),
    (_qua(StartTime="1" + "0" * 5000), ("YAML",)),  # an int longer than Python converts from text
    (("Mode: Keys4\nHitObjects: " + "[" * DEEP + "]" * DEEP + "\n").encode(), ("YAML",)),
    (("Mode: Keys4\nTitle: " + "- " * DEEP + "x\n").encode(), ("YAML",)),
    (("[" * DEEP + "]" * DEEP).encode(), ()),
    (b"Mode: !!python/object/apply:os.system ['true']\n", ("YAML",)),
    (b"Mode: Keys4\nHitObjects:\n- StartTime: 2001-01-01\n  Lane: 1\n", ("malformed hit object",)),
    (b"\x00\x01\x02\xff" * 40, ()),
    (b"", ("not a Quaver chart",)),
]


@pytest.mark.parametrize("data,needles", QUA_REJECTED, ids=range(len(QUA_REJECTED)))
def test_qua_hostile_values_are_chart_errors(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    _rejects(_write_qua(tmp_path, data), read_qua, *needles)


@pytest.mark.parametrize("data", [
    _qua(SongPreviewTime=".inf"),
    _qua(SongPreviewTime="1e300"),
    _qua(MapSetId=".inf"),
    _qua(MapId=".nan"),
    _qua(Title="[" * 900 + "]" * 900),  # str() of it recurses ~1,000 deep
    _qua(Title="!!binary aGVsbG8="),
    _qua(Bpm="0"),
    _qua(Bpm="-120"),
    ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     + QUA_VALID).encode(),  # aliases: shared, not copied
])
def test_qua_odd_values_load_sanely(tmp_path: Path, data: bytes) -> None:
    _check_path(_write_qua(tmp_path, data), read_qua)


def test_qua_note_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osu, "MAX_CHART_NOTES", 50)
    monkeypatch.setattr(quaver, "MAX_CHART_NOTES", 50)
    block = "".join(f"- StartTime: {i * 10}\n  Lane: 1\n" for i in range(51))
    _rejects(_write_qua(tmp_path, (QUA_VALID.split("HitObjects:")[0] + "HitObjects:\n" + block).encode()),
             read_qua, "more than 50 notes")
    flow = ", ".join(f"{{StartTime: {i * 10}, Lane: 1}}" for i in range(51))
    _rejects(_write_qua(tmp_path, f"Mode: Keys4\nHitObjects: [{flow}]\n".encode()), read_qua, "more than 50 notes")


@pytest.mark.parametrize("kind", ["bytes", "mutation", "numbers"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_qua_property(tmp_path: Path, kind: str, seed: int) -> None:
    _fuzz(kind, seed, QUA_VALID.encode(), b"Mode: Keys4\nHitObjects:\n",
          lambda d: _write_qua(tmp_path, d), read_qua)


def test_qua_valid_chart_still_loads(tmp_path: Path) -> None:
    (chart,) = _loads(_write_qua(tmp_path, QUA_VALID.encode()), read_qua)
    assert chart.starts.tolist() == [100.0, 200.0, 300.0] and chart.n_long == 1 and chart.meta.preview_ms == 1000.0


# ============================================================================================ .sm / .ssc
FOUR_TAPS = "1000\n0100\n0010\n0001\n"


def _sm(header: str = "#BPMS:0=120;", notes: str = FOUR_TAPS, extra: str = "") -> bytes:
    return (f"#TITLE:T;\n#ARTIST:A;\n#OFFSET:0;\n{header}\n{extra}"
            f"#NOTES:\n     dance-single:\n     someone:\n     Hard:\n     9:\n     0,0,0,0,0:\n{notes}\n;\n").encode()


def _ssc(song: str = "#BPMS:0=120;", chart: str = "", notes: str = FOUR_TAPS) -> bytes:
    return (f"#VERSION:0.83;\n#TITLE:T;\n#OFFSET:0;\n{song}\n"
            f"#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#DIFFICULTY:Hard;\n#METER:9;\n{chart}\n"
            f"#NOTES:\n{notes};\n").encode()


def _write_sm(tmp_path: Path, data: bytes, name: str = "song.sm") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


SM_REJECTED = [
    (_sm("#BPMS:0=0;"), ("BPM 0 at beat 0", "must be positive")),
    (_sm("#BPMS:0=120,2=0;"), ("BPM 0 at beat 2",)),
    (_ssc("#BPMS:0=0;"), ("BPM 0 at beat 0",)),
    (_ssc("#BPMS:0=-120;"), ("BPM -120 at beat 0", "must be positive")),
    (_ssc("#BPMS:0=120,1=-60;"), ("BPM -60 at beat 1",)),
    (_ssc(chart="#BPMS:0=-120;"), ("BPM -120",)),
    (_ssc(chart="#BPMS:0=0;"), ("BPM 0",)),
    (_sm("#BPMS:0=1e999;"), ("not finite",)),
    (_sm("#BPMS:0=1e300;"), ("BPMS value 1e+300",)),
    (_sm("#BPMS:0=1e-300;"), ("BPM 1e-300", "allowed")),  # a beat of 6e304 ms
    (_sm("#BPMS:0=120,1e300=130;"), ("beat 1e+300",)),
    (_sm("#BPMS:0=120,1e300r=130;"), ("beat",)),
    (_sm("#BPMS:0=120;").replace(b"#OFFSET:0;", b"#OFFSET:1e300;"), ("#OFFSET",)),
    (_sm("#BPMS:0=120;").replace(b"#OFFSET:0;", b"#OFFSET:-1e999;"), ("not finite",)),
    (_sm("#BPMS:0=120;\n#STOPS:1=1e300;"), ("#STOPS value",)),
    (_sm("#BPMS:0=120;\n#STOPS:1=-1e300;"), ("#STOPS value",)),
    (_sm("#BPMS:0=120;\n#DELAYS:1=1e300;"), ("#DELAYS value",)),
    (_ssc("#BPMS:0=120;\n#WARPS:1=1e300;"), ("#WARPS value",)),
    (_ssc("#BPMS:0=120;\n#FAKES:1=1e300;"), ("#FAKES value",)),
    (_ssc(chart="#OFFSET:1e300;"), ("#OFFSET",)),
    (_ssc(chart="#STOPS:1=1e300;"), ("#STOPS value",)),
    (_sm(notes="0000\n,\n" * 60_000 + FOUR_TAPS), (RANGE,)),  # 240,000 beats at 120 BPM: 33 hours
    (_sm(notes="1000\n" * 3 + "10000\n"), ("expected 4",)),
    (_sm(notes=FOUR_TAPS).rstrip(b";\n"), ("truncated",)),
    (b"", ("not a StepMania simfile",)),
    (b"\x00\xff" * 100, ()),
    (b"#NOTES:" + b":" * 10, ()),
]


@pytest.mark.parametrize("data,needles", SM_REJECTED, ids=range(len(SM_REJECTED)))
def test_stepmania_hostile_values_are_chart_errors(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    name = "song.ssc" if b"#NOTEDATA" in data else "song.sm"
    _rejects(_write_sm(tmp_path, data, name), read_stepmania, *needles)


@pytest.mark.parametrize("data", [
    _sm("#BPMS:0=120,1=-120,2=120;"),  # StepMania's old warp: a negative BPM in an .sm file
    _sm("#BPMS:0=120;\n#SAMPLESTART:1e300;"),
    _sm("#BPMS:0=120;\n#STOPS:1=-0.25;"),
    _sm("#BPMS:0=9999999999;"),  # above FAST_BPM_WARP: an .sm warp
    _sm("#BPMS:0=120;").replace(b"     9:", b"     " + b"9" * 5000 + b":"),  # a meter longer than int() reads
    _sm(notes=",,,,,," * 10_000 + FOUR_TAPS),  # empty measures are not measures
    _ssc("#BPMS:0=120;\n#WARPS:1=99999999;"),
])
def test_stepmania_odd_values_load_sanely(tmp_path: Path, data: bytes) -> None:
    name = "song.ssc" if b"#NOTEDATA" in data else "song.sm"
    _check_path(_write_sm(tmp_path, data, name), read_stepmania)


def test_stepmania_note_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osu, "MAX_CHART_NOTES", 50)
    monkeypatch.setattr(stepmania, "MAX_CHART_NOTES", 50)
    _rejects(_write_sm(tmp_path, _sm(notes="1111\n" * 13)), read_stepmania, "more than 50 notes")
    assert _loads(_write_sm(tmp_path, _sm(notes="1111\n" * 12)), read_stepmania)[0].n_notes == 48


@pytest.mark.parametrize("kind", ["bytes", "mutation", "numbers"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
@pytest.mark.parametrize("dialect", ["sm", "ssc"])
def test_stepmania_property(tmp_path: Path, kind: str, seed: int, dialect: str) -> None:
    valid = (_sm("#BPMS:0=120,2=240;\n#STOPS:1=0.5;\n#DELAYS:3=0.25;", FOUR_TAPS + ",\n2000\n0000\n3000\n0000\n")
             if dialect == "sm" else
             _ssc("#BPMS:0=120;\n#WARPS:1=1;", "#BPMS:0=150;\n#FAKES:2=1;", FOUR_TAPS + ",\n0200\n0000\n0300\n0000\n"))
    _fuzz(kind, seed, valid, b"#BPMS:0=120;\n#NOTES:dance-single:a:Hard:1:0:\n",
          lambda d: _write_sm(tmp_path, d, f"song.{dialect}"), read_stepmania)


def test_stepmania_valid_chart_still_loads(tmp_path: Path) -> None:
    (chart,) = _loads(_write_sm(tmp_path, _sm()), read_stepmania)
    assert chart.starts.tolist() == [0.0, 500.0, 1000.0, 1500.0]


# ============================================================================================ tui JSON
TUI_VALID = ('{"title": "T", "bpm": 120, "offset": 0, "lanes": 4, "notes": '
             '[{"beat": 0, "lane": 0}, {"beat": 1, "lane": 1, "duration": 1}, {"beat": 2.5, "lane": 3}]}')
JSON_NUMBERS = ["Infinity", "-Infinity", "NaN", "1e300", "-1e300", "1e999", "-1", "0", "1e-300", "4.9e-324",
                "1" + "0" * 5000, "99999999999999999999", "2.5", "null", "true", '"7"', "[]", "{}"]


def _tui(**fields: str) -> bytes:
    """TUI_VALID with the first ``"key": value`` of each key replaced (values are JSON text)."""
    text = TUI_VALID
    for key, value in fields.items():
        text = re.sub(rf'"{key}": [^,}}]+', lambda m, k=key, v=value: f'"{k}": {v}', text, count=1)
    return text.encode()


def _write_tui(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "chart.json"
    p.write_bytes(data)
    return p


TUI_REJECTED = [
    (_tui(bpm="Infinity"), ("BPM", "inf")),
    (_tui(bpm="-Infinity"), ("BPM",)),
    (_tui(bpm="NaN"), ("BPM", "nan")),
    (_tui(bpm="0"), ("BPM", "0")),
    (_tui(bpm="-120"), ("BPM", "-120")),
    (_tui(bpm="1e999"), ("BPM",)),
    (_tui(bpm="1e-300"), ("tempo",)),
    (_tui(bpm="4.9e-324"), ("tempo",)),
    (_tui(bpm="null"), ("without bpm",)),
    (_tui(bpm='"abc"'), ("without bpm",)),
    (_tui(bpm="[1]"), ("without bpm",)),
    (_tui(beat="1e300"), (RANGE,)),
    (_tui(beat="Infinity"), ("finite",)),
    (_tui(beat="NaN"), ("finite",)),
    (_tui(beat="1e7"), (RANGE,)),  # 10 million beats at 120 BPM: 58 days
    (_tui(duration="Infinity"), ("finite",)),
    (_tui(duration="NaN"), ("finite",)),
    (_tui(duration="1e300"), (RANGE,)),
    (_tui(lane="1e300"), ("lane",)),
    (_tui(lane="Infinity"), ("lane",)),
    (_tui(lane="NaN"), ("lane",)),
    (_tui(lane="-1"), ("lane",)),
    (_tui(lanes="Infinity"), ("lanes",)),
    (_tui(lanes='"x"'), ("lanes",)),
    (_tui(lanes="[4]"), ("lanes",)),
    (_tui(lanes="1e300"), ("key count",)),
    (_tui(lanes="2"), ("outside columns",)),
    (_tui(bpm="1" + "0" * 5000), ("not a readable JSON",)),  # an int longer than Python converts from text
    (b'{"bpm": 120, "notes": ' + b"[" * DEEP + b"]" * DEEP + b"}", ("not a readable JSON",)),
    (b"[" * DEEP + b"]" * DEEP, ("not a readable JSON",)),
    (b'{"bpm": 120, "notes": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", ("not a readable JSON",)),
    (b'{"bpm": 120, "notes": 5}', ("without bpm",)),
    (b'{"bpm": 120, "notes": [5]}', ("without bpm",)),
    (b'{"bpm": 120, "notes": [[0, 1]]}', ("without bpm",)),
    (b'{"bpm": 120, "notes": ["beat"]}', ("without bpm",)),
    (b"[]", ("without bpm",)),
    (b'"bpm notes"', ("without bpm",)),
    (b"null", ("without bpm",)),
    (b"", ("not a readable JSON",)),
    (b"\xff\xfe\x00{", ("not a readable JSON",)),
]


@pytest.mark.parametrize("data,needles", TUI_REJECTED, ids=range(len(TUI_REJECTED)))
def test_tui_hostile_values_are_chart_errors(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    _rejects(_write_tui(tmp_path, data), read_tui_json, *needles)


@pytest.mark.parametrize("data", [
    _tui(title="[" * 990 + "]" * 990),  # str() of it recurses ~1,000 deep
    _tui(title="1e999"),
    _tui(bpm='"120"'),
    _tui(bpm="true"),
    _tui(bpm="1e300"),  # a beat of 6e-296 ms: every note at 0
    _tui(lane="2.5"),
])
def test_tui_odd_values_load_sanely(tmp_path: Path, data: bytes) -> None:
    _check_path(_write_tui(tmp_path, data), read_tui_json)


def test_tui_note_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osu, "MAX_CHART_NOTES", 50)
    notes = ", ".join(f'{{"beat": {i}, "lane": 0}}' for i in range(51))
    _rejects(_write_tui(tmp_path, f'{{"bpm": 120, "notes": [{notes}]}}'.encode()), read_tui_json,
             "more than 50 notes")


@pytest.mark.parametrize("kind", ["bytes", "mutation", "numbers"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_tui_property(tmp_path: Path, kind: str, seed: int) -> None:
    _fuzz(kind, seed, TUI_VALID.encode(), b'{"bpm": 120, "notes": [',
          lambda d: _write_tui(tmp_path, d), read_tui_json, JSON_NUMBERS)


def test_tui_valid_chart_still_loads(tmp_path: Path) -> None:
    (chart,) = _loads(_write_tui(tmp_path, TUI_VALID.encode()), read_tui_json)
    assert chart.starts.tolist() == [0.0, 500.0, 1250.0] and chart.ends[1] == 1000.0


# ============================================================================================ notes.mid
def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity; values past 28 bits give more than the standard's 4 bytes."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(_vlq(delta) + ev for delta, ev in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def _smf(tracks: list[bytes], tpb: int = 480, fmt: int = 1) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), tpb) + b"".join(tracks)


def _name(text: str) -> bytes:
    return b"\xff\x03" + _vlq(len(text)) + text.encode()


def _tempo(us: int) -> bytes:
    return b"\xff\x51\x03" + us.to_bytes(3, "big")


def _on(pitch: int, vel: int = 100) -> bytes:
    return bytes([0x90, pitch, vel])


def _off(pitch: int) -> bytes:
    return bytes([0x80, pitch, 0])


def _guitar(delta_first: int = 0, tpb: int = 480, tempo: int = 500000, last_delta: int = 480) -> bytes:
    """Two tracks: tempo, then PART GUITAR with an Expert note and a sustain (pitches 96-100)."""
    tempo_track = _track([(0, _tempo(tempo))])
    guitar = _track([(0, _name("PART GUITAR")), (delta_first, _on(96)), (100, _off(96)), (0, _on(97)),
                     (last_delta, _off(97)), (tpb, _on(98)), (tpb, _off(98))])
    return _smf([tempo_track, guitar], tpb)


MIDI_VALID = _guitar()


def _song_folder(tmp_path: Path, mid: bytes, ini: bytes = b"[song]\nname = T\nartist = A\n") -> Path:
    folder = tmp_path / "song"
    folder.mkdir(exist_ok=True)
    (folder / "notes.mid").write_bytes(mid)
    (folder / "song.ini").write_bytes(ini)
    return folder


def test_midi_one_huge_delta_time_is_rejected(tmp_path: Path) -> None:
    # A few hundred bytes: one 28-bit delta time (268M ticks = 78 hours at 120 BPM) once made analysis allocate
    # gigabytes; it must be a ChartError naming the range.
    mid = _guitar(delta_first=0x0FFFFFFF)
    assert len(mid) < 700
    _rejects(_song_folder(tmp_path, mid), read_fretsonfire, "notes.mid", RANGE)


MIDI_REJECTED = [
    (_guitar(delta_first=0x0FFFFFFF, tpb=1), ("a note", RANGE)),
    (_guitar(delta_first=1 << 200), ("past the chart's time range",)),  # a 29-byte delta: mido reads any length
    (_guitar(last_delta=1 << 100), ("past the chart's time range",)),
    (_guitar(delta_first=0x0FFFFFF, tempo=0xFFFFFF), (RANGE,)),  # 16.7 s a beat: a week
    (_guitar(last_delta=0x0FFFFFFF), (RANGE,)),  # a sustain of 78 hours
    (_smf([_track([(0, _name("PART GUITAR")), (0, _on(96)), (10, _off(96)), (0x0FFFFFFF, _tempo(400000))])]),
     ("timing point", RANGE)),
    (_guitar(tpb=0), ("time division",)),
    (_smf([], fmt=3), ()),
    (MIDI_VALID[:40], ()),  # truncated
    (MIDI_VALID[:14] + b"MTrk\xff\xff\xff\xff", ()),
    (b"MThd\xff\xff\xff\xff" + MIDI_VALID[8:], ()),
    (b"", ()),
    (b"\x00" * 300, ()),
    (_smf([_track([(0, b"\xff\x03\x8f\xff\xff\x7fab")])]), ()),  # a meta event claiming 268 MB
    (_smf([_track([(0, b"\xf0\x8f\xff\xff\x7f")])]), ()),  # a sysex claiming 268 MB
    (_smf([_track([(0, bytes([0x90, 200, 100]))])]), ()),  # a data byte past 127
    (_smf([_track([(0, bytes([0x3c, 100]))])]), ()),  # running status without a status
    (_smf([_track([(0, _name("PART DRUMS")), (0, _on(96)), (10, _off(96))])]), ("no note track",)),
]


@pytest.mark.parametrize("data,needles", MIDI_REJECTED, ids=range(len(MIDI_REJECTED)))
def test_midi_hostile_files_are_chart_errors(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    _rejects(_song_folder(tmp_path, data), read_fretsonfire, *needles)


@pytest.mark.parametrize("ini,needles", [
    (b"[song]\ndelay = 1e300\n", (RANGE,)),
    (b"[song]\ndelay = -86400001\n", (RANGE,)),
])
def test_song_ini_hostile_delay_is_a_chart_error(tmp_path: Path, ini: bytes, needles: tuple[str, ...]) -> None:
    _rejects(_song_folder(tmp_path, MIDI_VALID, ini), read_fretsonfire, *needles)


@pytest.mark.parametrize("mid,ini", [
    (MIDI_VALID, b"[song]\ndelay = inf\npreview_start_time = 1e300\n"),
    (MIDI_VALID, b"[song]\ndelay = nan\npreview_start_time = nan\n"),
    (MIDI_VALID, b"\x00\x01binary"),
    (MIDI_VALID, b"[song]\n" + b"x" * 100_000 + b"\n"),
    (_smf([_track([(0, _name("PART GUITAR")), (0, _tempo(0)), (0, _on(96)), (10, _off(96))])], tpb=1), b""),
    (_smf([_track([(0, b"\xff\x58\x04\x00\x02\x18\x08"), (0, _name("PART GUITAR")), (0, _on(96))])]), b""),
    # format 2, two tracks of one name: the note track is found by identity (== would compare arrays)
    (_smf([_track([(0, _name("PART GUITAR")), (0, _on(60)), (10, _off(60)), (0, _on(61)), (10, _off(61))]),
           _track([(0, _name("PART GUITAR")), (0, _on(96)), (10, _off(96)), (0, _on(97)), (10, _off(97))])], fmt=2),
     b""),
])
def test_midi_odd_files_load_sanely(tmp_path: Path, mid: bytes, ini: bytes) -> None:
    out = _check_path(_song_folder(tmp_path, mid, ini), read_fretsonfire)
    if not isinstance(out, BeatforgeError):
        for chart in out:
            assert chart.meta.preview_ms is None or chart.meta.preview_ms <= MAX_CHART_MS


def test_midi_note_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fretsonfire, "MAX_CHART_NOTES", 50)
    events = [(0, _name("PART GUITAR"))] + [ev for _ in range(51) for ev in ((10, _on(96)), (10, _off(96)))]
    _rejects(_song_folder(tmp_path, _smf([_track(events)])), read_fretsonfire, "more than 50 notes")


def test_midi_file_size_is_capped(tmp_path: Path) -> None:
    # mido builds an object per event (3 MB of notes: 280 MB, 10 s): files past the budget are refused unread
    big = _smf([_track([(0, _name("PART GUITAR"))] + [(0, b"\xff\x01\x00")] * ((fretsonfire.MAX_MIDI_BYTES >> 2) + 1))])
    _rejects(_song_folder(tmp_path, big), read_fretsonfire, "too large")


@pytest.mark.parametrize("kind", ["bytes", "mutation", "numbers"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_midi_property(tmp_path: Path, kind: str, seed: int) -> None:
    rng = random.Random(f"midi-{kind}-{seed}")
    for _ in range(EXAMPLES_PER_SEED):
        if kind == "bytes":
            data = _random_bytes(rng, MIDI_VALID[:14] if rng.random() < 0.5 else b"")
        elif kind == "mutation":
            data = _mutate(MIDI_VALID, rng)
        else:  # random delta times, tempos and ticks per beat, hostile ones included
            big = [0, 1, 0x7F, 0x3FFF, 0x0FFFFFFF, 1 << 40, 1 << 200]
            data = _guitar(delta_first=rng.choice(big + [rng.randrange(1 << 28)]),
                           tpb=rng.choice([0, 1, 96, 480, 0x7FFF, 0xFFFF]),
                           tempo=rng.choice([0, 1, 500000, 0xFFFFFF]),
                           last_delta=rng.choice(big))
        _check_path(_song_folder(tmp_path, data), read_fretsonfire)


def test_midi_valid_song_still_loads(tmp_path: Path) -> None:
    (chart,) = _loads(_song_folder(tmp_path, MIDI_VALID), read_fretsonfire)
    assert chart.meta.version == "Expert" and chart.n_notes == 3 and chart.n_long == 2
    # the tools that wrote it agree: mido reads the same file
    assert sum(m.type == "note_on" for t in mido.MidiFile(_song_folder(tmp_path, MIDI_VALID) / "notes.mid").tracks
               for m in t) == 3
