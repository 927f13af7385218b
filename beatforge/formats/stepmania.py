"""StepMania 5 / ITGmania simfiles: ``.sm`` and ``.ssc``.

Every playable chart of a supported style becomes one :class:`ManiaChart`; other styles (lights-cabinet,
routine, kb7, techno, ...) are skipped. The semantics follow StepMania 5's loaders (``MsdFile``,
``NotesLoaderSM``, ``NotesLoaderSSC``, ``NoteDataUtil``, ``TimingData``), so a chart's notes land where the
game puts them:

* **MSD syntax**: ``#TAG:param:param;``. ``//`` starts a comment (also inside values), ``\\`` escapes the
  next character, and a ``#`` that is the first thing on a line closes a value whose ``;`` is missing.
  A value cut off by the end of the file (a ``#NOTES`` without its ``;``) means a truncated file and is an
  error. Files are read as UTF-8 (BOM allowed), falling back to Latin-1.
* **Notes**: measures are split on ``,`` (empty pieces ignored); a measure is 4 beats split evenly over its
  non-blank lines, and each line's beat is rounded to StepMania's 48 rows per beat. ``1`` tap, ``L`` lift (a
  tap), ``2`` hold head and ``4`` roll head (long notes ending at the next ``3`` of their column), ``3``
  tail; ``M`` mine and ``F`` fake are not notes but, as in StepMania, break a pending hold; ``K`` is an
  *auto* keysound, played by the game, never hit, so it is ignored (it does not break a hold either); a
  ``[n]`` keysound index after a character is skipped. A head without its tail is dropped, as StepMania
  drops it. A row with more or fewer columns than the style is an error.
* **Timing**: time of row r = -OFFSET + the BPM integral up to r + every #STOPS before r (a stop at r
  happens after the notes of r) + every #DELAYS at or before r (a delay at r happens before them), with no
  time passing inside #WARPS. Notes inside a warp (unless a stop or delay sits on their row) or a #FAKES
  range are not judged and are dropped. In ``.sm`` files negative BPMs and stops (the old way to warp) are
  converted into warps exactly as StepMania's ``ProcessBPMsAndStops`` does; stops before beat 0 shift the
  offset. ``.ssc`` charts with their own timing tags (split timing, file version 0.7+) use their own
  ``#OFFSET`` (else the song's), ``#STOPS``/``#DELAYS``/``#WARPS``/``#FAKES`` (else none, as in StepMania),
  and their own ``#BPMS``, falling back to the song's BPMs when a chart declares timing but no BPM
  (StepMania would use 60 BPM there, which is never what the author meant).
* **Timing points** (ms): one per BPM change, plus one where the beat grid resumes after each stop, delay
  and warp (so a grid drawn from them stays on the notes), minus ones that repeat the grid before them.

Metadata: ``version`` is ``"<difficulty> <meter>"`` (e.g. ``"Hard 9"``), prefixed with the style when it is
not dance-single (``"pump-single Hard 19"``), with the chart's name appended for Edit charts; ``creator``
is the chart's ``#CREDIT``, else its description, else the song's ``#CREDIT``; ``path`` is the file plus
``#<n>`` (n = the chart's 0-based position among the file's charts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import MAX_ARCHIVE_CHARTS, MAX_CHART_MS, MAX_CHART_NOTES
from beatforge.errors import ChartError
from beatforge.fileio import decode_text, file_in_folder, read_bounded
from beatforge.formats.osu import check_chart_budget

# Key count of every supported StepsType. dance-couple is left out on purpose: it is two 4-panel charts for two
# players, and read as one 8K chart it asks one player to cover both.
STYLES: dict[str, int] = {
    "dance-single": 4,
    "dance-double": 8,
    "dance-solo": 6,
    "pump-single": 5,
    "pump-halfdouble": 6,
    "pump-double": 10,
}
_STYLE_LIST = "/".join(STYLES)

ROWS_PER_BEAT = 48
ROWS_PER_MEASURE = 4 * ROWS_PER_BEAT
FAST_BPM_WARP = 9999999.0  # StepMania treats a BPM above this as an (SM4-style) warp
VERSION_SPLIT_TIMING = 0.7  # .ssc files older than this have no per-chart timing
MAX_SIMFILE_BYTES = 64 << 20
# What a timing list may hold (beyond: a ChartError naming the value). Beats and BPMs far past any real chart (old
# warp gimmicks use BPMs of 1e8 or so), small enough that every row (48 per beat) fits an int64; seconds (offset,
# stops, delays) within the chart budget.
MAX_BEAT = 1e9
MAX_BPM = 1e12
MIN_BPM = 60000.0 / MAX_CHART_MS
MAX_SECONDS = MAX_CHART_MS / 1000.0
AUDIO_SUFFIXES = (".ogg", ".mp3", ".opus", ".oga", ".wav", ".flac")

# StepMania's OldStyleStringToDifficulty (a superset of the .ssc names).
_DIFFICULTIES = {
    "beginner": "Beginner",
    "easy": "Easy", "basic": "Easy", "light": "Easy",
    "medium": "Medium", "another": "Medium", "trick": "Medium", "standard": "Medium", "difficult": "Medium",
    "hard": "Hard", "ssr": "Hard", "maniac": "Hard", "heavy": "Hard",
    "challenge": "Challenge", "smaniac": "Challenge", "expert": "Challenge", "oni": "Challenge",
    "edit": "Edit",
}

_TIMING_TAGS = ("OFFSET", "BPMS", "STOPS", "DELAYS", "WARPS", "FAKES", "TIMESIGNATURES", "TICKCOUNTS",
                "COMBOS", "SPEEDS", "SCROLLS", "LABELS")

_TOKEN_RE = re.compile(r"//[^\n]*|\\[\s\S]?|[#:;]|[^#:;\\/]+|/")
_FLOAT_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_INT_RE = re.compile(r"\s*([-+]?\d+)")


# ============================================================================================ MSD
@dataclass
class _Value:
    params: list[str]
    terminated: bool  # closed by ';' (or by a '#' opening the next line), not by the end of the file

    @property
    def tag(self) -> str:
        return self.params[0].strip().upper()

    def param(self, i: int) -> str:
        return self.params[i] if i < len(self.params) else ""


def parse_msd(text: str) -> list[_Value]:
    """The ``#TAG:param:...;`` values of an MSD text, the way StepMania's MsdFile reads them."""
    values: list[_Value] = []
    reading = False
    params: list[str] = []
    buf: list[str] = []  # the current parameter, in pieces
    line_used = False  # the current parameter's last line has something besides spaces and tabs
    for m in _TOKEN_RE.finditer(text):
        tok = m.group()
        if tok.startswith("//"):
            continue  # comments vanish inside and outside values; the newline after them stays
        if not reading:
            if tok == "#":
                reading, params, buf, line_used = True, [], [], False
            continue  # nothing else means anything outside a value (escapes included)
        if tok == "#":
            if line_used:
                buf.append(tok)  # not the first thing on its line: an ordinary character
                continue
            # A '#' opening a line inside a value: the ';' was forgotten. Close the value, open a new one.
            params.append("".join(buf).rstrip(" \t\r\n"))
            values.append(_Value(params, True))
            params, buf, line_used = [], [], False
            continue
        if tok == ":" or tok == ";":
            params.append("".join(buf))
            buf, line_used = [], False
            if tok == ";":
                values.append(_Value(params, True))
                reading, params = False, []
            continue
        if tok[0] == "\\":
            tok = tok[1:]  # an escaped character is an ordinary one, even # : ; or a newline
        cut = max(tok.rfind("\n"), tok.rfind("\r"))
        line_used = bool(tok[cut + 1:].strip(" \t")) or (line_used and cut < 0)
        buf.append(tok)
    if reading:
        params.append("".join(buf))
        values.append(_Value(params, False))
    return values


