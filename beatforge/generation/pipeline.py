"""``beatforge generate`` / ``beatforge.generate_mania``: a song in, playable osu!mania charts out.

Audio -> log-mel -> (1) the latent diffusion model samples one chart tensor per requested chart, all in one batch,
with the prompt and classifier-free guidance; (2) the rhythm model rates every 11.6 ms of the song as a note onset, at
a range of densities; (3) timing: given, taken from a reference chart, or estimated from the audio (BPM) and phase-
aligned to the rhythm model's onsets; (4) for each chart, the note density is searched (bisection) so that the
chart's osu! star rating (rosu-pp) meets the request: at each density the N strongest onsets get columns, chords
and long notes from the sampled tensor (:mod:`beatforge.generation.assign`), are snapped to the beat grid and made
playable; (5) .osu files and one .osz with the audio.

Why two models: rhythm is what a chart must get right first, and the one part that follows the audio sample by
sample; a 0.26 M-parameter convolution network learns it from a few dozen charts in minutes (held-out rhythm F1
0.8-0.9, see models/README.md), where the latent diffusion model reached 0.3. The diffusion model keeps what it is
good at: the prompt-conditioned choice of patterns, chords and long notes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from beatforge import __version__
from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.errors import BeatforgeError

MAX_COUNT = 32
SR_RANGE = (0.5, 8.0)  # human Beginner charts rate 0.6-0.9 (rosu-pp-py)
STYLES = ("ranked", "loved", "graveyard")  # Mug Diffusion's style choice: the rank status to imitate
MSD_RANGE = (5.0, 35.0)
MAX_AUDIO_S = 20 * 60.0
MIN_AUDIO_S = 5.0
SKILLSETS = ("stream", "jumpstream", "handstream", "stamina", "jackspeed", "chordjack", "technical")


GENERIC_STEMS = {"audio", "song", "music", "track", "bgm"}


@dataclass
class Song:
    """What a song argument names: its audio source(s) (several stems for a Frets on Fire folder), and a title and
    artist for the charts' metadata."""

    sources: tuple
    title: str
    artist: str


def resolve_song(path: str | Path, *, title: str | None = None, artist: str | None = None) -> Song:
    """An audio file, or a Frets on Fire song folder (its stems are mixed, its song.ini names it)."""
    from beatforge.charts.chart import AudioSource
    from beatforge.errors import AudioError

    p = Path(path)
    if p.is_dir():
        if not (p / "song.ini").is_file():
            raise AudioError(f"{p}: a folder; give an audio file, or a Frets on Fire song folder (with song.ini)")
        from beatforge.formats.fretsonfire import audio_stems, read_song_ini

        stems = audio_stems(p)
        if not stems:
            raise AudioError(f"{p}: the song folder has no audio stems (song.ogg, guitar.ogg ...)")
        ini = read_song_ini(p / "song.ini")
        return Song(tuple(stems), title or ini.get("name") or p.name, artist or ini.get("artist") or "Unknown")
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    name = p.stem if p.stem.lower() not in GENERIC_STEMS else (p.parent.name or p.stem)
    return Song((AudioSource(p),), title or name, artist or "Unknown")


@dataclass
class _Fit:
    chart: ManiaChart
    sr: float
    density: float


