"""Evaluate generated charts against human ones: ``beatforge evaluate`` and the web page's evaluation tab.

Pairing. A generated chart is compared with the reference (human) charts *of its song*:

1. **Audio content.** Charts whose audio files hold the same bytes (SHA-1 over the file, or over each stem in
   order for a Frets on Fire song) are one song. ``beatforge generate`` copies the song's audio beside its charts
   unchanged, so a generated folder pairs with the folder, archive or .qp the song came from, whatever the names.
2. **Title.** Where no reference chart has the same audio (the generated folder has none, it was re-encoded, or
   Frets on Fire stems were mixed into one file), charts whose Title metadata is equal after case-folding and
   dropping everything but letters and digits are one song.

A generated chart without a reference of its song is listed under ``unpaired`` and not scored; no pair at all is an
error. The same chart found twice on one side (``beatforge generate`` writes every chart as an .osu *and* inside the
.osz) is kept once.

Which reference. A generated chart is compared with every reference chart of its song (``all_references`` lists
each one's rhythm F1 and star rating), and its headline scores are those against the reference whose **star
rating is nearest** its own (ties: the higher rhythm F1 at 50 ms). A generator is asked for a difficulty; a song's
human charts span several, and scoring a 2-star chart against the 6-star one would count the difficulty gap as
rhythm error. The nearest difficulty is the human chart the generated one should be most like.

Metrics (per chart; the summary is their mean over charts, ``None`` where a value does not exist):

* **Rhythm precision / recall / F1 at 10 ms and 50 ms**: distinct onset times (chords collapsed, columns ignored)
  matched one-to-one (each reference onset pairs with at most one generated onset and vice versa, the largest such
  matching; see :mod:`beatforge.evaluation.matching`). Mapperatorinator counts a generated note as a hit when *any*
  reference note lies within 10 ms, so several generated notes can claim one reference note: its figures are
  looser (higher) than these. ``rhythm_offset_ms`` is the median signed gap (generated minus reference) of the
  pairs at 50 ms: a chart that is right but late shows it here.
* **Star rating error**: |generated - reference| osu! star rating (rosu-pp-py); ``sr_bias`` keeps the sign.
* **Skillset profile distance**: RMS difference of the seven skillset ratings (MSD scale) and, as
  ``skillset_shape_distance``, 1 - cosine similarity of the two profiles (the *kind* of chart, whatever its level).
* **Density and balance**: notes per second over the drain time, the correlation of the two charts' note counts in
  2 s windows (are they dense in the same places), each column's share of the notes, a balance score
  (normalised entropy of those shares, 1 = every column used equally) and the total-variation distance of the
  shares (same key count only).
* **Playability faults**: :func:`beatforge.generation.rules.playability.check_playable` with ``beatforge generate``'s
  defaults (same-column duplicates, notes inside long notes, jacks under 90 ms, long notes under 60 ms, notes
  outside the audio), counted per rule, for both charts (human charts have some too: they are the baseline).
* **Onset F1 against the audio**: the chart's onsets against librosa's onsets of its audio, one-to-one at 50 ms.
  Chart-against-chart scores cannot see a chart that is off the music (a generated chart and a reference that are
  both 60 ms late agree perfectly); this one can. ``onset_lag_ms`` is the median signed gap (chart minus audio).
* **Ranking Criteria**: :func:`beatforge.analysis.ranking_criteria.check_chart` on each chart's notes at the chart's
  own level (its difficulty name's, else its star rating's band, as ``beatforge check`` judges it): the problems
  (rules broken) and warnings (guidelines broken), for both charts, with the first issues in the editor's time
  format. The .osu file's own fields (preview point, background, HP/OD) and the set's checks are not counted: a
  Quaver or StepMania reference has none of them, so the two sides would not be counted alike.

Audio. Each chart is scored against, in order: an ``audio`` file given for its song (matched by content, or by its
file name against the song's title or audio file name; one file for a one-song evaluation needs no match), its own
audio, or its partner's. A chart with none gets no onset scores. Decoded audio is held in memory for one call
only; nothing is cached on disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from beatforge.analysis.ranking_criteria import check_chart
from beatforge.analysis.ranking_issues import SEVERITIES, chart_level
from beatforge.analysis.skillsets import skillset_ratings
from beatforge.analysis.star_rating import star_rating
from beatforge.audio import content_hash, load_audio, onset_strength
from beatforge.charts.chart import AudioSource, ManiaChart
from beatforge.constants import GENERIC_STEMS, ONSET_HOP, SAMPLE_RATE
from beatforge.errors import AudioError, BeatforgeError
from beatforge.evaluation.html import PreviewJob, criteria_line, write_report
from beatforge.evaluation.matching import f1_scores, match_pairs, note_f1, onset_times
from beatforge.formats.fretsonfire import audio_stems, read_song_ini
from beatforge.formats.loader import CHART_SUFFIXES, discover, load_charts
from beatforge.generation.rules.playability import check_playable

__all__ = ["AudioOnsets", "audio_onsets", "criteria_counts", "criteria_line", "evaluate", "load_side"]

RHYTHM_TOLS_MS = (10, 50)
ONSET_TOL_MS = 50.0
# Signed gaps are measured on pairs matched this loosely, so a chart 60 ms off still shows its lag.
LAG_WINDOW_MS = 100.0
# librosa's flux peak (512-sample window, hop 128) lands ~10-20 ms after the attack that a human chart marks (median
# 15 ms over the charts of ../shared/data/songs; cf. beatforge/generation/rules/timing.py). The detected onsets are
# moved back by this much, so that a chart late by 60 ms is as far off as one early by 60 ms.
ONSET_LATENCY_MS = 15.0
MIN_JACK_MS = 90.0  # beatforge generate's --min-jack-ms default
MIN_LN_MS = 60.0  # beatforge.generation.rules.columns' shortest long note
DENSITY_WINDOW_S = 2.0
AUDIO_SUFFIXES = (".mp3", ".ogg", ".wav", ".flac", ".opus", ".m4a", ".aac", ".webm")
REFERENCE_CHOICE = "nearest star rating (ties: higher rhythm F1 at 50 ms)"
CRITERIA_LISTED = 10  # the Ranking Criteria issues a chart's entry lists (problems first, then warnings)
MATCHING_NOTE = (
    "one-to-one: each reference onset matches at most one generated onset (a maximum matching); Mapperatorinator's "
    "count of generated notes with any reference note within 10 ms is looser"
)


# ------------------------------------------------------------------------------------------------ audio
@dataclass
class AudioOnsets:
    """What one song's audio gives the evaluation: onset times, the onset-strength curve and the length."""

    label: str
    onsets_ms: np.ndarray  # (M,) detected onsets, latency-corrected
    env_ms: np.ndarray  # (T,) times of the onset-strength frames (latency-corrected like the onsets)
    env: np.ndarray  # (T,) onset strength
    duration_ms: float


