"""``beatforge generate`` / ``beatforge.generate_mania``: a song and a :class:`ManiaRequest` in, playable osu!mania
charts out.

Audio -> log-mel -> (1) learned: the latent diffusion model samples one chart tensor per requested chart, all in one
batch, with the prompt and classifier-free guidance (:mod:`.learned.chart_diffusion`); (2) learned: the rhythm
network rates every 11.6 ms of the song as a note onset, at a range of densities (:mod:`.learned.onset_network`);
(3) rules: timing, given, taken from a reference chart, or estimated from the audio and phase-aligned to the
rhythm network's onsets (:mod:`.rules.timing`); (4) rules: for each chart, the note density is searched so that
its osu! star rating meets the request (:mod:`.rules.star_rating_fit`); at each density the note times are beat
lines or activation peaks (:mod:`.rules.beat_grid`, :mod:`.rules.peaks`), which get columns, chords and long notes
from the sampled tensor (:mod:`.rules.columns`), are snapped and made playable (:mod:`.rules.playability`) and, by
default (``--criteria``), made to meet the osu!mania Ranking Criteria of the level the requested star rating falls
in (:mod:`.rules.ranking`); the fit rates each chart after all of them.
Files are written by :func:`beatforge.generation.output.write_set`.

Why two networks: rhythm is what a chart must get right first, and the one part that follows the audio sample by
sample; a 0.26 M-parameter convolution network learns it from a few dozen charts in minutes, where the latent
diffusion model reached 0.3 rhythm F1. The diffusion model keeps what it is good at: the prompt-conditioned choice
of patterns, chords and long notes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.constants import FRAME_MS, LN_RATIO_OF_MAP_TYPE
from beatforge.errors import BeatforgeError
from beatforge.generation.learned.chart_diffusion import ManiaModel, load_mania_model, sample_charts
from beatforge.generation.learned.onnx_models import OnnxChartDiffusion, OnnxOnsetNet
from beatforge.generation.learned.onset_network import (
    DENSITY_GRID,
    OnsetActivations,
    activation_at,
    load_default_rhythm,
)
from beatforge.generation.learned.pretrained_audio import FRAME_MS as ACT_FRAME_MS
from beatforge.generation.learned.pretrained_audio import song_activations
from beatforge.generation.output import STAR_RATING_MISS, chart_meta, with_seed
from beatforge.generation.request import ManiaRequest
from beatforge.generation.rules.beat_grid import (
    SNAP_DIVISORS,
    finest_division,
    grid_fits,
    grid_onsets,
    grid_plan,
    min_sep_frames,
    on_lines,
)
from beatforge.generation.rules.candidates import candidates
from beatforge.generation.rules.columns import PatternBias, assign_notes, typical_chord_ratio
from beatforge.generation.rules.peaks import peak_candidates, pick_onsets
from beatforge.generation.rules.playability import make_playable
from beatforge.generation.rules.ranking import make_ranked, rating_floor, requested_level, settle_level
from beatforge.generation.rules.star_rating_fit import fit_density
from beatforge.generation.rules.timing import beat_aligned_timing, reference_timing, snap_chart, song_timing
from beatforge.generation.song import Song, SongAudio, checked_duration, decode_song, resolve_song

if TYPE_CHECKING:
    from beatforge.models.note_selector import NoteSelectorNet
    from beatforge.models.onset_net import OnsetNet


@dataclass
class ManiaModels:
    """The networks a mania job runs. Load them once where many jobs follow (the page, benchmarks)."""

    chart: ManiaModel | OnnxChartDiffusion
    rhythm: OnsetNet | OnnxOnsetNet
    selector: NoteSelectorNet | None = None

    @classmethod
    def load(cls, request: ManiaRequest | None = None) -> ManiaModels:
        """The request's model files (default: the shipped ``models/mania``, ``models/rhythm`` and, for
        ``rhythm="selector"``, ``models/selector``), on the request's device (``--device``): on the CPU through
        ONNX Runtime, without importing torch (:mod:`~beatforge.generation.learned.onnx_models`; ``BEATFORGE_ONNX=0``
        keeps torch), on a GPU in torch. The note selector, a few thousand weights over a few thousand candidates,
        stays on the CPU in torch."""
        from beatforge.runtime import resolve_device, runs_on_onnx  # lazy: resolve_device imports torch

        request = request or ManiaRequest()
        selector = _load_selector(request.selector_model) if request.rhythm == "selector" else None
        if runs_on_onnx(request.device):
            from beatforge.generation.learned.chart_diffusion import DEFAULT_MODEL
            from beatforge.generation.learned.onnx_models import load_onnx_mania, load_onnx_rhythm
            from beatforge.generation.learned.onset_network import DEFAULT_RHYTHM_MODEL

            return cls(load_onnx_mania(request.model or DEFAULT_MODEL),
                       load_onnx_rhythm(request.rhythm_model or DEFAULT_RHYTHM_MODEL), selector)
        device = resolve_device(request.device)
        chart = load_mania_model(request.model)
        chart.system.to(device)
        return cls(chart, load_default_rhythm(request.rhythm_model).to(device), selector)

    @property
    def device(self) -> str:
        """Where the networks run: ``cpu (ONNX Runtime)``, or torch's device (``cpu``, ``cuda:0`` ...)."""
        if isinstance(self.chart, OnnxChartDiffusion):
            return "cpu (ONNX Runtime)"
        return str(self.chart.system.scale_factor.device)