# ============================================================================================ numbers
class _BadValue(ValueError):
    """A value of the simfile outside what it may hold: :func:`parse_stepmania` reports it as a ChartError."""


def _float(text: str, default: float | None = 0.0) -> float | None:
    """StepMania's StringToFloat: the leading number of ``text``; ``default`` when there is none.

    A number too large for a float (``1e999``) is an error, not a silent default."""
    m = _FLOAT_RE.match(text)
    if not m:
        if text.strip().lower().lstrip("+-").startswith(("nan", "inf")):
            # StepMania's strtof reads these as NaN / infinity: no playable chart has them
            raise _BadValue(f"the value {text.strip()[:30]!r} is not a finite number")
        return default
    v = float(m.group(1))
    if not math.isfinite(v):
        raise _BadValue(f"the number {m.group(1)[:30]} is too large (not finite)")
    return v


def _int(text: str, default: int) -> int:
    m = _INT_RE.match(text)
    try:
        return int(m.group(1)) if m else default
    except ValueError:  # more digits than Python converts
        return default


def _checked(pairs: list[tuple[float, float]], what: str, low: float, high: float) -> list[tuple[float, float]]:
    """``pairs`` of a timing list when every beat lies within +-MAX_BEAT and every value within [low, high]."""
    for beat, value in pairs:
        if abs(beat) > MAX_BEAT:
            raise _BadValue(f"#{what} entry at beat {beat:g} (allowed beats -{MAX_BEAT:g} to {MAX_BEAT:g})")
        if not low <= value <= high:
            raise _BadValue(f"#{what} value {value:g} at beat {beat:g} (allowed {low:g} to {high:g})")
    return pairs


