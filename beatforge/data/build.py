"""``beatforge dataset build``: song folders of any game -> a training dataset directory.

Layout of a dataset directory::

    DATASET/
      index.jsonl            one JSON object per kept chart (metadata, features, split, file names)
      summary.json           kept / skipped-by-filter / rejected counts of the last build
      charts/ab/<id>.npy     mania: (N, 3) float64 [start ms, end ms (NaN = tap), column];
                             standard: (N, 8) hit-object sequence (beatforge.charts.standard_sequence)
      audio/cd/<hash>.npy    log-mel spectrogram (128, T) float16, once per distinct audio content
      units/<key>.json       per-source results, so an interrupted build continues where it stopped

Charts are stored as their note arrays rather than as a fixed-frame tensor: the arrays are lossless,
about 5x smaller, and the training data loader makes the tensor at the configured frame length after
augmenting (rate change, column shuffle) in a few vectorised numpy operations.

Work is split into *units* (one song folder's loose files, or one archive) so that every difficulty of a
song is handled by one process, and its audio is decoded and its spectrogram computed once.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from beatforge.analysis.report import map_type
from beatforge.analysis.skillsets import skillset_ratings
from beatforge.analysis.star_rating import star_rating, star_rating_of_osu
from beatforge.audio import MelCache
from beatforge.boundary import INPUT_ERRORS
from beatforge.charts import standard_sequence
from beatforge.constants import HOP_LENGTH, MAX_CHART_NOTES, MAX_INDEX_BYTES, SAMPLE_RATE
from beatforge.errors import ArchiveError, AudioError, BeatforgeError, ChartError, message_of
from beatforge.fileio import atomic_write_bytes, atomic_write_text, file_in_folder, is_regular_file, read_text
from beatforge.formats.loader import (
    Source,
    beatmap_chart_meta,
    discover,
    load_beatmaps,
    load_charts,
    mania_from_beatmap,
)
from beatforge.formats.osu import write_osu

try:  # Unix only: the peak memory of the build's processes
    import resource
except ImportError:  # Windows
    resource = None

INDEX_NAME = "index.jsonl"
SUMMARY_NAME = "summary.json"
FORMAT_VERSION = 1
MODES = ("mania", "standard")


@dataclass
class BuildOptions:
    """What ``dataset build`` keeps. See ``beatforge dataset build --help`` for each filter's meaning."""

    songs: list[Path]
    out: Path
    mode: str = "mania"
    keys: list[int] | None = None
    min_id: int | None = None
    ids: set[int] | None = None
    status: set[str] | None = None
    status_by_set: dict[int, str] = field(default_factory=dict)
    audio: str = "required"  # required | optional | none
    workers: int = 0  # 0 = one per CPU core
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BeatforgeError(f"--mode must be one of {', '.join(MODES)}, got '{self.mode}'")
        if self.audio not in ("required", "optional", "none"):
            raise BeatforgeError(f"--audio must be required, optional or none, got '{self.audio}'")
        if self.keys:
            bad = [k for k in self.keys if not 1 <= k <= 10]
            if bad:
                raise BeatforgeError(f"--keys {bad[0]}: beatforge handles 1-10 keys")
        if not 0.0 <= self.val_fraction < 1.0:
            raise BeatforgeError("--val-fraction must be in [0, 1)")
        for folder in self.songs:
            if not Path(folder).exists():
                raise BeatforgeError(f"--songs {folder}: no such folder")
            if not Path(folder).is_dir() and not is_regular_file(folder):
                raise BeatforgeError(f"--songs {folder}: not a folder or chart file (a pipe, a device?)")
        if not 1 <= (self.workers or 1) <= 256:
            raise BeatforgeError(f"--workers {self.workers}: 1 to 256 processes")
        if self.min_id is not None and not 0 <= self.min_id < 2**31:
            raise BeatforgeError(f"--min-id {self.min_id}: a beatmap set ID, 0 to 2**31 - 1")

    def fingerprint(self) -> str:
        """Options that change what a unit produces: a changed filter invalidates the unit results."""
        payload = json.dumps(
            [
                FORMAT_VERSION,
                self.mode,
                sorted(self.keys or []),
                self.min_id,
                sorted(self.ids or []),
                sorted(self.status or []),
                sorted(self.status_by_set.items()),
                self.audio,
            ],
            sort_keys=True,
        )
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