def _check_args(keys, srs, count, steps, cfg, ln_ratio, map_type, patterns, msd, min_jack_ms, style=None) -> None:
    if not 1 <= keys <= 10:
        raise BeatforgeError(f"--keys {keys}: must be 1-10")
    for s in srs:
        if not SR_RANGE[0] <= s <= SR_RANGE[1]:
            raise BeatforgeError(f"--sr {s:g}: star rating must be between {SR_RANGE[0]:g} and {SR_RANGE[1]:g}")
    if not 1 <= count * len(srs) <= MAX_COUNT:
        raise BeatforgeError(f"--count {count} x {len(srs)} star ratings: at most {MAX_COUNT} charts per run")
    if not 1 <= steps <= 1000:
        raise BeatforgeError(f"--steps {steps}: must be 1-1000")
    if not 0.0 <= cfg <= 30.0:
        raise BeatforgeError(f"--cfg {cfg:g}: must be between 0 and 30")
    if ln_ratio is not None and not 0.0 <= ln_ratio <= 1.0:
        raise BeatforgeError(f"--ln-ratio {ln_ratio:g}: must be between 0 and 1")
    if map_type is not None and map_type not in ("rice", "hybrid", "ln"):
        raise BeatforgeError(f"--map-type {map_type}: must be rice, hybrid or ln")
    if style is not None and style not in STYLES:
        raise BeatforgeError(f"--style {style}: must be one of {', '.join(STYLES)}")
    for name, way in (patterns or {}).items():
        if name not in SKILLSETS:
            raise BeatforgeError(f"--pattern {name}: unknown skillset (known: {', '.join(SKILLSETS)})")
        if way not in ("more", "less"):
            raise BeatforgeError(f"--pattern {name}={way}: must be more or less")
    for name, v in (msd or {}).items():
        if name not in (*SKILLSETS, "overall"):
            raise BeatforgeError(f"--msd {name}: unknown skillset (known: overall, {', '.join(SKILLSETS)})")
        if not MSD_RANGE[0] <= v <= MSD_RANGE[1]:
            raise BeatforgeError(f"--msd {name}={v:g}: must be between {MSD_RANGE[0]:g} and {MSD_RANGE[1]:g}")
    if not 0.0 <= min_jack_ms <= 1000.0:
        raise BeatforgeError(f"--min-jack-ms {min_jack_ms:g}: must be between 0 and 1000")


def _prompt(sr: float, ln_ratio, map_type, patterns, msd, style=None) -> dict[str, Any]:
    p: dict[str, Any] = {"sr": sr}
    if style is not None:  # Mug Diffusion's "style": the rank status of the charts the model should imitate
        p["rank_status"] = style
    if ln_ratio is not None:
        p["ln_ratio"] = ln_ratio
    if map_type is not None:
        p["map_type"] = map_type
    for name, way in (patterns or {}).items():
        p[f"{name}_flag"] = way == "more"
    for name, v in (msd or {}).items():
        p[name] = float(v)
    return p