def _checked_bpms(pairs: list[tuple[float, float]], *, sm: bool) -> list[tuple[float, float]]:
    """BPMs of a timing list: never 0, negative only in .sm files (StepMania's old warps), at most MAX_BPM, and
    at least MIN_BPM (a beat longer than the whole chart budget)."""
    for beat, bpm in pairs:
        if bpm == 0 or (bpm < 0 and not sm):
            raise _BadValue(f"BPM {bpm:g} at beat {beat:g} (a BPM must be positive"
                            + (", or negative for an .sm warp)" if sm else ")"))
        if abs(bpm) < MIN_BPM:
            raise _BadValue(f"BPM {bpm:g} at beat {beat:g} (allowed {MIN_BPM:.3g} to {MAX_BPM:g}: a beat within "
                            f"{MAX_CHART_MS:.0f} ms)")
    return _checked(pairs, "BPMS", -MAX_BPM, MAX_BPM)


def _shown(text: str) -> str:
    """File text as a message shows it: on one line, at most 40 characters."""
    return " ".join(text.split())[:40]


def _checked_offset(offset: float) -> float:
    if abs(offset) > MAX_SECONDS:
        raise _BadValue(f"#OFFSET {offset:g} s (allowed -{MAX_SECONDS:g} to {MAX_SECONDS:g} s)")
    return offset


def _beat(text: str) -> float | None:
    """A beat of a timing list; ``.sm`` files may also give rows (``96r`` = beat 2)."""
    t = text.strip()
    if t[-1:] in ("r", "R"):
        rows = _float(t.rstrip("rR"), None)
        return None if rows is None else rows / ROWS_PER_BEAT
    return _float(t, None)


def _pairs(text: str) -> list[tuple[float, float]]:
    """``beat=value,beat=value`` lists; malformed entries are skipped, as StepMania skips them."""
    out = []
    for item in text.split(","):
        parts = item.split("=")
        if len(parts) != 2:
            continue
        beat, value = _beat(parts[0]), _float(parts[1], None)
        if beat is not None and value is not None:
            out.append((beat, value))
    return out


def _row(beat: float) -> int:
    """StepMania's BeatToNoteRow (round half to even, like lrintf)."""
    return int(round(beat * ROWS_PER_BEAT))


def _seconds(text: str) -> float | None:
    """HHMMSSToSeconds: ``12.5``, ``1:02.5`` or ``1:01:02.5``."""
    parts = text.strip().split(":")
    total = 0.0
    for p in parts:
        v = _float(p, None)
        if v is None:
            return None
        total = total * 60.0 + v
    return total


# ============================================================================================ timing
@dataclass
class _TimingSpec:
    """The timing tags of a song or chart, in beats and seconds."""

    offset: float = 0.0
    bpms: list[tuple[float, float]] = field(default_factory=list)
    stops: list[tuple[float, float]] = field(default_factory=list)
    delays: list[tuple[float, float]] = field(default_factory=list)
    warps: list[tuple[float, float]] = field(default_factory=list)  # (beat, length in beats)
    fakes: list[tuple[float, float]] = field(default_factory=list)  # (beat, length in beats)