# ====================================================================================== units
@dataclass(frozen=True)
class Unit:
    """Sources processed together: the loose chart files of one folder, or one archive."""

    key: str
    sources: tuple[Source, ...]


def make_units(sources: Iterable[Source]) -> list[Unit]:
    groups: dict[str, list[Source]] = {}
    for src in sources:
        loose = src.kind in ("osu", "qua", "stepmania", "tui")
        group = str(src.path.parent) if loose else str(src.path)
        groups.setdefault(group, []).append(src)
    units = []
    for group, srcs in sorted(groups.items()):
        stamp = [(str(s.path), _mtime_size(s.path)) for s in srcs]
        key = hashlib.sha1(json.dumps([group, stamp]).encode()).hexdigest()[:20]
        units.append(Unit(key, tuple(srcs)))
    return units


def _mtime_size(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return int(st.st_mtime), st.st_size
    except OSError:
        return (0, 0)


# ====================================================================================== filters
def _filter_reason(
    opts: BuildOptions, *, game: str, keys: int | None, set_id: int | None, map_id: int | None, status: str | None
) -> str | None:
    """Why a chart is skipped, or None to keep it. ID and status filters apply to osu! charts only:
    other games' IDs live in other number spaces."""
    if opts.keys and keys is not None and keys not in opts.keys:
        return "key count"
    if game == "osu":
        if opts.min_id is not None and (set_id is None or set_id < opts.min_id):
            return "min-id"
        if opts.ids is not None and map_id not in opts.ids:
            return "ids"
        if opts.status is not None and (status or "unknown") not in opts.status:
            return "status"
    return None


# ====================================================================================== one unit
def process_unit(unit: Unit, opts: BuildOptions) -> dict:
    """Read every chart of a unit, filter, write arrays and spectrograms. Returns the unit's result:
    ``{"records": [...], "skipped": {reason: n}, "rejected": [[path, reason], ...]}``."""
    cache = MelCache(opts.out / "audio")
    records: list[dict] = []
    skipped: Counter[str] = Counter()
    rejected: list[list[str]] = []
    audio_memo: dict[tuple, dict | str] = {}
    for src in unit.sources:
        try:
            if opts.mode == "mania":
                _mania_source(src, opts, cache, audio_memo, records, skipped, rejected)
            else:
                _standard_source(src, opts, records, skipped, rejected)
        except BeatforgeError as exc:
            rejected.append([str(src.path), _reason(exc)])
        except (OSError, MemoryError, *INPUT_ERRORS) as exc:
            # A reader bug or an unforeseen quirk (a tui JSON with "bpm": Infinity, 200,000-deep nesting) must not
            # stop a 10,000-song build, run after run: record it and go on.
            rejected.append([str(src.path), f"unreadable ({type(exc).__name__}: {message_of(exc)})"])
    return {"records": records, "skipped": dict(skipped), "rejected": rejected, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (MB), or 0 where the platform cannot tell (Windows)."""
    if resource is None:
        return 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1 << 20) if sys.platform == "darwin" else rss / 1024, 1)


def _reason(exc: BeatforgeError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def _chart_id(path: str, version: str, keys: int) -> str:
    return hashlib.sha1(f"{path}\x00{version}\x00{keys}".encode()).hexdigest()[:16]


def _meta_record(chart_id: str, mode: str, m, status: str | None) -> dict:
    """The index fields every record has, whatever its mode."""
    return {
        "id": chart_id,
        "mode": mode,
        "path": m.path,
        "source_game": m.source_game,
        "song_key": m.song_key or str(Path(m.path.split("::")[0]).parent),
        "title": m.title,
        "artist": m.artist,
        "creator": m.creator,
        "version": m.version,
        "set_id": m.set_id,
        "map_id": m.map_id,
        "status": status,
    }


def _save_array(out: Path, chart_id: str, arr: np.ndarray) -> str:
    rel = f"charts/{chart_id[:2]}/{chart_id}.npy"
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(target, buf.getvalue())
    return rel


def _mania_source(src, opts, cache, audio_memo, records, skipped, rejected) -> None:
    if src.kind in ("osu", "osz"):
        charts = []
        for bm in load_beatmaps(src):
            if bm.mode != 3:
                skipped["mode"] += 1
                continue
            try:
                charts.append(mania_from_beatmap(bm, src))
            except ChartError as exc:
                rejected.append([bm.path, _reason(exc)])
    else:
        charts = load_charts(src)
    for chart in charts:
        m = chart.meta
        status = m.status or opts.status_by_set.get(m.set_id or -1)
        reason = _filter_reason(
            opts, game=m.source_game, keys=chart.keys, set_id=m.set_id, map_id=m.map_id, status=status
        )
        if reason:
            skipped[reason] += 1
            continue
        if chart.n_notes == 0:
            rejected.append([m.path, "no notes"])
            continue
        audio_info: dict | None = None
        if opts.audio != "none":
            key = tuple(str(a) for a in m.audio)
            if key not in audio_memo:
                audio_memo[key] = _audio_features(chart, cache, opts.out)
            got = audio_memo[key]
            if isinstance(got, str):
                if opts.audio == "required":
                    rejected.append([m.path, got])
                    continue
            else:
                audio_info = got
                if chart.last_ms > (audio_info["audio_seconds"] + 2.0) * 1000.0:
                    rejected.append(
                        [
                            m.path,
                            f"notes run {chart.last_ms / 1000:.1f} s, past the audio's end "
                            f"({audio_info['audio_seconds']:.1f} s): wrong audio?",
                        ]
                    )
                    continue
        chart_id = _chart_id(m.path, m.version, chart.keys)
        notes = np.stack([chart.starts, chart.ends, chart.columns.astype(np.float64)], axis=1)
        ratings = skillset_ratings(chart)
        records.append(
            {
                **_meta_record(chart_id, "mania", m, status),
                "keys": chart.keys,
                "notes": chart.n_notes,
                "long_notes": chart.n_long,
                "ln_ratio": round(chart.ln_ratio, 4),
                "map_type": map_type(chart.ln_ratio),
                "bpm": chart.main_bpm(),
                "first_ms": chart.first_ms,
                "last_ms": chart.last_ms,
                "drain_seconds": round(chart.drain_seconds, 3),
                "star_rating": round(star_rating(chart), 4),
                "skillsets": {k: round(float(v), 3) for k, v in ratings.items() if k != "overall"},
                "overall": round(float(ratings["overall"]), 3),
                "chart_file": _save_array(opts.out, chart_id, notes),
                "audio_hash": audio_info["hash"] if audio_info else None,
                "mel_file": audio_info["mel_file"] if audio_info else None,
                "audio_seconds": audio_info["audio_seconds"] if audio_info else None,
            }
        )


def _audio_features(chart, cache, out: Path) -> dict | str:
    """The cached spectrogram of the chart's audio, or the reason there is none."""
    if not chart.meta.audio:
        return "no audio file named"
    missing = [str(a) for a in chart.meta.audio if not a.exists()]
    if missing:
        return f"missing audio ({Path(missing[0].split('::')[-1]).name})"
    try:
        digest, mel = cache.get_or_compute(list(chart.meta.audio))
    except (AudioError, ArchiveError) as exc:
        return f"audio: {_reason(exc)}"
    return {
        "hash": digest,
        "mel_file": cache.path(digest).relative_to(out).as_posix(),
        "audio_seconds": round(mel.shape[1] * HOP_LENGTH / SAMPLE_RATE, 3),
        "mel_frames": int(mel.shape[1]),
    }


def _standard_source(src, opts, records, skipped, rejected) -> None:
    if src.kind not in ("osu", "osz"):
        skipped["mode"] += 1
        return
    for bm in load_beatmaps(src):
        if bm.mode != 0:
            skipped["mode"] += 1
            continue
        m = beatmap_chart_meta(bm, src)
        status = opts.status_by_set.get(m.set_id or -1)
        reason = _filter_reason(opts, game="osu", keys=None, set_id=m.set_id, map_id=m.map_id, status=status)
        if reason:
            skipped[reason] += 1
            continue
        if not bm.hit_objects:
            rejected.append([bm.path, "no hit objects"])
            continue
        try:
            seq = standard_sequence.encode(bm)
        except ChartError as exc:
            rejected.append([bm.path, _reason(exc)])
            continue
        chart_id = _chart_id(bm.path, m.version, 0)
        records.append(
            {
                **_meta_record(chart_id, "standard", m, status),
                "objects": len(bm.hit_objects),
                "datapoints": int(len(seq)),
                "circle_size": bm.circle_size,
                "approach_rate": bm.diff("ApproachRate", 5.0),
                "overall_difficulty": bm.diff("OverallDifficulty", 5.0),
                "slider_multiplier": bm.slider_multiplier,
                "star_rating": round(star_rating_of_osu(write_osu(bm), path=bm.path), 4),
                "chart_file": _save_array(opts.out, chart_id, seq),
            }
        )


# ====================================================================================== split
def split_key(record: dict) -> str:
    """Songs are identified by artist and title (so an osu! and a Quaver set of one song stay together),
    falling back to the folder/archive when a chart has no title."""
    title = (record.get("title") or "").strip().lower()
    artist = (record.get("artist") or "").strip().lower()
    # The folder's own name, not its full path: the same library must split the same way on every machine.
    folder = Path(str(record.get("song_key") or "").split("::")[0]).name
    return f"{artist} - {title}" if title else f"folder:{folder}"


def assign_splits(records: list[dict], val_fraction: float) -> None:
    """Deterministic train/val split by song: a song is in validation when the hash of its key falls
    under ``val_fraction``; with two or more songs, at least one is held out."""
    keys = sorted({split_key(r) for r in records})
    score = {k: int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF for k in keys}
    val = {k for k in keys if score[k] < val_fraction}
    if not val and len(keys) >= 2 and val_fraction > 0:
        val = {min(keys, key=score.get)}
    for r in records:
        r["split"] = "val" if split_key(r) in val else "train"


# ====================================================================================== driver
@dataclass
class BuildSummary:
    kept: int = 0
    kept_by_split: dict[str, int] = field(default_factory=dict)
    kept_by_game: dict[str, int] = field(default_factory=dict)
    kept_by_keys: dict[str, int] = field(default_factory=dict)
    songs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_examples: list[list[str]] = field(default_factory=list)
    units: int = 0
    units_resumed: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the largest of the main process and every worker (this run's units only)


def _worker_init() -> None:
    # Ctrl-C goes to the parent, which stops the pool; workers must not print their own tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now. Why by hand: ``shutdown`` waits for running units
    (minutes of audio decoding), and a SIGTERM to the parent alone would leave them running; the pool keeps its
    processes in ``_processes`` (CPython's, stable since 3.2)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def build_dataset(opts: BuildOptions, *, progress: bool = True) -> BuildSummary:
    """Build (or continue building) the dataset described by ``opts``."""
    start = time.perf_counter()
    sources: list[Source] = []
    for folder in opts.songs:
        sources.extend(discover(folder))  # before anything is written: a bad --songs leaves no dataset folder
    opts.out.mkdir(parents=True, exist_ok=True)
    units_dir = opts.out / "units"
    units_dir.mkdir(exist_ok=True)
    units = make_units(sources)
    fp = opts.fingerprint()
    results: dict[str, dict] = {}
    todo: list[Unit] = []
    for unit in units:
        done = units_dir / f"{unit.key}-{fp}.json"
        if done.is_file():
            try:
                results[unit.key] = json.loads(done.read_text(encoding="utf-8"))
                continue
            except (ValueError, OSError, RecursionError):
                pass  # a unit written by an interrupted run: built again
        todo.append(unit)
    summary = BuildSummary(units=len(units), units_resumed=len(units) - len(todo))

    bar = tqdm(
        total=len(units),
        initial=len(units) - len(todo),
        unit="song",
        desc="dataset build",
        disable=not progress,
        dynamic_ncols=True,
    )
    workers = opts.workers or max(1, os.cpu_count() or 1)

    def record(unit: Unit, result: dict) -> None:
        atomic_write_text(units_dir / f"{unit.key}-{fp}.json", json.dumps(result))
        results[unit.key] = result
        bar.update(1)
        bar.set_postfix(charts=sum(len(r["records"]) for r in results.values()))

    try:
        if workers == 1 or len(todo) <= 1:
            for unit in todo:
                record(unit, process_unit(unit, opts))
        else:
            ctx = mp.get_context("spawn" if os.name == "nt" else "forkserver")
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
            try:
                futures = {pool.submit(process_unit, unit, opts): unit for unit in todo}
                for fut in as_completed(futures):
                    record(futures[fut], fut.result())
            except BaseException:
                _stop_pool(pool)  # Ctrl-C, SIGTERM or an error: no worker outlives the build
                raise
            pool.shutdown()
    finally:
        bar.close()

    records = [r for unit in units if unit.key in results for r in results[unit.key]["records"]]
    # The same chart found twice (e.g. a .osz and its unpacked folder) is kept once.
    seen: set[str] = set()
    unique = []
    for r in records:
        if r["id"] not in seen:
            seen.add(r["id"])
            unique.append(r)
    assign_splits(unique, opts.val_fraction)
    atomic_write_text(opts.out / INDEX_NAME, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique))

    skipped: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    examples: list[list[str]] = []
    for unit in units:
        res = results.get(unit.key, {})
        skipped.update(res.get("skipped", {}))
        for path, reason in res.get("rejected", []):
            rejected[_reason_class(reason)] += 1
            examples.append([path, reason])
    summary.kept = len(unique)
    summary.kept_by_split = dict(Counter(r["split"] for r in unique))
    summary.kept_by_game = dict(Counter(r["source_game"] for r in unique))
    summary.kept_by_keys = dict(Counter(str(r.get("keys", "-")) for r in unique))
    summary.songs = len({split_key(r) for r in unique})
    summary.skipped = dict(skipped)
    summary.rejected = dict(rejected)
    summary.rejected_examples = examples
    summary.seconds = round(time.perf_counter() - start, 2)
    fresh = [results[u.key].get("peak_rss_mb", 0.0) for u in todo if u.key in results]
    summary.peak_rss_mb = max([_peak_rss_mb(), *fresh])
    atomic_write_text(opts.out / SUMMARY_NAME, json.dumps(summary.__dict__, indent=2))
    return summary


def _reason_class(reason: str) -> str:
    """Group reasons for the summary table (a file name or number inside a message would split them)."""
    lowered = reason.lower()
    for needle, label in (
        ("missing audio", "missing audio"),
        ("no audio", "no audio file named"),
        ("audio:", "unreadable audio"),
        ("key count", "unsupported key count"),
        ("zip", "unsafe or corrupt archive"),
        ("archive", "unsafe or corrupt archive"),
        ("no notes", "no notes"),
        ("no hit objects", "no notes"),
        ("past the audio", "notes past the audio's end"),
        ("no dance-single", "no supported chart"),
        ("no note track", "no supported chart"),
        ("no osu!mania", "no supported chart"),
        ("no supported", "no supported chart"),
        ("unknown chart format", "unknown format"),
        ("unreadable", "corrupt file"),
    ):
        if needle in lowered:
            return label
    return "corrupt file"


def read_index(dataset: str | Path) -> list[dict]:
    """The records of a dataset's index."""
    path = Path(dataset) / INDEX_NAME
    if not path.is_file():
        raise BeatforgeError(f"{dataset}: not a beatforge dataset (no {INDEX_NAME}; run 'beatforge dataset build')")
    text = read_text(path, max_bytes=MAX_INDEX_BYTES, what="a dataset index")
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            rec = None
        if not isinstance(rec, dict):
            raise BeatforgeError(f"{path}: line {n} is not a JSON record (a corrupt index: rebuild it with "
                                 "'beatforge dataset build')")
        records.append(rec)
    return records


def load_array(dataset: str | Path, rel: object, *, max_rows: int = MAX_CHART_NOTES,
               max_items: int = 64 << 20) -> np.ndarray:
    """An array a dataset's index names (a chart or a spectrogram), checked before it is read: a regular file
    inside the dataset, never unpickled, whose header declares at most ``max_rows`` rows and ``max_items``
    values (a forged header could ask for terabytes)."""
    root = Path(dataset)
    path = file_in_folder(root, str(rel or ""))
    if path is None:
        raise BeatforgeError(f"{root}: the index names {str(rel)[:80]!r}, which is not a file inside the dataset")
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise BeatforgeError(f"{path}: .npy format {version} is not one beatforge writes")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0  # numpy's own parser: literals only, no code
            shape, _, dtype = read_header(fh)
        if len(shape) > 2 or (shape and shape[0] > max_rows) or dtype.hasobject or int(np.prod(shape)) > max_items:
            raise BeatforgeError(f"{path}: an array of shape {shape} ({dtype}) is not one beatforge writes")
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise BeatforgeError(f"{path}: unreadable array ({message_of(exc, 120)})") from None


def load_notes(dataset: str | Path, record: dict) -> np.ndarray:
    """A chart's stored array (:func:`load_array`)."""
    return load_array(dataset, record.get("chart_file"))