def generate_mania(
    audio_path: str | Path,
    *,
    keys: int = 4,
    sr: list[float] | float = 4.0,
    count: int = 1,
    steps: int = 30,
    cfg: float = 5.0,
    seed: int | None = None,
    ckpt: Any = None,
    rhythm_ckpt: Any = None,
    ln_ratio: float | None = None,
    map_type: str | None = None,
    style: str | None = None,
    patterns: dict[str, str] | None = None,
    msd: dict[str, float] | None = None,
    bpm: float | None = None,
    offset: float | None = None,
    timing_from: str | Path | None = None,
    min_jack_ms: float = 90.0,
    snap: bool = True,
    fit_sr: bool = True,
    title: str | None = None,
    artist: str | None = None,
    progress: bool = False,
) -> list[ManiaChart]:
    """Charts for a song: ``count`` per star rating in ``sr``, sampled in one batch.

    Args:
        audio_path: the song (any format soundfile or ffmpeg reads), or a Frets on Fire song folder (stems mixed).
        keys: key count; one the model was trained for.
        sr: requested osu! star rating(s), 0.5-8.
        style: ``ranked``, ``loved`` or ``graveyard``: the rank status of the charts to imitate (Mug Diffusion's
            style; the model's ``rank_status`` feature), or None for any.
        patterns: ``{"jumpstream": "more", "jackspeed": "less"}``.
        msd: skillset ratings (MSD scale) to ask for, ``{"stream": 23}``; ``overall`` is the overall rating.
        bpm, offset: the song's timing; ``timing_from``: take the timing points of this chart; neither: estimate.
        ckpt, rhythm_ckpt: model files or directories (default: the shipped models), or models already loaded
            (``load_mania_model`` / ``load_rhythm_model``) when generating many times.
        fit_sr: search the note density for the requested star rating (else: the rhythm model's density for it).

    Raises:
        BeatforgeError: bad audio, a key count the model lacks, a value out of range, too many charts.
    """
    import torch

    from beatforge.audio import audio_duration, load_audio, log_mel
    from beatforge.generation.assign import LN_RATIO_OF_MAP_TYPE, PatternBias, typical_chord_ratio
    from beatforge.generation.mania import load_mania_model, sample_charts
    from beatforge.generation.rhythm import DENSITY_GRID, load_default_rhythm, onset_activation, peak_candidates

    srs = [float(s) for s in (sr if isinstance(sr, (list, tuple)) else [sr])]
    _check_args(keys, srs, count, steps, cfg, ln_ratio, map_type, patterns, msd, min_jack_ms, style)
    song = audio_path if isinstance(audio_path, Song) else resolve_song(audio_path, title=title, artist=artist)
    path = Path(song.sources[0].path)
    duration = audio_duration(list(song.sources))
    if duration <= 0:
        raise BeatforgeError(f"{path}: the audio is 0 seconds long")
    if duration < MIN_AUDIO_S:
        raise BeatforgeError(f"{path}: the audio lasts {duration:.1f} s; at least {MIN_AUDIO_S:g} s is needed")
    if duration > MAX_AUDIO_S:
        raise BeatforgeError(f"{path}: the audio lasts {duration / 60:.0f} min; at most {MAX_AUDIO_S / 60:.0f} "
                             "min can be charted in one run")
    from beatforge.generation.mania import ManiaModel
    from beatforge.models.onset_net import OnsetNet

    model = ckpt if isinstance(ckpt, ManiaModel) else load_mania_model(ckpt)
    if model.keys and keys not in model.keys:
        raise BeatforgeError(f"--keys {keys}: the model was trained for {', '.join(map(str, model.keys))} keys "
                             "(train or fine-tune one with that key count)")
    rhythm = rhythm_ckpt if isinstance(rhythm_ckpt, OnsetNet) else load_default_rhythm(rhythm_ckpt)
    y = load_audio(list(song.sources))
    if float(np.max(np.abs(y))) < 1e-4:
        raise BeatforgeError(f"{path}: the audio is silent")
    mel = log_mel(y)
    prompts = [_prompt(s, ln_ratio, map_type, patterns, msd, style) for s in srs for _ in range(count)]
    torch.set_flush_denormal(True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps + len(prompts), desc="generating", unit="step")
    _, frames = sample_charts(model, mel, prompts, keys=keys, steps=steps, cfg_scale=cfg, seed=seed,
                              audio_seconds=duration, return_frames=True,
                              progress=(lambda i, n: bar.update(1)) if bar else None)
    acts = onset_activation(rhythm, mel, DENSITY_GRID)
    audio_ms = duration * 1000.0
    timing = song_timing(y, acts, audio_ms, bpm=bpm, offset=offset, timing_from=timing_from)
    beat = timing[0].beat_length
    on_grid = snap and _grid_fits(acts, timing, audio_ms)
    ratio = ln_ratio if ln_ratio is not None else LN_RATIO_OF_MAP_TYPE.get(map_type or "")
    bias = PatternBias.from_patterns(patterns, keys)
    t_dense, h_dense = peak_candidates(acts[-1], start_ms=0.0, end_ms=audio_ms)
    strong = t_dense[h_dense >= 0.3 * (h_dense.max() if len(h_dense) else 1.0)]
    span_s = max((strong.max() - strong.min()) / 1000.0, 1.0) if len(strong) >= 2 else duration
    out = []
    for i, (fr, prompt) in enumerate(zip(frames, prompts)):
        chords = typical_chord_ratio(prompt["sr"], keys)

        def build(density: float, extra: float = 0.0, fr=fr, chords=chords) -> ManiaChart:
            return _build(acts, density, span_s, fr, keys, bias, chords + extra, ratio, timing, audio_ms,
                          min_jack_ms, snap, beat, on_grid)

        fit = _fit_density(build, prompt["sr"], fit_sr)
        chart = fit.chart
        chart.meta = _meta(song, keys, prompt, i, cfg, steps, seed, fit.sr)
        out.append(chart)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return out