def _by_row(pairs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Segments keyed by row; a later segment on the same row replaces the earlier (TimingData.AddSegment)."""
    d: dict[int, float] = {}
    for beat, value in pairs:
        d[_row(beat)] = value
    rows = sorted(d)
    return np.array(rows, dtype=np.int64), np.array([d[r] for r in rows], dtype=np.float64)


def sm_bpms_and_stops(bpms: list[tuple[float, float]], stops: list[tuple[float, float]]) -> tuple[
        float, list[tuple[float, float]], list[tuple[float, float]], list[tuple[float, float]]]:
    """Convert an ``.sm`` file's BPMs and stops, which may be negative, into positive BPMs, stops and warps.

    A port of StepMania's ``SMLoader::ProcessBPMsAndStops``. Returns (offset change in seconds, bpms,
    stops, warps); zero BPMs and stops must already be gone.
    """
    bpms = sorted(bpms, key=lambda p: p[0])
    stops = sorted(stops, key=lambda p: p[0])
    out_bpms: list[tuple[float, float]] = []
    out_stops: list[tuple[float, float]] = []
    out_warps: list[tuple[float, float]] = []
    offset_change = 0.0
    i_s = 0
    while i_s < len(stops) and stops[i_s][0] < 0:
        offset_change -= stops[i_s][1]  # a stop before beat 0 only moves the chart against the music
        i_s += 1
    bpm = 0.0
    i_b = 0
    while i_b < len(bpms) and bpms[i_b][0] <= 0:
        bpm = bpms[i_b][1]
        i_b += 1
    if bpm == 0:
        if i_b == len(bpms):
            bpm = 60.0  # no BPM at all
        else:
            bpm = bpms[i_b][1]  # the first BPM after beat 0 also rules from beat 0
            i_b += 1
    if 0 < bpm <= FAST_BPM_WARP:
        out_bpms.append((0.0, bpm))

    def warping(b: float) -> bool:
        return b < 0 or b > FAST_BPM_WARP

    prev_beat = 0.0
    warp_start = -1.0
    pre_warp_bpm = 0.0
    time_ofs = 0.0
    while i_b < len(bpms) or i_s < len(stops):
        is_bpm = i_s == len(stops) or (i_b < len(bpms) and bpms[i_b][0] <= stops[i_s][0])
        beat, value = bpms[i_b] if is_bpm else stops[i_s]
        if bpm <= FAST_BPM_WARP:
            time_ofs += (beat - prev_beat) * 60.0 / bpm
            if warp_start >= 0 and bpm > 0 and time_ofs > 0:
                warp_end = beat - time_ofs * bpm / 60.0
                out_warps.append((warp_start, warp_end - warp_start))
                if bpm != pre_warp_bpm:
                    out_bpms.append((warp_start, bpm))
                warp_start = -1.0
        prev_beat = beat
        if is_bpm:
            if warp_start < 0 and warping(value):
                warp_start, pre_warp_bpm, time_ofs = beat, bpm, 0.0
            elif warp_start < 0:
                out_bpms.append((beat, value))
            bpm = value
            i_b += 1
        else:
            if warp_start < 0 and value < 0:
                warp_start, pre_warp_bpm, time_ofs = beat, bpm, value
            elif warp_start < 0:
                out_stops.append((beat, value))
            else:
                time_ofs += value
                if value > 0 and time_ofs > 0:
                    out_warps.append((warp_start, beat - warp_start))
                    out_stops.append((beat, time_ofs))
                    if warping(bpm):
                        warp_start, time_ofs = beat, 0.0
                    else:
                        if bpm != pre_warp_bpm:
                            out_bpms.append((warp_start, bpm))
                        warp_start = -1.0
            i_s += 1
    if warp_start >= 0:
        warp_end = 99999999.0 if warping(bpm) else prev_beat - time_ofs * bpm / 60.0
        out_warps.append((warp_start, warp_end - warp_start))
        if bpm != pre_warp_bpm and 0 < bpm <= FAST_BPM_WARP:
            out_bpms.append((warp_start, bpm))
    return offset_change, out_bpms, out_stops, [w for w in out_warps if w[1] > 0]


class Clock:
    """Row -> seconds for one chart's timing, vectorised (StepMania's GetElapsedTimeFromBeat)."""

    def __init__(self, spec: _TimingSpec) -> None:
        self.offset = spec.offset
        rows, bpms = _by_row([(b, v) for b, v in spec.bpms if b >= 0 and 0 < v])
        if len(rows) == 0:
            rows, bpms = np.array([0], dtype=np.int64), np.array([60.0])
        rows[0] = 0  # the first BPM rules from beat 0 on (TimingData::TidyUpData)
        self.bpm_rows, self.bpms = rows, bpms
        spr = 60.0 / (bpms * ROWS_PER_BEAT)  # seconds per row
        self._spr = spr
        self._bpm_t = np.concatenate([[0.0], np.cumsum(np.diff(rows) * spr[:-1])])
        self.stop_rows, stop_s = _by_row([(b, v) for b, v in spec.stops if b >= 0 and v > 0])
        self._stop_cum = np.concatenate([[0.0], np.cumsum(stop_s)])
        self._stop_s = stop_s
        self.delay_rows, delay_s = _by_row([(b, v) for b, v in spec.delays if b >= 0 and v > 0])
        self._delay_cum = np.concatenate([[0.0], np.cumsum(delay_s)])
        self._delay_s = delay_s
        self.warp_rows, warp_len = _by_row([(b, v) for b, v in spec.warps if b >= 0 and v > 0])
        self._warp_end_beat = self.warp_rows / ROWS_PER_BEAT + warp_len
        self.fake_rows, fake_len = _by_row([(b, v) for b, v in spec.fakes if b >= 0 and v > 0])
        self._fake_end_beat = self.fake_rows / ROWS_PER_BEAT + fake_len
        # Time stands still from a warp's start to its destination; overlapping warps chain (the
        # destination is the furthest one reached while warping).
        merged: list[list[int]] = []
        for start, end_beat in zip(self.warp_rows.tolist(), self._warp_end_beat.tolist()):
            end = _row(end_beat)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            elif end > start:
                merged.append([start, end])
        self.warp_spans = np.array(merged, dtype=np.int64).reshape(-1, 2)
        lost = self._bpm_time(self.warp_spans[:, 1]) - self._bpm_time(self.warp_spans[:, 0])
        self._warp_cum = np.concatenate([[0.0], np.cumsum(lost)])

    def _bpm_time(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        k = np.clip(np.searchsorted(self.bpm_rows, rows, side="right") - 1, 0, None)
        return self._bpm_t[k] + (rows - self.bpm_rows[k]) * self._spr[k]

    def bpm_at(self, rows: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(self.bpm_rows, rows, side="right") - 1, 0, None)
        return self.bpms[k]

    def elapsed(self, rows: np.ndarray) -> np.ndarray:
        """Seconds from beat 0 to the notes of ``rows`` (before the offset)."""
        rows = np.asarray(rows, dtype=np.int64)
        t = self._bpm_time(rows)
        if len(self.warp_spans):
            w = np.searchsorted(self.warp_spans[:, 0], rows, side="right") - 1
            inside = w >= 0
            wi = np.clip(w, 0, None)
            part = self._bpm_time(np.minimum(rows, self.warp_spans[wi, 1])) - self._bpm_time(self.warp_spans[wi, 0])
            t = t - np.where(inside, self._warp_cum[wi] + part, 0.0)
        t = t + self._stop_cum[np.searchsorted(self.stop_rows, rows, side="left")]  # stops strictly before
        t = t + self._delay_cum[np.searchsorted(self.delay_rows, rows, side="right")]  # delays up to the row
        return t

    def seconds(self, rows: np.ndarray) -> np.ndarray:
        return self.elapsed(rows) - self.offset

    def _exactly(self, seg_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if len(seg_rows) == 0:
            return np.zeros(len(rows), dtype=bool)
        i = np.clip(np.searchsorted(seg_rows, rows), 0, len(seg_rows) - 1)
        return seg_rows[i] == rows

    def _in_range(self, seg_rows: np.ndarray, end_beats: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # StepMania looks only at the last segment starting at or before the row.
        if len(seg_rows) == 0:
            return np.zeros(len(rows), dtype=bool)
        i = np.searchsorted(seg_rows, rows, side="right") - 1
        ic = np.clip(i, 0, None)
        return (i >= 0) & (rows / ROWS_PER_BEAT < end_beats[ic])

    def judgeable(self, rows: np.ndarray) -> np.ndarray:
        """False for rows inside a warp (unless a stop or delay sits on the row) or a fake range."""
        rows = np.asarray(rows, dtype=np.int64)
        warped = self._in_range(self.warp_rows, self._warp_end_beat, rows)
        if len(self.stop_rows) or len(self.delay_rows):
            warped &= ~(self._exactly(self.stop_rows, rows) | self._exactly(self.delay_rows, rows))
        return ~warped & ~self._in_range(self.fake_rows, self._fake_end_beat, rows)

    def timing_points(self) -> list[TimingPoint]:
        """A BPM section wherever the beat grid changes: BPM changes, and after stops, delays and warps."""
        anchors = np.unique(np.concatenate([self.bpm_rows, self.stop_rows, self.delay_rows, self.warp_spans[:, 1]]))
        if len(self.warp_spans):  # no grid inside a warp: it resumes at the warp's end
            w = np.searchsorted(self.warp_spans[:, 0], anchors, side="right") - 1
            wi = np.clip(w, 0, None)
            anchors = anchors[~((w >= 0) & (anchors < self.warp_spans[wi, 1]))]
        if len(anchors) == 0:
            return []
        stop_here = np.zeros(len(anchors))
        if len(self.stop_rows):
            i = np.clip(np.searchsorted(self.stop_rows, anchors), 0, len(self.stop_rows) - 1)
            stop_here = np.where(self.stop_rows[i] == anchors, self._stop_s[i], 0.0)
        times = (self.seconds(anchors) + stop_here) * 1000.0
        beat_ms = 60000.0 / self.bpm_at(anchors)
        points: list[TimingPoint] = []
        for t, bl in zip(times.tolist(), beat_ms.tolist()):
            if points and abs(points[-1].beat_length - bl) < 1e-9:
                beats = (t - points[-1].time) / bl
                if abs(beats - round(beats)) < 1e-6:
                    continue  # the previous section's grid already has a beat here
            points.append(TimingPoint(t, bl, 4))
        return points


# ============================================================================================ notes
@dataclass
class _Notes:
    rows: np.ndarray  # (N,) head rows
    cols: np.ndarray
    end_rows: np.ndarray  # -1 for taps


def parse_note_rows(data: str, keys: int, *, where: str) -> _Notes:
    """The notes of a ``#NOTES`` block (comments already removed), with holds paired."""
    pending: list[int] = [-1] * keys  # index of an open hold head per column, -1 when none
    last_row: list[int] = [-1] * keys  # row of the last note-like object per column (same-row overwrite)
    last_idx: list[int] = [-1] * keys
    rows: list[int] = []
    cols: list[int] = []
    ends: list[int] = []
    alive: list[bool] = []
    measure = -1
    for chunk in data.split(","):
        if chunk == "":
            continue  # StepMania ignores empty pieces: ",," is one measure break
        measure += 1
        lines = [ln.strip("\r\n\t ") for ln in chunk.split("\n")]
        lines = [ln for ln in lines if ln]
        n = len(lines)
        for li, line in enumerate(lines):
            if "[" in line:
                line = re.sub(r"\[[^\]]*\]?", "", line)  # keysound indices
            if len(line) != keys:
                raise ChartError(f"{where}: measure {measure} has a row of {len(line)} columns ({line[:24]!r}), "
                                 f"expected {keys}")
            if not line.strip("0"):
                continue
            row = measure * ROWS_PER_MEASURE + int(round(li * ROWS_PER_MEASURE / n))
            for col, ch in enumerate(line):
                if ch == "0" or ch == "K":
                    continue  # empty, or an auto keysound (played by the game, never hit)
                if ch == "3":
                    j = pending[col]
                    if j >= 0:
                        ends[j] = row
                        pending[col] = -1
                    continue  # an unmatched tail is ignored
                if last_row[col] == row and last_idx[col] >= 0:
                    alive[last_idx[col]] = False  # two lines rounded onto one row: the later wins
                pending[col] = -1  # any other object breaks a pending hold (its head is then dropped)
                last_row[col] = row
                last_idx[col] = -1
                if ch in "124L":
                    last_idx[col] = len(rows)
                    if ch in "24":
                        pending[col] = len(rows)
                    rows.append(row)
                    cols.append(col)
                    ends.append(-1 if ch in "1L" else -2)  # -2: an open head
                    alive.append(True)
            if len(rows) > MAX_CHART_NOTES:
                raise ChartError(f"{where}: more than {MAX_CHART_NOTES} notes (the most a chart may hold)")
                # M (mine), F (fake) and unknown characters are not notes
    r = np.array(rows, dtype=np.int64)
    c = np.array(cols, dtype=np.int64)
    e = np.array(ends, dtype=np.int64)
    keep = np.array(alive, dtype=bool) & (e != -2)  # heads that never met their tail are dropped
    return _Notes(r[keep], c[keep], e[keep])


