"""``beatforge generate`` / ``beatforge.generate_mania``: a song in, playable osu!mania charts out.

Audio -> log-mel -> batched sampling (one chart per requested star rating x count) -> decode -> timing (given,
taken from a reference chart, or estimated from the audio) -> snapping -> playability rules -> .osu files in one
.osz with the audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from beatforge import __version__
from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.errors import BeatforgeError

MAX_COUNT = 32
SR_RANGE = (1.0, 8.0)


def generate_mania(
    audio_path: str | Path,
    *,
    keys: int = 4,
    sr: list[float] | float = 4.0,
    count: int = 1,
    steps: int = 30,
    cfg: float = 5.0,
    seed: int | None = None,
    ckpt: str | Path | None = None,
    ln_ratio: float | None = None,
    map_type: str | None = None,
    bpm: float | None = None,
    offset: float | None = None,
    timing_from: str | Path | None = None,
    min_jack_ms: float = 90.0,
    snap: bool = True,
    progress: bool = False,
) -> list[ManiaChart]:
    """Charts for a song: ``count`` per star rating in ``sr``, sampled in one batch.

    Raises:
        BeatforgeError: bad audio, a key count the model lacks, a star rating out of range, too many charts.
    """
    from beatforge.audio import audio_duration, load_audio, log_mel
    from beatforge.generation.mania import load_mania_model, sample_charts
    from beatforge.generation.postprocess import make_playable
    from beatforge.generation.timing import snap_chart

    srs = [float(s) for s in (sr if isinstance(sr, (list, tuple)) else [sr])]
    if not 1 <= keys <= 10:
        raise BeatforgeError(f"--keys {keys}: must be 1-10")
    for s in srs:
        if not SR_RANGE[0] <= s <= SR_RANGE[1]:
            raise BeatforgeError(f"--sr {s:g}: star rating must be between {SR_RANGE[0]:g} and {SR_RANGE[1]:g}")
    if not 1 <= count * len(srs) <= MAX_COUNT:
        raise BeatforgeError(f"--count {count} x {len(srs)} star ratings: at most {MAX_COUNT} charts per run")
    if not 1 <= steps <= 1000:
        raise BeatforgeError(f"--steps {steps}: must be 1-1000")
    path = Path(audio_path)
    duration = audio_duration(path)
    model = load_mania_model(ckpt)
    if model.keys and keys not in model.keys:
        raise BeatforgeError(f"--keys {keys}: the model was trained for {', '.join(map(str, model.keys))} keys")
    y = load_audio(path)
    mel = log_mel(y)
    prompts = []
    for s in srs:
        prompt: dict[str, Any] = {"sr": s}
        if ln_ratio is not None:
            prompt["ln_ratio"] = ln_ratio
        if map_type is not None:
            prompt["map_type"] = map_type
        prompts += [prompt] * count
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="sampling", unit="step")
    charts = sample_charts(model, mel, prompts, keys=keys, steps=steps, cfg_scale=cfg, seed=seed,
                           audio_seconds=duration, progress=(lambda i, n: bar.update(1)) if bar else None)
    if bar:
        bar.close()
    timing = _timing(y, bpm=bpm, offset=offset, timing_from=timing_from)
    out = []
    for i, (chart, prompt) in enumerate(zip(charts, prompts)):
        chart = ManiaChart(chart.keys, chart.starts, chart.ends, chart.columns, timing, chart.meta)
        if snap:
            chart = snap_chart(chart, timing)
        beat = timing[0].beat_length
        chart = make_playable(chart, audio_ms=duration * 1000.0, min_jack_ms=min_jack_ms, min_ln_ms=beat / 4)
        chart.meta = _meta(path, keys, prompt, i, cfg, steps, seed)
        out.append(chart)
    return out


def _timing(y, *, bpm, offset, timing_from) -> list[TimingPoint]:
    from beatforge.generation.timing import estimate_timing

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
    return [estimate_timing(y)]


def _meta(path: Path, keys: int, prompt: dict, index: int, cfg: float, steps: int, seed: int | None) -> ChartMeta:
    desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in prompt.items())
    return ChartMeta(
        title=path.stem,
        artist="Unknown",
        creator=f"beatforge v{__version__}",
        version=f"AI {keys}K {desc} #{index + 1}",
        source_game="beatforge",
        tags=f"beatforge AIMode:beatforge-v{__version__} {desc.replace(', ', ' ')} cfg={cfg:g} steps={steps} "
        f"seed={seed if seed is not None else 'random'}",
    )


def write_set(charts: list[ManiaChart], audio_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write each chart as .osu, the audio beside them, and one .osz of it all into ``out_dir`` (each file is
    written to a temporary name and renamed, so a failure leaves nothing half-written). Every chart carries Mug
    Diffusion's marker of generated maps, an ``AIMode:`` line in [Metadata]."""
    from beatforge.charts.chart import AudioSource
    from beatforge.fileio import atomic_write_bytes
    from beatforge.formats.export import export_osz, osu_texts, safe_name

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = AudioSource(Path(audio_path))
    audio = ("audio" + src.suffix, src.read_bytes())
    for c in charts:
        c.meta.audio = (src,)
    ai = {"AIMode": f"beatforge v{__version__}"}
    osz = export_osz(charts, out / (safe_name(Path(audio_path).stem) + ".osz"), audio=audio, extra_metadata=ai)
    atomic_write_bytes(out / audio[0], audio[1])
    written = []
    for name, text in osu_texts(charts, audio[0], ai).items():
        atomic_write_bytes(out / name, text.encode("utf-8"))
        written.append(out / name)
    return [*written, osz]
