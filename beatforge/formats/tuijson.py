"""Beat-based JSON charts of the ``tui-rhythm-game`` package (``{"bpm", "offset", "notes": [{beat, lane}]}``).

Time of a note = beat x 60 / bpm seconds from the audio's start. The file's own ``offset`` field is not
applied: for the one real chart we have (femtanyl - KATAMARI) it is measurably wrong by 30 ms, and the
game itself uses it only as a display hint. Lanes are 0-based; the key count is the ``lanes`` field when
present, else one more than the highest lane used (at least 4, the game's layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.errors import ChartError


def looks_like_tui_chart(path: Path) -> bool:
    """Cheap sniff: a .json file whose head mentions both "bpm" and "notes"."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return b'"bpm"' in head and b'"notes"' in head


def read_tui_json(path: str | Path) -> ManiaChart:
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        raise ChartError(f"{p}: not a readable JSON chart") from None
    try:
        bpm = float(doc["bpm"])
        beats = np.array([float(n["beat"]) for n in doc["notes"]], dtype=np.float64)
        lanes = np.array([int(n["lane"]) for n in doc["notes"]], dtype=np.int64)
        durations = np.array([float(n.get("duration", 0) or 0) for n in doc["notes"]], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ChartError(f"{p}: JSON chart without bpm / notes[beat, lane]") from None
    if bpm <= 0:
        raise ChartError(f"{p}: BPM must be positive, got {bpm}")
    beat_ms = 60000.0 / bpm
    keys = int(doc.get("lanes") or max(4, int(lanes.max()) + 1 if len(lanes) else 4))
    starts = beats * beat_ms
    ends = np.where(durations > 0, starts + durations * beat_ms, np.nan)
    song = str(doc.get("song_path") or "")
    audio = (AudioSource(p.parent / song),) if song else ()
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
    return ManiaChart(keys, starts, ends, lanes, [TimingPoint(0.0, beat_ms, 4)], meta)