# ============================================================================================ reading
@dataclass
class _ChartBlock:
    index: int
    style: str
    description: str = ""
    chart_name: str = ""
    difficulty: str = ""
    meter: str = ""
    credit: str = ""
    notes: str | None = None
    music: str | None = None
    own_timing: dict[str, str] = field(default_factory=dict)
    song_offset: float = 0.0  # the song's #OFFSET when the chart began (.ssc split timing default)


def _decode(data: bytes, path: str) -> str:
    return decode_text(data, path=path, what="a StepMania simfile")


def _difficulty(text: str) -> str:
    t = text.strip()
    return _DIFFICULTIES.get(t.lower(), t or "Edit")


def _song_timing(song: dict[str, str], *, sm: bool) -> _TimingSpec:
    spec = _TimingSpec(offset=_checked_offset(_float(song.get("OFFSET", "0")) or 0.0))
    bpms = _checked_bpms(_pairs(song.get("BPMS", "")), sm=sm)
    stops = [(b, v) for b, v in _checked(_pairs(song.get("STOPS", song.get("FREEZES", ""))), "STOPS",
                                         -MAX_SECONDS, MAX_SECONDS) if v != 0]
    spec.delays = _checked(_pairs(song.get("DELAYS", "")), "DELAYS", -MAX_SECONDS, MAX_SECONDS)
    if sm:
        change, spec.bpms, spec.stops, spec.warps = sm_bpms_and_stops(bpms, stops)
        spec.offset += change
    else:
        spec.bpms, spec.stops = bpms, stops
        spec.warps = _ssc_warps(song.get("WARPS", ""), _float(song.get("VERSION", ""), None))
        spec.fakes = _checked(_pairs(song.get("FAKES", "")), "FAKES", -MAX_BEAT, MAX_BEAT)
    return spec


