"""The game-neutral mania chart every reader produces and every writer consumes.

A chart is three parallel numpy arrays (start ms, end ms, column) plus timing and metadata. Arrays rather
than a list of note objects, because every consumer (tensor encoding, skillset analysis, playability
checks) works column-wise and vectorised; a Python object per note would put a loop on every hot path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from beatforge.archive import member_names, read_member
from beatforge.constants import MAX_KEYS, MIN_KEYS
from beatforge.errors import ChartError
from beatforge.fileio import file_in_folder


@dataclass(frozen=True)
class AudioSource:
    """Where a chart's audio lives: a plain file, or a member of an .osz / .qp archive.

    Frets on Fire songs have several stems that are played together; a chart then carries several
    sources and the audio frontend mixes them.
    """

    path: Path
    member: str | None = None

    @classmethod
    def in_folder(cls, folder: Path, name: str) -> AudioSource | None:
        """The audio a chart names, inside the chart's own folder only (:func:`beatforge.fileio.file_in_folder`:
        never an absolute path, ``..`` or a symlink out). A name that is missing there stays a (missing) file of
        that folder, so the user hears "not found"; a name that reaches outside names nothing."""
        name = str(name).strip()
        if not name:
            return None
        found = file_in_folder(folder, name)
        if found is not None:
            return cls(found)
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if not base or base in (".", "..") or "\x00" in base:
            return None
        found = file_in_folder(folder, base)
        missing = Path(folder) / base
        try:
            if found is None and (missing.exists() or missing.is_symlink()):
                return None  # something there that is not a regular file of this folder
        except OSError:
            return None  # a name the file system cannot hold (over 255 bytes)
        return cls(found if found is not None else missing)

    def read_bytes(self) -> bytes:
        """The raw encoded bytes (read zip-slip safe and size-bounded from an archive)."""
        if self.member is None:
            return Path(self.path).read_bytes()
        return read_member(self.path, self.member)

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.read_bytes())

    @property
    def name(self) -> str:
        return self.member if self.member is not None else Path(self.path).name

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    def exists(self) -> bool:
        if self.member is None:
            return Path(self.path).is_file()
        return self.member in member_names(self.path)

    def __str__(self) -> str:
        return f"{self.path}::{self.member}" if self.member else str(self.path)


@dataclass(frozen=True)
class TimingPoint:
    """A tempo section: from ``time`` (ms) on, one beat lasts ``beat_length`` ms."""

    time: float
    beat_length: float
    meter: int = 4

    @property
    def bpm(self) -> float:
        return 60000.0 / self.beat_length


@dataclass
class ChartMeta:
    """Metadata shared by every game family (the subset .osu, .qua, .ssc and song.ini all have)."""

    title: str = ""
    artist: str = ""
    creator: str = ""
    version: str = ""  # difficulty name
    source_game: str = "osu"  # osu | quaver | stepmania | fretsonfire | tui
    audio: tuple[AudioSource, ...] = ()
    path: str = ""  # where the chart was read from (file, or archive::member)
    song_key: str = ""  # groups every difficulty of one song (train/val split is made on it)
    set_id: int | None = None
    map_id: int | None = None
    status: str | None = None  # ranked / loved / graveyard ... where the source tells
    preview_ms: float | None = None
    tags: str = ""
    # Hit-window leniency: osu! OverallDifficulty, used only when writing .osu and for the star rating.
    od: float = 8.0
    hp: float = 8.0
    # Extra [Metadata] entries written to .osu (e.g. a generated chart's AIMode / AIPrompt)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class ManiaChart:
    """A chart of ``keys`` columns. Arrays are sorted by (start, column).

    Attributes:
        keys: number of columns, 1-10.
        starts: (N,) float64, note start in ms from the audio's first sample.
        ends: (N,) float64, long-note end in ms, NaN for a tap ("rice").
        columns: (N,) int64, 0-based column.
        timing: tempo sections, sorted by time (may be empty when the source has none).
        meta: metadata.
    """

    keys: int
    starts: np.ndarray
    ends: np.ndarray
    columns: np.ndarray
    timing: list[TimingPoint] = field(default_factory=list)
    meta: ChartMeta = field(default_factory=ChartMeta)

    def __post_init__(self) -> None:
        if not isinstance(self.keys, (int, np.integer)) or not MIN_KEYS <= int(self.keys) <= MAX_KEYS:
            raise ChartError(
                f"{self.meta.path or 'chart'}: unsupported key count {self.keys} "
                f"(beatforge handles {MIN_KEYS}-{MAX_KEYS} keys)"
            )
        self.keys = int(self.keys)
        starts = np.asarray(self.starts, dtype=np.float64).reshape(-1)
        ends = np.asarray(self.ends, dtype=np.float64).reshape(-1)
        columns = np.asarray(self.columns, dtype=np.int64).reshape(-1)
        if not (len(starts) == len(ends) == len(columns)):
            raise ChartError(f"{self.meta.path}: starts, ends and columns differ in length")
        if len(columns) and (columns.min() < 0 or columns.max() >= self.keys):
            raise ChartError(f"{self.meta.path}: a note lies outside columns 0-{self.keys - 1}")
        if not np.all(np.isfinite(starts)):
            raise ChartError(f"{self.meta.path}: a note has a non-finite time")
        # An end at or before its start is a tap written with a zero-length hold.
        ends = np.where(ends > starts, ends, np.nan)
        order = np.lexsort((columns, starts))
        self.starts, self.ends, self.columns = starts[order], ends[order], columns[order]
        self.timing = sorted(self.timing, key=lambda tp: tp.time)

    # ----------------------------------------------------------------------------------- summary
    @property
    def n_notes(self) -> int:
        return len(self.starts)

    @property
    def is_long(self) -> np.ndarray:
        return ~np.isnan(self.ends)

    @property
    def n_long(self) -> int:
        return int(self.is_long.sum())

    @property
    def ln_ratio(self) -> float:
        return self.n_long / self.n_notes if self.n_notes else 0.0

    @property
    def first_ms(self) -> float:
        return float(self.starts[0]) if self.n_notes else 0.0

    @property
    def last_ms(self) -> float:
        """Time the last note (or long-note end) finishes."""
        if not self.n_notes:
            return 0.0
        return float(np.nanmax(np.fmax(self.starts, self.ends)))

    @property
    def drain_seconds(self) -> float:
        return (self.last_ms - self.first_ms) / 1000.0

    def bpms(self) -> list[float]:
        """Distinct BPMs of the timing, rounded to 0.01, in order of first use."""
        seen: list[float] = []
        for tp in self.timing:
            bpm = round(tp.bpm, 2)
            if bpm not in seen:
                seen.append(bpm)
        return seen

    def main_bpm(self) -> float | None:
        """The BPM that covers the longest stretch of the chart (osu!'s "most common BPM")."""
        if not self.timing:
            return None
        end = max(self.last_ms, self.timing[-1].time)
        spans: dict[float, float] = {}
        for i, tp in enumerate(self.timing):
            nxt = self.timing[i + 1].time if i + 1 < len(self.timing) else end
            spans[round(tp.bpm, 2)] = spans.get(round(tp.bpm, 2), 0.0) + max(nxt - tp.time, 0.0)
        return max(spans, key=spans.get) if spans else None

    # ----------------------------------------------------------------------------------- edits
    def shifted(self, offset_ms: float) -> ManiaChart:
        """The same chart with every time moved by ``offset_ms`` (timing points too)."""
        timing = [replace(tp, time=tp.time + offset_ms) for tp in self.timing]
        return ManiaChart(
            self.keys, self.starts + offset_ms, self.ends + offset_ms, self.columns, timing, replace(self.meta)
        )

    def require_notes(self) -> ManiaChart:
        if self.n_notes == 0:
            raise ChartError(f"{self.meta.path or 'chart'}: the chart has no notes")
        return self