def onset_peaks(env: np.ndarray, *, sr: int, hop_length: int) -> np.ndarray:
    """Frame indices of the onsets in an onset-strength envelope: ``librosa.onset.onset_detect``'s peak picking
    with its default parameters (normalise to [0, 1]; a peak is the maximum of the 30 ms before it and at least
    0.07 above the mean of the 100 ms around it; peaks closer than 30 ms to the one kept before are dropped),
    written with numpy. Why not librosa's own: its numba ``peak_pick`` crashed pytest workers in fresh virtual
    environments (a segfault inside the compiled gufunc, not reproducible alone); this gives the same frames
    (tested against it) without numba."""
    x = np.asarray(env, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x = x - x.min()
    x = x / (x.max() + np.finfo(np.float64).tiny)
    if not x.any() or not np.isfinite(x).all():
        return np.zeros(0, dtype=np.int64)
    pre_max = int(np.ceil(0.03 * sr // hop_length))
    post_max = int(np.ceil(0.00 * sr // hop_length + 1))
    pre_avg = int(np.ceil(0.10 * sr // hop_length))
    post_avg = int(np.ceil(0.10 * sr // hop_length + 1))
    wait = int(np.ceil(0.03 * sr // hop_length))
    idx = np.arange(n)
    padded = np.pad(x, (pre_max, post_max - 1), constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, pre_max + post_max).max(axis=1)
    lo, hi = np.maximum(idx - pre_avg, 0), np.minimum(idx + post_avg, n)
    csum = np.r_[0.0, np.cumsum(x)]
    mean = (csum[hi] - csum[lo]) / (hi - lo)
    cand = np.flatnonzero((x == local_max) & (x >= mean + 0.07))
    keep, last = [], -wait - 1
    for c in cand.tolist():  # the greedy 30 ms gap: a loop over peaks (a few per second), not frames
        if c - last > wait:
            keep.append(c)
            last = c
    return np.asarray(keep, dtype=np.int64)


def audio_onsets(y: np.ndarray, *, sr: int | None = None, label: str = "") -> AudioOnsets:
    """librosa's onset strength (:func:`beatforge.audio.onset_strength`, the same numbers without librosa) and
    onsets (peak picking without backtracking) of a mono waveform.

    One envelope serves both: the short window (512 samples) keeps the flux peak within ~15 ms of the attack, where
    librosa's default 2048-sample window puts it 30-50 ms late (which made a chart shifted 60 ms late score *better*
    on some songs).
    """
    sr = sr or SAMPLE_RATE
    env = onset_strength(y, sr=sr)
    frame_ms = ONSET_HOP / sr * 1000.0
    on = onset_peaks(env, sr=sr, hop_length=ONSET_HOP) * (frame_ms / 1000.0)
    return AudioOnsets(
        label=label,
        onsets_ms=np.asarray(on, dtype=np.float64) * 1000.0 - ONSET_LATENCY_MS,
        env_ms=np.arange(len(env)) * frame_ms - ONSET_LATENCY_MS,
        env=np.asarray(env, dtype=np.float64),
        duration_ms=len(y) / sr * 1000.0,
    )


def _norm(text: str) -> str:
    """A title or file stem as pairing compares it: case-folded, letters and digits only."""
    return re.sub(r"[\W_]+", "", text.casefold())


class _AudioBank:
    """Per-call memory of audio hashes and decoded onsets (nothing on disk)."""

    def __init__(self) -> None:
        self._hash: dict[tuple[str, ...], str | None] = {}
        self._onsets: dict[str, AudioOnsets] = {}

    def hash_of(self, sources: Sequence[AudioSource]) -> str | None:
        """A hash of the sources' bytes in order, or None where any is missing (a chart without its audio)."""
        key = tuple(str(s) for s in sources)
        if not key:
            return None
        if key not in self._hash:
            try:  # the mel cache's identity of a song's audio (bytes of every stem, in order), streamed
                self._hash[key] = content_hash(tuple(sources))
            except BeatforgeError:
                self._hash[key] = None
        return self._hash[key]

    def onsets(self, sources: Sequence[AudioSource], key: str) -> AudioOnsets:
        if key not in self._onsets:
            label = " + ".join(str(s) for s in sources)
            self._onsets[key] = audio_onsets(load_audio(tuple(sources)), label=label)
        return self._onsets[key]


@dataclass
class _AudioInput:
    """One ``audio`` argument resolved: its sources, the names it answers to, and whether it was named itself."""

    path: Path
    sources: tuple[AudioSource, ...]
    names: set[str]
    explicit: bool


def _audio_inputs(paths: Sequence[str | Path]) -> list[_AudioInput]:
    """Files as given; a Frets on Fire song folder as its stems; any other folder as its audio files."""
    out: list[_AudioInput] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            names = {_norm(p.stem)} if p.stem.lower() not in GENERIC_STEMS else {_norm(p.parent.name)}
            out.append(_AudioInput(p, (AudioSource(p),), names, True))
        elif p.is_dir() and (p / "song.ini").is_file():
            stems = audio_stems(p)
            if not stems:
                raise AudioError(f"{p}: the song folder has no audio stems (song.ogg, guitar.ogg ...)")
            names = {_norm(p.name), _norm(read_song_ini(p / "song.ini").get("name", ""))} - {""}
            out.append(_AudioInput(p, stems, names, True))
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise AudioError(f"{p}: no audio files in this folder ({', '.join(AUDIO_SUFFIXES)})")
            for f in files:
                names = {_norm(f.stem)} if f.stem.lower() not in GENERIC_STEMS else {_norm(f.parent.name)}
                out.append(_AudioInput(f, (AudioSource(f),), names, False))
        else:
            raise AudioError(f"{p}: audio file or folder not found")
    return out


# ------------------------------------------------------------------------------------------------ charts
def _fingerprint(chart: ManiaChart) -> str:
    h = hashlib.sha1(f"{chart.keys}|{chart.meta.title}|{chart.meta.artist}|{chart.meta.version}".encode())
    for a in (chart.starts, chart.ends, chart.columns):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load_side(path: str | Path, what: str) -> list[ManiaChart]:
    """Every mania chart under ``path`` (a folder, searched recursively, or one chart file), each chart once.

    Loose chart files come before archives, so a chart that ``beatforge generate`` wrote both as an .osu and inside
    the .osz is reported under its .osu name. Raises BeatforgeError for a missing or chart-less path and ChartError
    for a chart that cannot be read (one bad chart stops the evaluation: its scores would be missing silently).
    """
    p = Path(path)
    if not p.exists():
        raise BeatforgeError(f"{what} charts: {p}: no such folder")
    sources = sorted(discover(p), key=lambda s: (s.kind in ("osz", "qp"), str(s.path)))
    if not sources:
        raise BeatforgeError(f"{what} charts: {p}: no chart files found (looked for {', '.join(CHART_SUFFIXES)} "
                             "and Frets on Fire song folders)")
    seen: set[str] = set()
    charts: list[ManiaChart] = []
    for src in sources:
        for c in load_charts(src):
            fp = _fingerprint(c)
            if fp not in seen:
                seen.add(fp)
                charts.append(c)
    return charts


def _label(chart: ManiaChart) -> str:
    return chart.meta.path or f"{chart.meta.title} [{chart.meta.version}]"


def _column_shares(chart: ManiaChart) -> np.ndarray:
    counts = np.bincount(chart.columns, minlength=chart.keys).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def _balance(shares: np.ndarray) -> float:
    """Normalised entropy of column shares: 1 when every column has as many notes, 0 when one has them all."""
    if len(shares) < 2:
        return 1.0
    nz = shares[shares > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(len(shares)))


def _fault_counts(lines: list[str]) -> tuple[dict[str, int], list[str]]:
    """check_playable's report as {rule: count} and its example lines (it prints ``... and N more`` per rule)."""
    counts: dict[str, int] = {}
    examples: list[str] = []
    for line in lines:
        rule, _, rest = line.partition(": ")
        m = re.fullmatch(r"\.\.\. and (\d+) more", rest)
        counts[rule] = counts.get(rule, 0) + (int(m.group(1)) if m else 1)
        if not m:
            examples.append(line)
    return counts, examples


def criteria_counts(chart: ManiaChart, stars: float | None = None, *, listed: int = CRITERIA_LISTED) -> dict:
    """The osu!mania Ranking Criteria on ``chart``'s notes (:func:`~beatforge.analysis.ranking_criteria.check_chart`
    without the .osu file) at the chart's own level: its difficulty name's, else the band of ``stars`` (its osu!
    star rating; computed when None).

    Returns ``criteria_level``, ``criteria_level_source`` ("name" or "star rating"), ``criteria_problems`` and
    ``criteria_warnings`` (counts), ``criteria_by_check`` ({check: problems + warnings}) and ``criteria_issues``:
    the first ``listed`` issues, problems first, each as ``severity``, ``check``, ``time_ms``, ``editor`` (the
    editor's ``mm:ss:mmm (ms|column,...)``, None without a time) and ``message``. Info (a check not made) is not
    counted.
    """
    choice = chart_level(chart, stars=stars)
    issues = [i for i in check_chart(chart, choice.level, stars=choice.stars) if i.severity != "info"]
    issues.sort(key=lambda i: SEVERITIES.index(i.severity))  # stable: check order, then time, within each severity
    by_check: dict[str, int] = {}
    for i in issues:
        by_check[i.check] = by_check.get(i.check, 0) + 1
    return {
        "criteria_level": choice.level, "criteria_level_source": choice.source,
        "criteria_problems": sum(i.severity == "problem" for i in issues),
        "criteria_warnings": sum(i.severity == "warning" for i in issues),
        "criteria_by_check": by_check,
        "criteria_issues": [{"severity": i.severity, "check": i.check, "time_ms": i.time_ms,
                             "editor": i.where.removesuffix(" - ") or None, "message": i.message}
                            for i in issues[:listed]],
    }


@dataclass
class _Stats:
    """What one chart gives on its own (computed once, however many charts it is compared with)."""

    chart: ManiaChart
    star_rating: float
    skillsets: dict[str, float]
    values: dict = field(default_factory=dict)


def _chart_stats(chart: ManiaChart, audio: AudioOnsets | None) -> _Stats:
    shares = _column_shares(chart)
    drain = chart.drain_seconds
    faults, examples = _fault_counts(check_playable(
        chart, audio_ms=audio.duration_ms if audio is not None else np.inf, min_jack_ms=MIN_JACK_MS,
        min_ln_ms=MIN_LN_MS, limit=3))
    sr = float(star_rating(chart))
    skills = {k: float(v) for k, v in skillset_ratings(chart).items()}
    v: dict = {
        "path": _label(chart), "title": chart.meta.title, "version": chart.meta.version, "keys": chart.keys,
        "n_notes": chart.n_notes, "n_long": chart.n_long, "ln_ratio": chart.ln_ratio,
        "star_rating": sr, "skillsets": skills,
        "nps": chart.n_notes / drain if drain > 0 else None,
        "column_shares": shares.tolist(), "column_balance": _balance(shares),
        "playability_faults": faults, "playability_fault_count": int(sum(faults.values())),
        "playability_examples": examples[:10],
        "audio": audio.label if audio is not None else None,
        "onset_precision": None, "onset_recall": None, "onset_f1": None, "onset_lag_ms": None,
        **criteria_counts(chart, sr),
    }
    if audio is not None:
        ct = onset_times(chart)
        s = f1_scores(ct, audio.onsets_ms, ONSET_TOL_MS)
        pi, ri = match_pairs(ct, audio.onsets_ms, LAG_WINDOW_MS)
        v.update({"onset_precision": s["precision"], "onset_recall": s["recall"], "onset_f1": s["f1"],
                  "onset_lag_ms": float(np.median(ct[pi] - audio.onsets_ms[ri])) if len(pi) else None})
    return _Stats(chart, sr, skills, v)


def _density_correlation(a: ManiaChart, b: ManiaChart) -> float | None:
    """Pearson correlation of note counts in DENSITY_WINDOW_S windows over both charts' span."""
    end = max(a.last_ms, b.last_ms)
    edges = np.arange(0.0, end + DENSITY_WINDOW_S * 1000.0, DENSITY_WINDOW_S * 1000.0)
    if len(edges) < 3:
        return None
    ha = np.histogram(a.starts, edges)[0].astype(np.float64)
    hb = np.histogram(b.starts, edges)[0].astype(np.float64)
    if ha.std() == 0 or hb.std() == 0:
        return None
    return float(np.corrcoef(ha, hb)[0, 1])


def _compare(g: _Stats, r: _Stats) -> tuple[dict, np.ndarray]:
    """Scores of a generated chart against one reference, and the signed gaps of its onset pairs at 50 ms."""
    gv, rv = g.values, r.values
    gt, rt = onset_times(g.chart), onset_times(r.chart)
    out: dict = {}
    for tol in RHYTHM_TOLS_MS:
        s = f1_scores(gt, rt, tol)
        out.update({f"rhythm_precision_{tol}ms": s["precision"], f"rhythm_recall_{tol}ms": s["recall"],
                    f"rhythm_f1_{tol}ms": s["f1"]})
    pi, ri = match_pairs(gt, rt, max(RHYTHM_TOLS_MS))
    gaps = gt[pi] - rt[ri]
    out["rhythm_offset_ms"] = float(np.median(gaps)) if len(gaps) else None
    same_keys = g.chart.keys == r.chart.keys
    out["note_f1_50ms"] = note_f1(g.chart, r.chart, 50.0)["f1"] if same_keys else None
    out["sr_error"] = abs(g.star_rating - r.star_rating)
    out["sr_bias"] = g.star_rating - r.star_rating
    names = [k for k in g.skillsets if k != "overall"]
    a = np.array([g.skillsets[k] for k in names])
    b = np.array([r.skillsets.get(k, 0.0) for k in names])
    out["skillset_distance"] = float(np.sqrt(np.mean((a - b) ** 2)))
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    out["skillset_shape_distance"] = max(0.0, 1.0 - float(a @ b) / denom) if denom > 0 else None
    out["nps_ratio"] = gv["nps"] / rv["nps"] if gv["nps"] and rv["nps"] else None
    out["density_correlation"] = _density_correlation(g.chart, r.chart)
    out["column_share_distance"] = (
        0.5 * float(np.abs(np.subtract(gv["column_shares"], rv["column_shares"])).sum()) if same_keys else None
    )
    return out, gaps


# ------------------------------------------------------------------------------------------------ evaluate
@dataclass
class _Entry:
    chart: ManiaChart
    audio_key: str | None
    title_key: str
    names: set[str]
    override: _AudioInput | None = None


def _entries(charts: list[ManiaChart], bank: _AudioBank) -> list[_Entry]:
    out = []
    for c in charts:
        names = {_norm(c.meta.title)}
        names |= {_norm(Path(s.name).stem) for s in c.meta.audio if Path(s.name).stem.lower() not in GENERIC_STEMS}
        out.append(_Entry(c, bank.hash_of(c.meta.audio), _norm(c.meta.title), names - {""}))
    return out


def _pair(gens: list[_Entry], refs: list[_Entry]) -> list[tuple[_Entry, list[_Entry], str]]:
    """(generated, its song's reference charts, "audio" or "title") for every generated chart with a song."""
    by_audio: dict[str, list[_Entry]] = {}
    by_title: dict[str, list[_Entry]] = {}
    for r in refs:
        if r.audio_key:
            by_audio.setdefault(r.audio_key, []).append(r)
        if r.title_key:
            by_title.setdefault(r.title_key, []).append(r)
    out = []
    for g in gens:
        if g.audio_key and g.audio_key in by_audio:
            out.append((g, by_audio[g.audio_key], "audio"))
        elif g.title_key and g.title_key in by_title:
            out.append((g, by_title[g.title_key], "title"))
    return out


def _assign_audio(inputs: list[_AudioInput], pairs: list[tuple[_Entry, list[_Entry], str]], bank: _AudioBank) -> None:
    """Give each entry of a song the ``audio`` input that names it (content, then name), or the only one."""
    entries = {id(e): e for g, refs, _ in pairs for e in (g, *refs)}
    songs = {r.audio_key or r.title_key for _, refs, _ in pairs for r in refs}
    for inp in inputs:
        key = bank.hash_of(inp.sources) if inp.explicit else None
        hit = [e for e in entries.values() if (key and e.audio_key == key) or (inp.names & e.names)]
        if not hit and inp.explicit and len(inputs) == 1 and len(songs) == 1:
            hit = list(entries.values())
        if not hit and inp.explicit:
            titles = sorted({e.chart.meta.title for e in entries.values()})
            raise AudioError(f"{inp.path}: matches no evaluated song by content or name (songs: {', '.join(titles)})")
        for e in hit:
            if e.override is None:
                e.override = inp


def _onsets_for(e: _Entry, partners: list[_Entry], bank: _AudioBank) -> AudioOnsets | None:
    if e.override is not None:
        return bank.onsets(e.override.sources, "file:" + str(e.override.path))
    for cand in (e, *partners):
        if cand.audio_key is not None:
            return bank.onsets(cand.chart.meta.audio, cand.audio_key)
    return None


def _mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def _clean(obj):
    """JSON-ready: numpy scalars to Python, NaN / infinity to None, floats to 6 decimals."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return round(f, 6) + 0.0 if np.isfinite(f) else None  # + 0.0: no -0.0
    return obj


def evaluate(
    generated: str | Path,
    reference: str | Path,
    out_dir: str | Path | None = None,
    *,
    audio: str | Path | Sequence[str | Path] | None = None,
    previews: bool = True,
    progress: bool = False,
) -> dict:
    """Score the charts under ``generated`` against the human charts under ``reference`` (see the module doc).

    Args:
        generated, reference: folders of charts (any supported format), or single chart files.
        out_dir: where to write the HTML report (index.html, report.json, plots/, previews/); None writes nothing.
            The report is built in a temporary folder beside it and renamed into place.
        audio: audio files or folders for songs whose charts lack their audio (or to score against another file).
        previews: draw a piano-roll preview of each generated chart and its chosen reference into the report.
        progress: show a progress bar (on a terminal).

    Returns:
        The report as a JSON-ready dict: summary means (``rhythm_f1_10ms``, ``rhythm_f1_50ms``, ``sr_error`` ...)
        and ``charts``, one entry per scored generated chart.

    Raises:
        BeatforgeError: a missing or empty folder, an unreadable chart or audio file, an ``audio`` file that matches
            no song, or no generated chart with a reference of its song.
    """
    audio_paths = [audio] if isinstance(audio, (str, Path)) else list(audio or [])
    inputs = _audio_inputs(audio_paths)  # fail on a missing audio path before any heavy work
    gen_charts = load_side(generated, "generated")
    ref_charts = load_side(reference, "reference")
    bank = _AudioBank()
    gens, refs = _entries(gen_charts, bank), _entries(ref_charts, bank)
    pairs = _pair(gens, refs)
    if not pairs:
        gt = sorted({c.meta.title for c in gen_charts})[:5]
        rt = sorted({c.meta.title for c in ref_charts})[:5]
        raise BeatforgeError(
            f"no generated chart shares a song with a reference chart (pairing is by audio content, then by Title; "
            f"generated titles: {', '.join(map(repr, gt))}; reference titles: {', '.join(map(repr, rt))})")
    _assign_audio(inputs, pairs, bank)
    paired = {id(g) for g, _, _ in pairs}
    unpaired = [_label(g.chart) for g in gens if id(g) not in paired]

    stats: dict[int, _Stats] = {}
    first_partner: dict[int, _Entry] = {}
    for g, refs_of, _ in pairs:
        for r in refs_of:
            first_partner.setdefault(id(r), g)

    def stats_of(e: _Entry, partners: list[_Entry]) -> _Stats:
        if id(e) not in stats:
            stats[id(e)] = _chart_stats(e.chart, _onsets_for(e, partners, bank))
        return stats[id(e)]

    rows: list[dict] = []
    chosen: list[tuple[_Entry, _Entry]] = []
    all_gaps: list[np.ndarray] = []
    bar = tqdm(pairs, desc="evaluate", unit="chart", disable=None if progress else True, leave=False)
    for g, refs_of, how in bar:
        gs = stats_of(g, refs_of)
        scored = []
        for r in refs_of:
            rs = stats_of(r, [first_partner[id(r)]])
            cmp, gaps = _compare(gs, rs)
            scored.append((abs(gs.star_rating - rs.star_rating), -cmp["rhythm_f1_50ms"], len(scored), r, rs, cmp, gaps))
        _, _, _, best, bs, cmp, gaps = min(scored, key=lambda t: t[:3])
        all_gaps.append(gaps)
        chosen.append((g, best))
        row = {"generated": gs.values["path"], **{k: v for k, v in gs.values.items() if k != "path"}}
        row.update({"reference": bs.values["path"], "paired_by": how,
                    "reference_choice": f"{REFERENCE_CHOICE}, of {len(refs_of)} reference chart"
                                        f"{'s' if len(refs_of) != 1 else ''} of the song"})
        row.update({f"reference_{k}": v for k, v in bs.values.items() if k != "path"})
        row.update(cmp)
        row["all_references"] = [
            {"reference": rs.values["path"], "version": rs.values["version"], "star_rating": rs.star_rating,
             "rhythm_f1_10ms": c["rhythm_f1_10ms"], "rhythm_f1_50ms": c["rhythm_f1_50ms"], "chosen": r is best,
             **{k: rs.values[k] for k in ("criteria_level", "criteria_problems", "criteria_warnings")}}
            for _, _, _, r, rs, c, _ in scored
        ]
        row["preview"] = row["reference_preview"] = None
        rows.append(row)
    bar.close()

    by_rule: dict[str, int] = {}
    for r in rows:
        for k, n in r["playability_faults"].items():
            by_rule[k] = by_rule.get(k, 0) + n
    by_check: dict[str, dict[str, int]] = {"": {}, "reference_": {}}
    for r in rows:
        for side, totals in by_check.items():
            for k, n in r[f"{side}criteria_by_check"].items():
                totals[k] = totals.get(k, 0) + n
    summary_keys = [f"rhythm_{m}_{t}ms" for t in RHYTHM_TOLS_MS for m in ("precision", "recall", "f1")] + [
        "rhythm_offset_ms", "note_f1_50ms", "sr_error", "sr_bias", "skillset_distance", "skillset_shape_distance",
        "nps_ratio", "density_correlation", "column_share_distance", "column_balance", "reference_column_balance",
        "onset_f1", "reference_onset_f1", "onset_lag_ms", "reference_onset_lag_ms", "star_rating",
        "reference_star_rating", "criteria_problems", "reference_criteria_problems", "criteria_warnings",
        "reference_criteria_warnings"]
    result: dict = {
        "generated": str(generated), "reference": str(reference), "report": None,
        "n_charts": len(rows), "n_generated_charts": len(gen_charts), "n_reference_charts": len(ref_charts),
        "n_songs": len({r.audio_key or r.title_key for _, refs_of, _ in pairs for r in refs_of}),
        **{k: _mean(rows, k) for k in summary_keys},
        "playability_faults": int(sum(by_rule.values())), "playability_faults_by_rule": by_rule,
        "reference_playability_faults": int(sum(r["reference_playability_fault_count"] for r in rows)),
        **{f"{side}criteria_{what}s_total": int(sum(r[f"{side}criteria_{what}s"] for r in rows))
           for side in ("", "reference_") for what in ("problem", "warning")},
        "criteria_by_check": by_check[""], "reference_criteria_by_check": by_check["reference_"],
        "charts_with_audio": sum(r["onset_f1"] is not None for r in rows),
        "unpaired": unpaired,
        "settings": {"rhythm_tolerances_ms": list(RHYTHM_TOLS_MS), "onset_tolerance_ms": ONSET_TOL_MS,
                     "onset_latency_ms": ONSET_LATENCY_MS, "min_jack_ms": MIN_JACK_MS, "min_ln_ms": MIN_LN_MS,
                     "density_window_s": DENSITY_WINDOW_S, "reference_choice": REFERENCE_CHOICE,
                     "matching": MATCHING_NOTE},
        "charts": rows,
    }
    if out_dir is not None:
        jobs: list[PreviewJob] = []
        if previews:
            drawn: dict[int, str] = {}
            for i, (row, (g, r)) in enumerate(zip(rows, chosen)):
                row["preview"] = f"previews/gen-{i:03d}.png"
                jobs.append(PreviewJob(row["preview"], g.chart, _onsets_for(g, [r], bank), "generated"))
                if id(r) not in drawn:
                    drawn[id(r)] = f"previews/ref-{len(drawn):03d}.png"
                    jobs.append(PreviewJob(drawn[id(r)], r.chart, _onsets_for(r, [g], bank), "reference"))
                row["reference_preview"] = drawn[id(r)]
        result["report"] = str(Path(out_dir) / "index.html")
        result = _clean(result)
        gaps = np.concatenate(all_gaps) if all_gaps else np.zeros(0)
        write_report(out_dir, result, jobs, gaps, progress=progress)
        return result
    return _clean(result)