def _build(acts, density, span_s, frames, keys, bias, chords, ratio, timing, audio_ms, min_jack_ms, snap, beat,
           on_grid=False) -> ManiaChart:
    from beatforge.generation.assign import assign_notes
    from beatforge.generation.postprocess import make_playable
    from beatforge.generation.rhythm import activation_at, grid_onsets, pick_onsets
    from beatforge.generation.timing import snap_chart

    act = activation_at(acts, density)
    div = _finest_division(density, beat)
    n = int(round(density * span_s))
    grid = _grid_plan(density, beat) if on_grid else None
    if grid is not None:
        onsets = grid_onsets(act, n, timing, start_ms=0.0, end_ms=audio_ms - 1.0, evenness=bias.evenness, **grid)
    else:
        onsets = pick_onsets(act, n, start_ms=0.0, end_ms=audio_ms - 1.0, evenness=bias.evenness,
                             min_sep=_min_sep_frames(div, beat), prefer=_on_lines(timing, div) if div <= 2 else None)
    if div == 1 and bias.repeat <= 0.0:
        # Beginner and Easy charts do not repeat a column (none of the held-out ones does); a slow jack still adds
        # to osu!'s star rating, which left a generated Beginner two thirds of the human notes at the same rating
        bias = dataclasses.replace(bias, repeat=bias.repeat - 2.0)
    chart = assign_notes(onsets, frames, keys, bias=bias, chord_ratio=chords, ln_ratio=ratio, min_ln_ms=beat / 4,
                         timing=timing)
    if snap:
        # Every note to a line of the divisions a chart of this density uses (a Normal chart has no 1/16 notes):
        # the tolerance reaches a line from anywhere, and coarse lines are tried first.
        divisors = SNAP_DIVISORS[div]
        chart = snap_chart(chart, timing, divisors=divisors, tol_ms=beat / (2.0 * max(divisors)) + 0.5)
    return make_playable(chart, audio_ms=audio_ms, min_jack_ms=min_jack_ms, min_ln_ms=beat / 4)


SNAP_DIVISORS = {1: (1, 2, 4), 2: (1, 2, 4, 3), 4: (1, 2, 4, 3, 6, 8), 8: (1, 2, 4, 3, 6, 8),
                 16: (1, 2, 4, 3, 6, 8, 12, 16)}


def _grid_plan(density: float, beat_ms: float) -> dict | None:
    """How a chart of this onset density picks beat lines (``grid_onsets``' arguments), or None for the
    activation's own peaks (streams denser than four notes a beat, and triplet-heavy ones, need them).

    From the human 4K/7K ladders in ../shared/data/songs (PrincessOfWinter, Csikos Post, Umami, MechaTribe,
    katamari), in notes per beat: under 0.35 a chart is a pulse once a bar, under 0.7 every other beat, under 1.1
    every beat with a few half beats, and whole beats come strictly first; denser charts mix 1/2 (under 2.2 notes a
    beat) or 1/4 lines by strength, with a lead for the stronger metrical positions that shrinks as they fill."""
    per_beat = density * beat_ms / 1000.0
    if per_beat < 1.1:
        return {"sub": 2, "period": 4 if per_beat < 0.35 else 2 if per_beat < 0.7 else 1, "level_bonus": 1.0}
    if per_beat < 2.2:
        # the whole beats' lead shrinks from strict (1.0) to 0.3 by 1.6 notes a beat: a jump at 1.1 left the star
        # rating no density between 1.6 and 2.2 on PrincessOfWinter, and its Normal (1.96) could not be met
        return {"sub": 2, "level_bonus": 0.3 + 0.7 * float(np.clip((1.6 - per_beat) / 0.5, 0.0, 1.0))}
    if per_beat < 4.0:
        return {"sub": 4, "level_bonus": 0.3}
    return None