def _ssc_warps(text: str, version: float | None) -> list[tuple[float, float]]:
    out = []
    for beat, value in _checked(_pairs(text), "WARPS", -MAX_BEAT, MAX_BEAT):
        if version is not None and version < VERSION_SPLIT_TIMING and value > beat:
            out.append((beat, value - beat))  # early .ssc files gave the warp's destination beat
        elif value > 0:
            out.append((beat, value))
    return out


def _chart_timing(block: _ChartBlock, song_spec: _TimingSpec, version: float | None) -> _TimingSpec:
    own = block.own_timing
    offset = (_float(own["OFFSET"]) or 0.0) if "OFFSET" in own else block.song_offset
    spec = _TimingSpec(offset=_checked_offset(offset))
    bpms = _checked_bpms(_pairs(own.get("BPMS", "")), sm=False)
    spec.bpms = bpms or song_spec.bpms
    spec.stops = _checked(_pairs(own.get("STOPS", "")), "STOPS", -MAX_SECONDS, MAX_SECONDS)
    spec.delays = _checked(_pairs(own.get("DELAYS", "")), "DELAYS", -MAX_SECONDS, MAX_SECONDS)
    spec.warps = _ssc_warps(own.get("WARPS", ""), version)
    spec.fakes = _checked(_pairs(own.get("FAKES", "")), "FAKES", -MAX_BEAT, MAX_BEAT)
    return spec