def _load_selector(path: Path | None) -> NoteSelectorNet:
    from beatforge.generation.learned.note_selector import load_selector  # lazy: torch, only for --rhythm selector

    return load_selector(path)


@dataclass(frozen=True)
class ChartRecipe:
    """What one song's charts share once the networks have run: the onset activations, the timing, and the
    request's rules; :meth:`build` makes a chart at a trial note density from one sampled chart tensor."""

    acts: OnsetActivations  # (len(DENSITY_GRID), T') onset probabilities, rows computed on first use
    timing: list[TimingPoint]
    audio_ms: float
    span_s: float  # the stretch of the song with strong onsets: densities are notes per second of it
    on_grid: bool  # the song follows the timing's grid: note times are beat lines
    keys: int
    bias: PatternBias
    ln_ratio: float | None
    min_jack_ms: float
    snap: bool
    # note times other than the rhythm network's (rhythm="selector" or "diffusion"): n -> n sorted times
    pick_times: Callable[[int], np.ndarray] | None = None

    @property
    def beat(self) -> float:
        return self.timing[0].beat_length

    def note_times(self, density: float) -> np.ndarray:
        """The chart's distinct note times at ``density`` onsets per second."""
        n = int(round(density * self.span_s))
        if self.pick_times is not None:
            return self.pick_times(n)
        act = activation_at(self.acts, density)
        div = finest_division(density, self.beat)
        plan = grid_plan(density, self.beat) if self.on_grid else None
        end_ms = self.audio_ms - 1.0
        if plan is not None:
            return grid_onsets(act, n, self.timing, plan, start_ms=0.0, end_ms=end_ms, evenness=self.bias.evenness)
        return pick_onsets(act, n, start_ms=0.0, end_ms=end_ms, evenness=self.bias.evenness,
                           min_sep=min_sep_frames(div, self.beat),
                           prefer=on_lines(self.timing, div) if div <= 2 else None)

    def build(self, frames: np.ndarray, chord_ratio: float, density: float, extra_chords: float = 0.0,
              level: str | None = None) -> ManiaChart:
        """A playable chart at ``density``: note times, columns/chords/long notes from ``frames``, snapped; with a
        ``level``, it meets that level's Ranking Criteria too (:func:`~.rules.ranking.make_ranked`)."""
        div = finest_division(density, self.beat)
        bias = self.bias
        if div == 1 and bias.repeat <= 0.0:
            # Beginner and Easy charts do not repeat a column (none of the held-out ones does); a slow jack still
            # adds to osu!'s star rating, which left a generated Beginner two thirds of the human notes at the same
            # rating
            bias = dataclasses.replace(bias, repeat=bias.repeat - 2.0)
        chart = assign_notes(self.note_times(density), frames, self.keys, bias=bias,
                             chord_ratio=chord_ratio + extra_chords, ln_ratio=self.ln_ratio,
                             min_ln_ms=self.beat / 4, timing=self.timing)
        if self.snap:
            # Every note to a line of the divisions a chart of this density uses (a Normal chart has no 1/16
            # notes): the tolerance reaches a line from anywhere, and coarse lines are tried first.
            divisors = SNAP_DIVISORS[div]
            chart = snap_chart(chart, self.timing, divisors=divisors, tol_ms=self.beat / (2.0 * max(divisors)) + 0.5)
        chart = make_playable(chart, audio_ms=self.audio_ms, min_jack_ms=self.min_jack_ms, min_ln_ms=self.beat / 4)
        if level is None:
            return chart
        return make_ranked(chart, level, audio_ms=self.audio_ms, min_jack_ms=self.min_jack_ms)