def _grid_fits(acts: np.ndarray, timing: list[TimingPoint], audio_ms: float) -> bool:
    """Whether the song's onsets follow the timing's 1/4 lines: at least 65 % of the rhythm model's stronger
    peaks within 20 ms of one. Measured: 70-100 % on the five held-out songs with their estimated timing, 41-56 %
    with the BPM 0.3 % or 1 % off; a song whose tempo drifts or whose BPM was misjudged gets peak picking."""
    from beatforge.generation.rhythm import grid_lines

    times = np.sort(_strong_peaks(acts, audio_ms)[0])
    lines, _ = grid_lines(timing, 0.0, audio_ms + 1000.0, 4)
    if len(times) == 0 or len(lines) == 0:
        return False
    j = np.clip(np.searchsorted(lines, times), 1, len(lines) - 1)
    off = np.minimum(np.abs(times - lines[j - 1]), np.abs(times - lines[j]))
    return float(np.mean(off <= 20.0)) >= 0.65


def _finest_division(density: float, beat_ms: float) -> int:
    """The finest beat division human charts of this onset density use as their shortest gap: about one onset per
    beat or fewer keeps whole beats apart, up to ~2.2 per beat half beats, up to ~3.5 quarter beats, denser
    charts eighths, and only beyond ~6 per beat sixteenths (from the PrincessOfWinter, Csikos Post and Umami
    ladders: their Expert charts put 97-99 % of notes on 1/1, 1/2 and 1/4 lines)."""
    per_beat = density * beat_ms / 1000.0
    return 1 if per_beat < 1.1 else 2 if per_beat < 2.2 else 4 if per_beat < 3.5 else 8 if per_beat < 6 else 16


def _on_lines(timing: list[TimingPoint], div: int):
    """For sparse charts: a mask of the times within 15 % of a 1/``div`` beat of a 1/``div`` line (of the first
    timing point's grid). Mappers put 89-97 % of a Beginner or Easy chart's notes on whole beats (PrincessOfWinter,
    Csikos Post, Umami), and the strongest onsets of a song are often syncopated."""
    tp = timing[0]
    step = tp.beat_length / div

    def prefer(times: np.ndarray) -> np.ndarray:
        b = (times - tp.time) / step
        return np.abs(b - np.round(b)) <= 0.15

    return prefer


def _min_sep_frames(div: int, beat_ms: float) -> int:
    """That shortest gap in rhythm-model frames, with 15 % slack for triplets. Without it the N strongest onsets
    bunch up in the loud parts, and osu!'s star rating, which follows the hardest stretches, caps a low-rated chart
    at half the notes a human would give it."""
    from beatforge.training.rhythm import STEP_MS

    return max(3, int(0.85 * beat_ms / div / STEP_MS))


def _fit_density(build, target_sr: float, fit: bool, iters: int = 9) -> _Fit:
    """Bisection on log note density for the requested star rating (star rating grows with density); the closest
    chart seen is kept. Without ``fit``, one chart at the density the star rating implies for typical charts."""
    from beatforge.analysis.star_rating import star_rating

    def rate(c: ManiaChart) -> float:
        return star_rating(c) if c.n_notes else 0.0

    # typical onsets per second at a star rating, from the human 4K/7K charts in shared/data/songs
    guess = float(np.clip(1.9 * target_sr, 0.3, 16.0))
    chart = build(guess)
    best = _Fit(chart, rate(chart), guess)
    if not fit:
        return best
    best = _bisect(lambda v: (build(float(np.exp(v))), float(np.exp(v))), np.log(0.2), np.log(16.0), iters,
                   target_sr, best, rate, stop_within=0.05)
    if best.sr < target_sr - 0.2:
        # the song has no more onsets to give: add notes to chords instead (a dense chart of a slow song is chordy)
        best = _bisect(lambda x: (build(16.0, x), 16.0), 0.0, 3.0, 6, target_sr, best, rate)
    return best


def _bisect(make, lo: float, hi: float, iters: int, target_sr: float, best: _Fit, rate,
            stop_within: float | None = None) -> _Fit:
    """Bisection of a parameter the star rating grows with; ``make(v)`` -> (chart, density). The chart closest to
    ``target_sr`` seen (``best`` included) is returned."""
    for _ in range(iters):
        if stop_within is not None and abs(best.sr - target_sr) < stop_within:
            break
        mid = (lo + hi) / 2.0
        chart, density = make(mid)
        sr = rate(chart)
        if abs(sr - target_sr) < abs(best.sr - target_sr):
            best = _Fit(chart, sr, density)
        if sr < target_sr:
            lo = mid
        else:
            hi = mid
    return best