def _find_audio(folder: Path, name: str) -> AudioSource | None:
    """#MUSIC inside the simfile's folder only (never a file elsewhere on disk: see beatforge.fileio)."""
    name = name.strip()
    hit = file_in_folder(folder, name) if name else None
    if hit is not None:
        return AudioSource(hit)
    # StepMania falls back to the folder's audio file when #MUSIC is empty or names a missing file.
    children = sorted(folder.iterdir()) if folder.is_dir() else []
    found = [h for c in children if c.suffix.lower() in AUDIO_SUFFIXES and (h := file_in_folder(folder, c.name))]
    if len(found) == 1 or (found and not name):
        return AudioSource(found[0])
    return AudioSource.in_folder(folder, name)  # named but missing: "not found"; reaching outside: nothing


def read_stepmania(path: str | Path) -> list[ManiaChart]:
    """Every chart of a supported style in an ``.sm`` / ``.ssc`` file (see the module docstring)."""
    p = Path(path)
    data = read_bounded(p, max_bytes=MAX_SIMFILE_BYTES, what="a StepMania simfile")
    return parse_stepmania(data, path=str(p), song_dir=p.parent)


def parse_stepmania(data: bytes | str, *, path: str, ssc: bool | None = None,
                    song_dir: Path | None = None) -> list[ManiaChart]:
    """The supported charts of simfile bytes or text. ``song_dir`` resolves the audio (none when None).

    ``ssc`` picks the dialect; by default it is read from the content (``#NOTEDATA`` blocks mean .ssc), so a
    simfile saved under the other suffix still loads.

    Raises:
        ChartError: not a simfile, truncated, a zero (or, in .ssc, negative) BPM, a number out of range, or a
            chart past the chart budget (constants.MAX_CHART_MS, MAX_CHART_NOTES).
    """
    try:
        return _parse_stepmania(data, path=path, ssc=ssc, song_dir=song_dir)
    except _BadValue as exc:
        raise ChartError(f"{path}: {exc}") from None


