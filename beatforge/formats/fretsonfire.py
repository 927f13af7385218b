"""Frets on Fire / Clone Hero song folders: ``song.ini`` + ``notes.mid`` (+ ``song.ogg``, ``guitar.ogg``, ...).

Each non-empty difficulty of the guitar track becomes a 5-key :class:`ManiaChart` (one column per fret).
The rules, and where they come from:

* **Difficulties**: MIDI pitches 60-64 / 72-76 / 84-88 / 96-100 are the five frets of Easy / Medium /
  Hard / Expert (Frets on Fire 1.x ``Song.noteMap``; FoF 1.0 called them Supaeasy / Easy / Medium /
  Amazing, FoF 1.2+ and Clone Hero use Easy / Medium / Hard / Expert, the names used here as ``version``).
  Other pitches (star power, forced HOPOs, tap markers, ...) are not notes. A song.ini with
  ``tutorial = 1`` yields only its Medium chart, as Frets on Fire offers tutorials in Medium alone (the
  bundled tutorial repeats the same 63 notes in three octaves).
* **Track**: a track named ``PART GUITAR`` (or ``T1 GEMS``, then the co-op / rhythm / bass / keys parts)
  when it has notes in those octaves; otherwise the first track that has (Frets on Fire's own files keep
  the notes on the only track, or on track 1 beside a tempo track). Drum, vocal, pro and event tracks are
  never taken. None at all: ChartError "no note track".
* **Notes**: ``note_on`` with velocity 0 is a ``note_off``; a ``note_on`` on a pitch already sounding ends
  the sounding note there; a note never switched off is a tap. Two notes on one fret at one tick are one.
* **Time**: ticks become milliseconds through the file's whole tempo map (``set_tempo`` of every track,
  120 BPM before the first), integrated exactly in float64 from ``ticks_per_beat``; mido's per-message
  seconds are not used.
* **Sustains**: a note is a long note when it lasts **more than half a beat** (``2 * length_ticks >
  ticks_per_beat``), else a tap. That is Frets on Fire's gameplay rule: ``Guitar.endPick`` fails a
  release only when ``time + length > pos + noteReleaseMargin`` with ``noteReleaseMargin = 60000 / bpm /
  2``, so a shorter note never has to be held. The authors of these songs relied on it: their taps last
  just under half a beat (238 ticks at 480 per beat, 45 at 96). Clone Hero's 1/3-beat cut-off (160 ticks
  at 480) would turn all of those taps into sustains.
* **Delay**: song.ini ``delay`` (ms) moves the chart later against the audio: FoF's
  ``GuitarScene.getSongPosition`` returns ``audio position - delay``, so a note at chart time t sounds at
  audio time t + delay. It is added to every note and timing point.
* **Audio**: ``song``, ``guitar`` and ``rhythm`` stems (then Clone Hero's ``bass``, ``keys``, ``vocals``,
  ``drums`` stems) found in the folder, in that order, as .ogg (or .opus / .mp3 / .wav); the audio
  frontend mixes them.

Metadata: title ``name``, ``artist``, creator ``charter`` (Clone Hero) or ``frets`` (FoF), preview from
``preview_start_time``; ``path`` is ``<folder>/notes.mid#<Difficulty>``; ``song_key`` the folder.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import MAX_CHART_MS, MAX_CHART_NOTES, MAX_SMALL_FILE_BYTES
from beatforge.errors import ChartError, message_of
from beatforge.fileio import file_in_folder, read_bounded
from beatforge.formats.osu import check_chart_budget

DIFFICULTIES: tuple[tuple[str, int], ...] = (("Easy", 60), ("Medium", 72), ("Hard", 84), ("Expert", 96))
FRETS = 5
DEFAULT_TEMPO = 500000  # microseconds per beat (120 BPM), the MIDI default before the first set_tempo
# Real notes.mid files are 10-500 KB (a Clone Hero full-band chart about 1 MB). mido builds an object per event:
# a 3 MB file of notes takes 280 MB and 10 s to parse, so the budget stays near the real sizes.
MAX_MIDI_BYTES = 4 << 20
PREFERRED_TRACKS = ("PART GUITAR", "T1 GEMS", "PART GUITAR COOP", "PART RHYTHM", "PART BASS", "PART KEYS")
_NOT_GUITAR = re.compile(r"^(PART (DRUMS|VOCALS|REAL_|GUITAR GHL|BASS GHL|KEYS_ANIM)|HARM\d|EVENTS|VENUE|BEAT)",
                         re.IGNORECASE)
STEMS = ("song", "guitar", "rhythm", "bass", "keys", "vocals", "vocals_1", "vocals_2", "drums", "drums_1",
         "drums_2", "drums_3", "drums_4")
STEM_SUFFIXES = (".ogg", ".opus", ".mp3", ".wav")


# ============================================================================================ song.ini
def read_song_ini(path: Path) -> dict[str, str]:
    """The ``[song]`` keys of a song.ini, lower-cased. Tolerant: junk lines are skipped, the section name is
    matched case-insensitively, and keys before any section (or in a lone other section) are used too."""
    try:
        raw = read_bounded(path, max_bytes=MAX_SMALL_FILE_BYTES, what="a song.ini")
    except OSError as exc:
        raise ChartError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in raw[:4096]:
        raise ChartError(f"{path}: not a song.ini text file (binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("[") and s.endswith("]"):
            current = sections.setdefault(s[1:-1].strip().lower(), {})
            continue
        m = re.match(r"([^=:]+?)\s*[=:]\s*(.*)$", s)
        if m:
            current[m.group(1).strip().lower()] = m.group(2).strip()
    if "song" in sections:
        return {**sections[""], **sections["song"]}
    others = [v for k, v in sections.items() if k]
    return {**sections[""], **(others[0] if len(others) == 1 else {})}


def _ini_float(info: dict[str, str], key: str) -> float | None:
    try:
        v = float(info.get(key, "").strip())
    except ValueError:
        return None
    return v if np.isfinite(v) else None


# ============================================================================================ MIDI
@dataclass
class _Track:
    name: str
    notes: np.ndarray  # (N, 3) int64: start tick, end tick, pitch


def _load_midi(path: Path):
    import mido  # lazy: the CLI imports this module at start-up (song folders); mido costs ~0.1 s, .mid only

    data = read_bounded(path, max_bytes=MAX_MIDI_BYTES, what="a notes.mid")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except EOFError:
        raise ChartError(f"{path}: not a readable MIDI file (truncated)") from None
    except Exception as exc:  # mido raises OSError, ValueError, KeyError, IndexError... on corrupt data
        raise ChartError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {message_of(exc, 100)})") from None
    if midi.type not in (0, 1, 2):
        raise ChartError(f"{path}: unsupported MIDI file type {midi.type}")
    if not midi.ticks_per_beat or midi.ticks_per_beat <= 0:
        raise ChartError(f"{path}: SMPTE or zero time division: not a beat-based MIDI file")
    return midi


def _scan_track(track, *, path: Path | str = "notes.mid", ticks_per_beat: int = 480,
                ) -> tuple[str, _Track, list[tuple[int, int]], list[tuple[int, int]]]:
    """A track's name, notes (paired on/off), tempo changes and time signatures (ticks absolute).

    Raises ChartError for an event past the chart budget in ticks (even at the fastest tempo, 1 us per beat, a
    tick past MAX_CHART_MS lies beyond it; mido reads a delta time of any length) or a track of too many notes.
    """
    max_ticks = int(MAX_CHART_MS * 1000) * max(int(ticks_per_beat), 1)
    name = ""
    tick = 0
    sounding: dict[tuple[int, int], int] = {}
    notes: list[tuple[int, int, int]] = []
    tempos: list[tuple[int, int]] = []
    meters: list[tuple[int, int]] = []
    for msg in track:
        tick += msg.time
        if tick > max_ticks:
            raise ChartError(f"{path}: an event at tick {tick:.6g} lies past the chart's time range (allowed up to "
                             f"{max_ticks:.6g} ticks, {MAX_CHART_MS:.0f} ms at any tempo)")
        kind = msg.type
        if kind == "note_on" or kind == "note_off":
            key = (msg.channel, msg.note)
            start = sounding.pop(key, None)
            if start is not None:
                notes.append((start, tick, msg.note))
                if len(notes) > MAX_CHART_NOTES:
                    raise ChartError(f"{path}: a track of more than {MAX_CHART_NOTES} notes (a chart's most)")
            if kind == "note_on" and msg.velocity > 0:
                sounding[key] = tick
        elif kind == "set_tempo":
            if msg.tempo > 0:
                tempos.append((tick, msg.tempo))
        elif kind == "time_signature":
            meters.append((tick, msg.numerator))
        elif kind == "track_name" and not name:
            name = msg.name.strip()
    notes.extend((start, start, pitch) for (_, pitch), start in sounding.items())  # never switched off: a tap
    arr = np.array(sorted(notes), dtype=np.int64).reshape(-1, 3)
    return name, _Track(name, arr), tempos, meters


def _in_guitar_octaves(pitches: np.ndarray) -> np.ndarray:
    rel = pitches - 60
    return (rel >= 0) & (rel < 12 * len(DIFFICULTIES)) & (rel % 12 < FRETS)


def _pick_track(tracks: list[_Track], path: Path) -> _Track:
    candidates = [t for t in tracks if _in_guitar_octaves(t.notes[:, 2]).any()]
    for wanted in PREFERRED_TRACKS:
        for t in candidates:
            if t.name.upper() == wanted:
                return t
    for t in candidates:
        if not _NOT_GUITAR.match(t.name):
            return t
    names = ", ".join(repr(t.name) for t in candidates)
    raise ChartError(f"{path}: no note track (no guitar notes at pitches 60-64/72-76/84-88/96-100"
                     + (f"; only {names})" if names else ")"))


class TempoMap:
    """Ticks -> milliseconds, integrated exactly over every tempo change."""

    def __init__(self, tempos: list[tuple[int, int]], ticks_per_beat: int) -> None:
        by_tick: dict[int, int] = {}
        for tick, tempo in sorted(tempos, key=lambda p: p[0]):  # stable: the last change on a tick wins
            by_tick[tick] = tempo
        if 0 not in by_tick:
            by_tick[0] = DEFAULT_TEMPO
        self.ticks = np.array(sorted(by_tick), dtype=np.int64)
        self.tempos = np.array([by_tick[t] for t in self.ticks.tolist()], dtype=np.float64)
        self.tpb = float(ticks_per_beat)
        us = np.diff(self.ticks) * self.tempos[:-1] / self.tpb
        self._cum_us = np.concatenate([[0.0], np.cumsum(us)])

    def ms(self, ticks: np.ndarray) -> np.ndarray:
        ticks = np.asarray(ticks, dtype=np.int64)
        k = np.clip(np.searchsorted(self.ticks, ticks, side="right") - 1, 0, None)
        return (self._cum_us[k] + (ticks - self.ticks[k]) * self.tempos[k] / self.tpb) / 1000.0


def _timing_points(tmap: TempoMap, meters: list[tuple[int, int]], delay: float) -> list[TimingPoint]:
    meter_ticks = np.array([t for t, _ in sorted(meters)], dtype=np.int64)
    meter_vals = [n for _, n in sorted(meters)]
    anchors = np.unique(np.concatenate([tmap.ticks, meter_ticks]))
    times = tmap.ms(anchors) + delay
    k = np.clip(np.searchsorted(tmap.ticks, anchors, side="right") - 1, 0, None)
    beat_ms = tmap.tempos[k] / 1000.0
    points: list[TimingPoint] = []
    for i, (t, bl) in enumerate(zip(times.tolist(), beat_ms.tolist())):
        m = np.searchsorted(meter_ticks, anchors[i], side="right") - 1
        meter = int(meter_vals[m]) if m >= 0 and meter_vals[m] > 0 else 4
        if points and abs(points[-1].beat_length - bl) < 1e-9 and points[-1].meter == meter:
            continue  # same tempo and meter: the previous section goes on
        points.append(TimingPoint(t, bl, meter))
    return points


# ============================================================================================ folder
def audio_stems(folder: Path) -> tuple[AudioSource, ...]:
    """The folder's audio stems, song / guitar / rhythm first (matched case-insensitively)."""
    out = []
    for stem in STEMS:
        for suffix in STEM_SUFFIXES:
            hit = file_in_folder(folder, stem + suffix)  # case-insensitive; never a symlink out of the folder
            if hit is not None:
                out.append(AudioSource(hit))
                break
    return tuple(out)