def song_timing(y, acts, audio_ms, *, bpm=None, offset=None, timing_from=None) -> list[TimingPoint]:
    """The charts' timing: from ``timing_from``'s chart, from ``bpm``/``offset``, or estimated from the waveform
    ``y`` (BPM) and phase-aligned to the rhythm model's onsets ``acts``."""
    from beatforge.generation.timing import align_to_onsets, estimate_timing

    if timing_from is not None:
        from beatforge.formats.loader import load_chart

        ref = load_chart(timing_from)
        if not ref.timing:
            raise BeatforgeError(f"--timing-from {timing_from}: the chart has no timing points")
        return list(ref.timing)
    if bpm is not None:
        if not 20 <= bpm <= 1000:
            raise BeatforgeError(f"--bpm {bpm:g}: must be between 20 and 1000")
        return [TimingPoint(float(offset or 0.0), 60000.0 / bpm, 4)]
    if offset is not None:
        raise BeatforgeError("--offset needs --bpm")
    tp = estimate_timing(y)
    return [align_to_onsets(tp, *_strong_peaks(acts, audio_ms))]


def _strong_peaks(acts: np.ndarray, audio_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The stronger half (at least 8) of the rhythm model's peaks at a middle density (strong, frequent notes),
    highest first: what the timing's phase is aligned to, and what the grid-fit check measures."""
    from beatforge.generation.rhythm import peak_candidates

    times, heights = peak_candidates(acts[len(acts) // 2], start_ms=0.0, end_ms=audio_ms)
    n = max(int(len(times) * 0.5), 8)
    return times[:n], heights[:n]


def _meta(song: Song, keys: int, prompt: dict, index: int, cfg: float, steps: int, seed: int | None,
          got_sr: float) -> ChartMeta:
    desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in prompt.items())
    return ChartMeta(
        title=song.title,
        artist=song.artist,
        audio=tuple(song.sources),
        creator=f"beatforge v{__version__}",
        version=f"AI v{index + 1} {keys}K {got_sr:.2f}*",
        source_game="beatforge",
        tags=f"beatforge {desc.replace(', ', ' ')} cfg={cfg:g} steps={steps} "
        f"seed={seed if seed is not None else 'random'}",
        extra={"AIPrompt": f"{desc}, keys={keys}, cfg={cfg:g}, steps={steps}, seed={seed}, {index + 1}"},
    )


def write_set(charts: list[ManiaChart], audio_path: str | Path | Song, out_dir: str | Path, *,
              previews: bool = True) -> list[Path]:
    """Write each chart as .osu, the audio beside them, one .osz of it all, and a preview PNG per chart into
    ``out_dir`` (each file is written to a temporary name and renamed, so a failure leaves nothing half-written).
    Every chart carries Mug Diffusion's markers of generated maps, ``AIMode:`` and ``AIPrompt:`` lines in
    [Metadata]. A Frets on Fire song's stems are mixed into one Ogg file."""
    from beatforge.fileio import atomic_write_bytes
    from beatforge.formats.export import export_osz, osu_texts, safe_name, sources_payload

    song = audio_path if isinstance(audio_path, Song) else resolve_song(audio_path)
    out = Path(out_dir)
    audio = sources_payload(song.sources)
    out.mkdir(parents=True, exist_ok=True)
    for c in charts:
        c.meta.audio = tuple(song.sources)
    ai = [{"AIMode": f"beatforge v{__version__}", **c.meta.extra} for c in charts]
    stem = safe_name(f"{song.artist} - {song.title}" if song.artist != "Unknown" else song.title)
    osz = export_osz(charts, out / (stem + ".osz"), audio=audio, extra_metadata=ai)
    atomic_write_bytes(out / audio[0], audio[1])
    written = []
    for name, text in osu_texts(charts, audio[0], ai).items():
        atomic_write_bytes(out / name, text.encode("utf-8"))
        written.append(out / name)
    if previews:
        from beatforge.charts.preview import render_preview

        for path, c in zip(list(written), charts):
            written.append(render_preview(c, path.with_suffix(".png")))
    return [*written, osz]