def _parse_stepmania(data: bytes | str, *, path: str, ssc: bool | None, song_dir: Path | None) -> list[ManiaChart]:
    text = _decode(data, path) if isinstance(data, bytes) else data
    values = parse_msd(text)
    if not values:
        raise ChartError(f"{path}: not a StepMania simfile (no #TAG:value; entries)")
    if ssc is None:
        ssc = any(v.tag == "NOTEDATA" for v in values)
    song: dict[str, str] = {}
    blocks: list[_ChartBlock] = []
    current: _ChartBlock | None = None
    version: float | None = None
    for value in values:
        tag = value.tag
        if ssc:
            if tag == "VERSION":
                version = _float(value.param(1), None)
            if current is None:
                if tag == "NOTEDATA":
                    current = _ChartBlock(len(blocks), "", song_offset=_float(song.get("OFFSET", "0")) or 0.0)
                elif len(value.params) > 1:
                    song[tag] = value.param(1)
                continue
            if tag in ("NOTES", "NOTES2"):
                if not value.terminated:
                    raise ChartError(f"{path}: truncated: chart {current.index} ({_shown(current.style) or '?'}) "
                                     f"has no closing ';' after its #NOTES")
                current.notes = value.param(1)
                blocks.append(current)
                current = None
            elif tag == "STEPSTYPE":
                current.style = value.param(1).strip().lower()
            elif tag == "DESCRIPTION":
                current.description = value.param(1).strip()
            elif tag == "CHARTNAME":
                current.chart_name = value.param(1).strip()
            elif tag == "DIFFICULTY":
                current.difficulty = value.param(1)
            elif tag == "METER":
                current.meter = value.param(1)
            elif tag == "CREDIT":
                current.credit = value.param(1).strip()
            elif tag == "MUSIC":
                current.music = value.param(1)
            elif tag in _TIMING_TAGS and (version is None or version >= VERSION_SPLIT_TIMING):
                current.own_timing[tag] = value.param(1)
        else:
            if tag in ("NOTES", "NOTES2"):
                if not value.terminated:
                    raise ChartError(f"{path}: truncated: chart {len(blocks)} has no closing ';' after its #NOTES")
                if len(value.params) < 7:
                    raise ChartError(f"{path}: chart {len(blocks)} has {len(value.params) - 1} #NOTES fields, "
                                     f"expected 6 (type:description:difficulty:meter:radar:notes)")
                _, style, desc, diff, meter, _radar, notes = value.params[:7]
                blocks.append(_ChartBlock(len(blocks), style.strip().lower(), description=desc.strip(),
                                          difficulty=diff, meter=meter, notes=notes))
            elif len(value.params) > 1:
                song[tag] = value.param(1)
    if current is not None:
        raise ChartError(f"{path}: truncated: the file ends inside chart {current.index} "
                         f"({_shown(current.style) or 'no #STEPSTYPE'}) before its #NOTES")
    if not blocks:
        raise ChartError(f"{path}: no #NOTES chart in the file (not a StepMania simfile, or truncated)")
    if len(blocks) > MAX_ARCHIVE_CHARTS:
        raise ChartError(f"{path}: {len(blocks)} charts in one simfile, more than the {MAX_ARCHIVE_CHARTS} one song "
                         "may hold")

    song_spec = _song_timing(song, sm=not ssc)
    song_clock: Clock | None = None
    title = song.get("TITLE", "").strip() or song.get("TITLETRANSLIT", "").strip()
    artist = song.get("ARTIST", "").strip() or song.get("ARTISTTRANSLIT", "").strip()
    preview = _seconds(song.get("SAMPLESTART", ""))
    audio_memo: dict[str, AudioSource | None] = {}
    charts: list[ManiaChart] = []
    skipped_styles: list[str] = []
    empty = 0
    for block in blocks:
        keys = STYLES.get(block.style)
        if keys is None:
            skipped_styles.append(_shown(block.style) or "no style")
            continue
        notes_text = block.notes or ""
        where = f"{path}#{block.index}"
        notes = parse_note_rows(notes_text, keys, where=where)
        if block.own_timing:
            clock = Clock(_chart_timing(block, song_spec, version))
        else:
            song_clock = song_clock or Clock(song_spec)
            clock = song_clock
        keep = clock.judgeable(notes.rows)
        rows, cols, end_rows = notes.rows[keep], notes.cols[keep], notes.end_rows[keep]
        if len(rows) == 0:
            empty += 1
            continue
        with np.errstate(over="ignore", invalid="ignore"):  # a BPM of 1e-300: inf, which the budget refuses
            starts = clock.seconds(rows) * 1000.0
            ends = np.where(end_rows >= 0, clock.seconds(np.maximum(end_rows, 0)) * 1000.0, np.nan)
            timing = clock.timing_points()
        check_chart_budget(starts, ends, where, timing)

        difficulty = _difficulty(block.difficulty)
        meter = _int(block.meter, 1)
        version_name = f"{difficulty} {meter}"
        if block.style != "dance-single":
            version_name = f"{block.style} {version_name}"
        name = block.chart_name or block.description
        if difficulty == "Edit" and name:
            version_name = f"{version_name} {name}"
        music = block.music if block.music is not None else song.get("MUSIC", "")
        if song_dir is not None and music not in audio_memo:
            audio_memo[music] = _find_audio(song_dir, music)
        audio = audio_memo.get(music) if song_dir is not None else None
        meta = ChartMeta(
            title=title,
            artist=artist,
            creator=block.credit or block.description or song.get("CREDIT", "").strip(),
            version=version_name,
            source_game="stepmania",
            audio=(audio,) if audio is not None else (),
            path=where,
            song_key=str(song_dir) if song_dir is not None else path,
            preview_ms=preview * 1000.0 if preview is not None and 0 < preview <= MAX_SECONDS else None,
            od=8.0,
        )
        charts.append(ManiaChart(keys, starts, ends, cols, timing, meta))
    if not charts:
        if empty:
            raise ChartError(f"{path}: every {_STYLE_LIST} chart is empty")
        found = ", ".join(sorted(set(skipped_styles))[:8]) or "none"
        raise ChartError(f"{path}: no {_STYLE_LIST} chart (found {found})")
    return charts
