"""Beat-based JSON charts of the ``tui-rhythm-game`` package (``{"bpm", "offset", "notes": [{beat, lane}]}``).

Time of a note = beat x 60 / bpm seconds from the audio's start. The file's own ``offset`` field is not
applied: for the one real chart we have (femtanyl - KATAMARI) it is measurably wrong by 30 ms, and the
game itself uses it only as a display hint. Lanes are 0-based; the key count is the ``lanes`` field when
present, else one more than the highest lane used (at least 4, the game's layout).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import CHART_BPM_RANGE, MAX_KEYS, MIN_KEYS
from beatforge.errors import ChartError
from beatforge.fileio import is_regular_file, read_bounded
from beatforge.formats.osu import check_chart_budget, check_note_count

MAX_TUI_BYTES = 64 << 20


def looks_like_tui_chart(path: Path) -> bool:
    """Cheap sniff: a .json file whose head mentions both "bpm" and "notes"."""
    try:
        if not is_regular_file(path):
            return False
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b'"bpm"' in head and b'"notes"' in head


def read_tui_json(path: str | Path) -> ManiaChart:
    """The chart of a tui JSON file.

    Raises:
        ChartError: not such a chart, a malformed or non-finite value, or a chart past the chart budget.
    """
    try:
        return _read_tui_json(path)
    except RecursionError:  # str() of a value nested ~1,000 deep in a metadata field
        raise ChartError(f"{path}: a JSON chart value is nested too deeply") from None


def _read_tui_json(path: str | Path) -> ManiaChart:
    p = Path(path)
    try:
        doc = json.loads(read_bounded(p, max_bytes=MAX_TUI_BYTES, what="a JSON chart"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ChartError(f"{p}: not a readable JSON chart") from None
    try:
        bpm = float(doc["bpm"])
        check_note_count(len(doc["notes"]), str(p))
        beats = np.array([float(n["beat"]) for n in doc["notes"]], dtype=np.float64)
        lanes = np.array([float(n["lane"]) for n in doc["notes"]], dtype=np.float64)
        durations = np.array([float(n.get("duration", 0) or 0) for n in doc["notes"]], dtype=np.float64)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise ChartError(f"{p}: JSON chart without bpm / notes[beat, lane]") from None
    if not (math.isfinite(bpm) and CHART_BPM_RANGE[0] <= bpm <= CHART_BPM_RANGE[1]):
        raise ChartError(f"{p}: BPM {bpm:g} (a chart's tempo is {CHART_BPM_RANGE[0]:g} to {CHART_BPM_RANGE[1]:g})")
    if not (np.isfinite(beats).all() and np.isfinite(durations).all()):
        raise ChartError(f"{p}: a note's beat or duration is not a finite number")
    if len(lanes) and not (lanes.min() >= 0 and lanes.max() < MAX_KEYS):
        raise ChartError(f"{p}: a note's lane lies outside 0-{MAX_KEYS - 1}")
    lanes = lanes.astype(np.int64)
    beat_ms = 60000.0 / bpm
    try:
        keys = int(doc.get("lanes") or max(4, int(lanes.max()) + 1 if len(lanes) else 4))
    except (TypeError, ValueError, OverflowError):
        raise ChartError(f"{p}: \"lanes\" must be a key count ({MIN_KEYS}-{MAX_KEYS})") from None
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 beats: inf, which the budget check refuses
        starts = beats * beat_ms
        ends = np.where(durations > 0, starts + durations * beat_ms, np.nan)
    timing = [TimingPoint(0.0, beat_ms, 4)]
    check_chart_budget(starts, ends, str(p), timing)
    song = str(doc.get("song_path") or "")
    found = AudioSource.in_folder(p.parent, song)  # inside the chart's folder only
    audio = (found,) if found is not None else ()
    meta = ChartMeta(
        title=str(doc.get("title") or p.stem),
        artist=str(doc.get("artist") or ""),
        creator=str(doc.get("creator") or "tui-rhythm-game"),
        version=str(doc.get("difficulty") or f"{keys}K"),
        source_game="tui",
        audio=audio,
        path=str(p),
        song_key=str(p.parent),
    )
    return ManiaChart(keys, starts, ends, lanes, timing, meta)