def diffusion_activation(frames: list[np.ndarray], keys: int, audio_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The latent diffusion model's own rhythm (Mug Diffusion's design, ``--rhythm diffusion``): for every chart
    frame, the time of its most likely note start and that probability, averaged over the sampled charts."""
    starts = np.stack([1.0 / (1.0 + np.exp(-f[:keys])) for f in frames])  # (B, K, W) start probabilities
    offsets = np.stack([np.clip(f[keys:2 * keys], 0.0, 1.0) for f in frames])
    best = starts.mean(0).argmax(axis=0)
    w = np.arange(starts.shape[2])
    prob = starts.mean(0)[best, w]
    times = (w + offsets.mean(0)[best, w]) * FRAME_MS
    keep = times < audio_ms
    return times[keep], prob[keep]


def _strong_span_s(acts: np.ndarray, audio_ms: float, duration: float) -> float:
    """Seconds from the first to the last strong onset (at least a third of the highest peak, densest row)."""
    t_dense, h_dense = peak_candidates(acts[-1], start_ms=0.0, end_ms=audio_ms)
    strong = t_dense[h_dense >= 0.3 * (h_dense.max() if len(h_dense) else 1.0)]
    return max((strong.max() - strong.min()) / 1000.0, 1.0) if len(strong) >= 2 else duration


def _rhythm_source(request: ManiaRequest, song: Song, y: np.ndarray, acts: np.ndarray, frames: list[np.ndarray],
                   models: ManiaModels, audio_ms: float, span_s: float, reference: list[TimingPoint] | None,
                   estimate: TimingPoint | None = None) -> tuple[list[TimingPoint], Callable[[int], np.ndarray] | None]:
    """The charts' timing, and where their note times come from (None: the rhythm network and the beat-grid
    rules; else a function n -> the n note times). ``reference``: the ``--timing-from`` chart's timing;
    ``estimate``: the audio's tempo estimate where it was made beforehand."""
    given = {"bpm": request.bpm, "offset": request.offset, "reference": reference, "estimate": estimate}
    if request.rhythm == "selector":
        front = song_activations(list(song.sources))
        if models.selector is None:
            models.selector = _load_selector(request.selector_model)
        selector = models.selector
        if request.bpm is None and request.timing_from is None:
            timing = beat_aligned_timing(y, front.beat, ACT_FRAME_MS, latency_ms=float(selector.latency_ms))
        else:
            timing = song_timing(y, acts, audio_ms, **given)
        cands = candidates(front, y, timing, audio_ms)
        span_beats = span_s * 1000.0 / timing[0].beat_length
        from beatforge.generation.learned.note_selector import select_notes  # lazy: torch, for the selector only

        return timing, lambda n: select_notes(selector, cands, n, span_beats)
    timing = song_timing(y, acts, audio_ms, **given)
    if request.rhythm == "diffusion":
        times, prob = diffusion_activation(frames, request.keys, audio_ms)
        return timing, lambda n: np.sort(times[np.argsort(-prob, kind="stable")[: max(int(n), 0)]])
    return timing, None


