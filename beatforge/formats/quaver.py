"""Quaver charts: ``.qua`` (YAML) files, alone in a folder or packed in a ``.qp`` archive.

Facts of the format: ``Mode: Keys4`` / ``Keys7`` (newer clients allow other counts, and
``HasScratchKey: true`` adds one column); ``Lane`` is 1-based; ``StartTime`` and ``EndTime`` are ms from
the audio's start, and a ``StartTime`` of 0 is omitted from the file (YAML default); ``TimingPoints``
carry ``StartTime`` and ``Bpm``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import yaml

from beatforge.archive import chart_members, find_member, read_member
from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import MAX_CHART_MS, MAX_CHART_NOTES
from beatforge.errors import ChartError
from beatforge.fileio import decode_text, read_bounded
from beatforge.formats.osu import check_chart_budget, check_note_count

MAX_QUA_BYTES = 64 << 20
_MODE_RE = re.compile(r"^Keys(\d{1,6})$")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster on 5,000-note files
_HIT_OBJECTS_RE = re.compile(r"^HitObjects:[ \t]*\n", re.M)
_TOP_KEY_RE = re.compile(r"^[A-Za-z]", re.M)
_ITEM_RE = re.compile(r"^- ", re.M)
_FIELD_RE = re.compile(r"^(?:- |  )(StartTime|Lane|EndTime):[ \t]*([-+0-9.eE]+)[ \t]*$", re.M)
_ANY_FIELD_RE = re.compile(r"^(?:- |  )(?:StartTime|Lane|EndTime):", re.M)


def _fast_hit_objects(text: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
    """The hit objects of a block-style .qua without building a YAML node per note.

    Even with libyaml, PyYAML's constructor spends ~60 ms on a 5,000-note chart, most of a dataset build's
    time for Quaver sets; the block layout Quaver writes (``- StartTime: N`` / ``  Lane: N`` at fixed indents)
    is read here with two regex passes and numpy. Returns (the text without the hit objects, starts, lanes,
    ends), or None when the block is not in that layout (flow style, anchors ...): then YAML reads it all.
    """
    head = _HIT_OBJECTS_RE.search(text)
    if head is None:
        return None
    nxt = _TOP_KEY_RE.search(text, head.end())
    end = nxt.start() if nxt else len(text)
    block = text[head.end() : end]
    if "{" in block or "&" in block or "*" in block:
        return None
    items = np.array([m.start() for m in _ITEM_RE.finditer(block)], dtype=np.int64)
    fields = list(_FIELD_RE.finditer(block))
    if len(fields) != len(_ANY_FIELD_RE.findall(block)):
        return None  # a value that is not a plain number: let YAML read (and judge) it
    n = len(items)
    if n > MAX_CHART_NOTES:
        return None  # YAML reads it, and the note cap rejects it
    starts, lanes, ends = np.zeros(n), np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    if fields:
        pos = np.array([m.start() for m in fields], dtype=np.int64)
        owner = np.searchsorted(items, pos, side="right") - 1
        if np.any(owner < 0):
            return None
        names = np.array([m.group(1) for m in fields])
        try:
            values = np.array([float(m.group(2)) for m in fields])
        except ValueError:
            return None
        if not np.all(np.abs(values) <= MAX_CHART_MS):
            return None  # 1e999, a huge Lane ...: let the YAML path judge it
        for name, target in (("StartTime", starts), ("Lane", lanes), ("EndTime", ends)):
            sel = names == name
            if np.bincount(owner[sel], minlength=n).max(initial=0) > 1:
                return None  # a key twice in one item: not the layout we know
            target[owner[sel]] = values[sel]
    if np.any(lanes < 0):
        return None  # an item without a Lane we could read
    ends = np.where(ends > 0, ends, np.nan)  # Quaver writes no EndTime (or 0) for a tap
    return text[: head.start()] + "HitObjects: []\n" + text[end:], starts, lanes, ends


def parse_qua(data: bytes | str, *, path: str, audio_lookup=None, song_key: str = "") -> ManiaChart:
    """One .qua chart.

    Args:
        data: the file's bytes or text.
        path: for messages and metadata.
        audio_lookup: callable(name) -> AudioSource | None that resolves ``AudioFile``.
        song_key: groups every difficulty of one song.

    Raises:
        ChartError: not a .qua chart, a malformed or non-finite value, or a chart past the chart budget.
    """
    try:
        return _parse_qua(data, path=path, audio_lookup=audio_lookup, song_key=song_key)
    except RecursionError:  # str() of a value nested ~1,000 deep (libyaml's own limit) in a metadata field
        raise ChartError(f"{path}: a .qua value is nested too deeply") from None


def _parse_qua(data: bytes | str, *, path: str, audio_lookup=None, song_key: str = "") -> ManiaChart:
    if isinstance(data, bytes):
        data = decode_text(data, path=path, what="a .qua text file")
    data = data.replace("\r\n", "\n")
    check_note_count(data.count("Lane"), path)  # every hit object names its Lane: refused before YAML builds them
    fast = _fast_hit_objects(data)
    try:
        doc = yaml.load(fast[0] if fast else data, Loader=_Loader)
    except RecursionError:
        raise ChartError(f"{path}: not valid .qua YAML (nested too deeply)") from None
    except (ValueError, OverflowError) as exc:  # a value YAML's own constructors refuse (a 5,000-digit int ...)
        raise ChartError(f"{path}: not valid .qua YAML ({type(exc).__name__}: {str(exc)[:80]})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ChartError(f"{path}: not valid .qua YAML{where}") from None
    if not isinstance(doc, dict) or "HitObjects" not in doc and "Mode" not in doc:
        raise ChartError(f"{path}: not a Quaver chart (no Mode / HitObjects)")

    mode = str(doc.get("Mode", ""))
    match = _MODE_RE.match(mode)
    if not match:
        raise ChartError(f"{path}: unsupported Quaver mode {mode[:40]!r} (expected Keys4, Keys7, ...)")
    keys = int(match.group(1)) + (1 if doc.get("HasScratchKey") else 0)

    if fast:
        _, starts, lanes, ends = fast
    else:
        objects = doc.get("HitObjects") or []
        if not isinstance(objects, list):
            raise ChartError(f"{path}: HitObjects is not a list")
        check_note_count(len(objects), path)
        try:
            starts = np.array([float(o.get("StartTime", 0) or 0) for o in objects], dtype=np.float64)
            lanes = np.array([float(o.get("Lane", 0)) for o in objects], dtype=np.float64)
            end_values = [float(o["EndTime"]) if o.get("EndTime") else None for o in objects]  # None: a tap
        except (TypeError, ValueError, AttributeError, OverflowError):
            raise ChartError(f"{path}: malformed hit object (StartTime / Lane / EndTime must be numbers)") from None
        if np.isnan(lanes).any() or any(e is not None and math.isnan(e) for e in end_values):
            raise ChartError(f"{path}: a note's Lane or EndTime is not a number (NaN)")
        ends = np.array([np.nan if e is None else e for e in end_values], dtype=np.float64)
    if len(lanes) and (lanes.min() < 1 or lanes.max() > keys):
        raise ChartError(f"{path}: a note's Lane lies outside 1-{keys}")
    lanes = lanes.astype(np.int64)

    timing = []
    try:
        for tp in doc.get("TimingPoints") or []:
            bpm = float(tp.get("Bpm", 0))
            if not math.isfinite(bpm):
                raise ChartError(f"{path}: a timing point's Bpm is {bpm} (must be a finite number)")
            if bpm > 0:
                timing.append(TimingPoint(float(tp.get("StartTime", 0) or 0), 60000.0 / bpm, 4))
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise ChartError(f"{path}: malformed timing point (StartTime / Bpm must be numbers)") from None
    check_chart_budget(starts, ends, path, timing)

    audio_name = str(doc.get("AudioFile") or "")
    audio = audio_lookup(audio_name) if (audio_lookup and audio_name) else None
    preview = doc.get("SongPreviewTime")
    meta = ChartMeta(
        title=str(doc.get("Title") or ""),
        artist=str(doc.get("Artist") or ""),
        creator=str(doc.get("Creator") or ""),
        version=str(doc.get("DifficultyName") or ""),
        source_game="quaver",
        audio=(audio,) if audio is not None else (),
        path=path,
        song_key=song_key,
        set_id=_positive(doc.get("MapSetId")),
        map_id=_positive(doc.get("MapId")),
        preview_ms=float(preview) if isinstance(preview, (int, float)) and 0 <= preview <= MAX_CHART_MS else None,
        tags=str(doc.get("Tags") or ""),
    )
    return ManiaChart(keys=keys, starts=starts, ends=ends, columns=lanes - 1, timing=timing, meta=meta)


def _positive(value) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v > 0 else None


def read_qua(path: str | Path) -> ManiaChart:
    """A .qua file on disk; its audio is looked up in the same folder."""
    p = Path(path)
    data = read_bounded(p, max_bytes=MAX_QUA_BYTES, what="a .qua file")

    def lookup(name: str) -> AudioSource | None:
        return AudioSource.in_folder(p.parent, name)  # inside the chart's folder only

    return parse_qua(data, path=str(p), audio_lookup=lookup, song_key=str(p.parent))


def read_qp(path: str | Path) -> list[ManiaChart]:
    """Every chart of a .qp archive (zip-slip safe, size bounded); audio stays inside the archive."""
    p = Path(path)

    def lookup(name: str) -> AudioSource:
        return AudioSource(p, find_member(p, name) or name)

    charts = [
        parse_qua(read_member(p, name, max_bytes=MAX_QUA_BYTES), path=f"{p}::{name}", audio_lookup=lookup,
                  song_key=str(p))
        for name in chart_members(p, (".qua",))
    ]
    if not charts:
        raise ChartError(f"{p}: the archive holds no .qua chart")
    return charts