def read_fretsonfire(song_dir: str | Path) -> list[ManiaChart]:
    """Every non-empty difficulty of a Frets on Fire / Clone Hero song folder (see the module docstring).

    ``song_dir`` may also be the folder's ``notes.mid`` or ``song.ini``.
    """
    folder = Path(song_dir)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ChartError(f"{folder}: no such song folder")
    ini_path = file_in_folder(folder, "song.ini")
    mid_path = file_in_folder(folder, "notes.mid")
    if mid_path is None:
        raise ChartError(f"{folder}: no notes.mid in the song folder")
    if ini_path is None:
        raise ChartError(f"{folder}: no song.ini in the song folder")
    info = read_song_ini(ini_path)
    midi = _load_midi(mid_path)

    scanned = [_scan_track(t, path=mid_path, ticks_per_beat=midi.ticks_per_beat) for t in midi.tracks]
    tracks = [s[1] for s in scanned]
    track = _pick_track(tracks, mid_path)
    if midi.type == 2:  # independent sequences: only the note track's own tempo applies
        i = next(k for k, t in enumerate(tracks) if t is track)  # by identity: == compares arrays
        tempos, meters = scanned[i][2], scanned[i][3]
    else:
        tempos = [tp for s in scanned for tp in s[2]]
        meters = [m for s in scanned for m in s[3]]
    tmap = TempoMap(tempos, midi.ticks_per_beat)
    delay = _ini_float(info, "delay") or 0.0
    timing = _timing_points(tmap, meters, delay)

    tutorial = info.get("tutorial", "").strip() == "1"
    audio = audio_stems(folder)
    preview = _ini_float(info, "preview_start_time")
    charts: list[ManiaChart] = []
    for name, base in DIFFICULTIES:
        if tutorial and name != "Medium":
            continue
        notes = track.notes
        sel = notes[(notes[:, 2] >= base) & (notes[:, 2] < base + FRETS)]
        if len(sel) == 0:
            continue
        start, end, col = sel[:, 0], sel[:, 1], sel[:, 2] - base
        # One note per fret and tick: keep the longest.
        order = np.lexsort((-(end - start), col, start))
        start, end, col = start[order], end[order], col[order]
        first = np.ones(len(start), dtype=bool)
        first[1:] = (start[1:] != start[:-1]) | (col[1:] != col[:-1])
        start, end, col = start[first], end[first], col[first]
        sustain = 2 * (end - start) > midi.ticks_per_beat
        starts = tmap.ms(start) + delay
        ends = np.where(sustain, tmap.ms(end) + delay, np.nan)
        check_chart_budget(starts, ends, f"{mid_path}#{name}", timing)
        meta = ChartMeta(
            title=info.get("name", "") or folder.name,
            artist=info.get("artist", ""),
            creator=info.get("charter", "") or info.get("frets", ""),
            version=name,
            source_game="fretsonfire",
            audio=audio,
            path=f"{mid_path}#{name}",
            song_key=str(folder),
            preview_ms=preview if preview is not None and 0 < preview <= MAX_CHART_MS else None,
            od=8.0,
        )
        charts.append(ManiaChart(FRETS, starts, ends, col, list(timing), meta))
    if not charts:
        raise ChartError(f"{mid_path}: no note track (no notes in the Medium octave, 72-76, of this tutorial)")
    return charts