def generate_mania(song: str | Path | Song, request: ManiaRequest | None = None, *,
                   models: ManiaModels | None = None, progress: bool = False,
                   audio: SongAudio | None = None) -> list[ManiaChart]:
    """Charts for a song: ``request.count`` per requested star rating, sampled in one batch.

    Args:
        song: an audio file (any format soundfile or ffmpeg reads), a Frets on Fire song folder (stems mixed), or
            a :class:`~beatforge.generation.song.Song`.
        request: what to make (default: ``ManiaRequest()``, one 4K chart at 4 stars).
        models: networks already loaded (:meth:`ManiaModels.load`), when generating many times.
        progress: show a progress bar.
        audio: the song already decoded (:func:`~beatforge.generation.song.decode_song`), e.g. while torch was
            importing; decoded here otherwise.

    Raises:
        BeatforgeError: bad audio, a key count the model lacks, a value out of range, too many charts.
    """
    request = with_seed(request or ManiaRequest())  # a run without --seed records the seed it drew
    song = resolve_song(song, title=request.title, artist=request.artist)
    duration, path = checked_duration(song)
    models = models or ManiaModels.load(request)
    keys = request.keys
    if models.chart.keys and keys not in models.chart.keys:
        raise BeatforgeError(f"--keys {keys}: the model was trained for {', '.join(map(str, models.chart.keys))} "
                             "keys (train or fine-tune one with that key count)")
    # read before minutes of sampling, so a bad --timing-from chart fails first
    reference = reference_timing(request.timing_from) if request.timing_from is not None else None
    audio = audio or decode_song(song)
    y, mel = audio.y, audio.mel
    prompts = request.prompts()
    bar = None
    if progress:
        from tqdm import tqdm  # lazy: only the CLI and the page show progress

        bar = tqdm(total=request.steps + len(prompts), desc="generating", unit="step")
    _, frames = sample_charts(models.chart, mel, prompts, keys=keys, steps=request.steps, guidance=request.guidance,
                              seed=request.seed, audio_seconds=duration,
                              progress=(lambda i, n: bar.update(1)) if bar else None)
    acts = OnsetActivations(models.rhythm, mel, DENSITY_GRID)  # rows computed as the search reads them
    audio_ms = duration * 1000.0
    span_s = _strong_span_s(acts, audio_ms, duration)
    timing, pick_times = _rhythm_source(request, song, y, acts, frames, models, audio_ms, span_s, reference,
                                        audio.beat)
    fits = grid_fits(acts, timing, audio_ms)
    estimated = request.bpm is None and request.timing_from is None
    timing_note = "" if fits or not request.snap or not estimated else (
        "the onsets follow no single tempo (tempo changes?): notes "
        + ("at the onsets, not snapped to a grid" if request.rhythm == "selector" else "placed by peak picking"))
    recipe = ChartRecipe(
        acts=acts, timing=timing, audio_ms=audio_ms, span_s=span_s, on_grid=request.snap and fits, keys=keys,
        bias=PatternBias.from_patterns(request.patterns, keys),
        ln_ratio=request.ln_ratio if request.ln_ratio is not None else LN_RATIO_OF_MAP_TYPE.get(request.map_type or ""),
        min_jack_ms=request.min_jack_ms,
        # the selector's picks go to the grid only where the song follows it; the rule path keeps its snapping
        snap=request.snap and (fits or request.rhythm != "selector"), pick_times=pick_times)
    out = []
    for i, (fr, prompt) in enumerate(zip(frames, prompts)):
        # the chord split: learned with the note selector from its training charts; the hand formula otherwise
        chords = models.selector.chord_ratio(prompt["sr"], keys) if models.selector is not None \
            and request.rhythm == "selector" else typical_chord_ratio(prompt["sr"], keys)
        # --criteria: the Ranking Criteria of the level the requested star rating falls in, with the fit kept at or
        # above that level's floor, and the rules of a lower level added where the chart still ends below it
        level = requested_level(prompt["sr"]) if request.criteria else None
        fit = fit_density(lambda density, extra=0.0, fr=fr, chords=chords, level=level:
                          recipe.build(fr, chords, density, extra, level),
                          prompt["sr"], request.fit_star_rating, floor=rating_floor(level))
        if level is not None:
            fit = settle_level(fit, level, audio_ms=audio_ms, min_jack_ms=request.min_jack_ms)
        fit.chart.meta = chart_meta(song, request, prompt, i, fit.star_rating)
        if timing_note:
            fit.chart.meta.extra["Timing"] = timing_note
        if fit.missed:  # what was asked, what was reached and why (the .osu, the CLI and the page show it)
            fit.chart.meta.extra[STAR_RATING_MISS] = fit.note()
        out.append(fit.chart)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return out


__all__ = ["ChartRecipe", "ManiaModels", "generate_mania"]
