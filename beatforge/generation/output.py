"""Writing a generated set: the .osu files, the audio beside them, one .osz, and a preview PNG per chart.

Every chart carries Mug Diffusion's markers of generated maps, ``AIMode:`` and ``AIPrompt:`` lines in [Metadata],
and its request (prompt, guidance, steps, seed) in its tags, so a chart says how to make it again: a run without a
seed draws one (:func:`with_seed`), and :func:`chart_seed` reads it back. A chart that misses its requested star rating
by more than STAR_RATING_TOLERANCE says so in a ``StarRatingMiss:`` line (:data:`STAR_RATING_MISS`).

The audio is written by :func:`beatforge.generation.audio_export.export_audio`: mp3 and ogg as they are, anything else
(and a Frets on Fire song's stems, mixed in stereo) as Ogg Vorbis.

What the Ranking Criteria ask of a set's files, and a generator can give (``beatforge check``): HP drain and overall
difficulty typical of each chart's level and within its cap (:data:`~beatforge.constants.LEVEL_HP_OD`), one preview
point for every difficulty (:func:`preview_time`: where the charts are busiest) and a background image
(:func:`background_image`: the title on a gradient), named in every .osu and carried in the .osz.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from beatforge import __version__
from beatforge.audio import audio_duration
from beatforge.audio_export import export_audio
from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.constants import BACKGROUND_SIZE, GENERATED_BACKGROUND, LEVEL_HP_OD, PREVIEW_WINDOW_MS
from beatforge.fileio import atomic_write_bytes
from beatforge.formats.export import osu_texts, safe_name
from beatforge.generation.request import ManiaRequest
from beatforge.generation.rules.ranking import judged_level
from beatforge.generation.song import Song, resolve_song

# The chart.meta.extra key (a [Metadata] line of the .osu) of a chart that misses its requested star rating:
# "asked 6.50: <why>" (see beatforge.generation.rules.star_rating_fit.Fit.note); absent where the chart meets it
STAR_RATING_MISS = "StarRatingMiss"
# The seeds a run without one draws: what --seed takes back
SEED_RANGE = 2**31
_SEED_RE = re.compile(r"(?:^|[\s,])seed=(\d+)(?=$|[\s,])")


def with_seed(request: ManiaRequest) -> ManiaRequest:
    """The request with its seed, drawn (0 to 2**31 - 1) where it has none, so every run can be made again."""
    if request.seed is not None:
        return request
    return dataclasses.replace(request, seed=secrets.randbelow(SEED_RANGE))


def chart_seed(chart: ManiaChart) -> int | None:
    """The seed a generated chart was made with (from its AIPrompt, else its tags); None for another chart."""
    for text in (chart.meta.extra.get("AIPrompt", ""), chart.meta.tags):
        found = _SEED_RE.search(text or "")
        if found:
            return int(found.group(1))
    return None


def chart_meta(song: Song, request: ManiaRequest, prompt: dict, index: int, got_star_rating: float) -> ChartMeta:
    """The metadata of the ``index``-th chart of a request: its difficulty name says the star rating it reached,
    its HP and OD are those of the level ``beatforge check`` judges that rating at (:data:`LEVEL_HP_OD`)."""
    desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in prompt.items())
    keys, guidance, steps, seed = request.keys, request.guidance, request.steps, request.seed
    hp, od = LEVEL_HP_OD[judged_level(got_star_rating)]
    return ChartMeta(
        title=song.title,
        artist=song.artist,
        audio=tuple(song.sources),
        creator=f"beatforge v{__version__}",
        version=f"AI v{index + 1} {keys}K {got_star_rating:.2f}*",
        source_game="beatforge",
        tags=f"beatforge {desc.replace(', ', ' ')} cfg={guidance:g} steps={steps} "
        f"seed={seed if seed is not None else 'random'}",
        od=od,
        hp=hp,
        extra={"AIPrompt": f"{desc}, keys={keys}, cfg={guidance:g}, steps={steps}, seed={seed}, {index + 1}"},
    )


def preview_time(charts: list[ManiaChart], *, audio_ms: float) -> float:
    """The set's preview point (ms): the start of the PREVIEW_WINDOW_MS stretch its charts fill most densely
    (each chart's notes weighing 1 in all, so a sparse chart counts as much as a dense one), moved back to the beat
    line at or before it; 40 % of the song where the charts have no notes."""
    times = np.concatenate([c.starts for c in charts]) if charts else np.zeros(0)
    if not len(times):
        return float(int(0.4 * audio_ms))
    weights = np.concatenate([np.full(c.n_notes, 1.0 / c.n_notes) for c in charts if c.n_notes])
    order = np.argsort(times, kind="stable")
    times, cum = times[order], np.concatenate(([0.0], np.cumsum(weights[order])))
    inside = cum[np.searchsorted(times, times + PREVIEW_WINDOW_MS, side="left")] - cum[np.arange(len(times))]
    start = float(times[int(np.argmax(inside))])
    timing = charts[0].timing
    if timing:
        tp = max((p for p in timing if p.time <= start), default=timing[0], key=lambda p: p.time)
        start = tp.time + np.floor((start - tp.time) / tp.beat_length + 1e-6) * tp.beat_length
    return float(max(int(start), 0))


def background_image(title: str, artist: str) -> bytes:
    """A BACKGROUND_SIZE JPEG: the title (and artist) on a vertical gradient whose colours come from the title, so
    every song gets its own. Well under the criteria's 2.5 MB."""
    from PIL import Image, ImageDraw, ImageFont  # lazy: only writing a set draws it

    w, h = BACKGROUND_SIZE
    digest = hashlib.sha256(f"{artist}\n{title}".encode()).digest()
    top = np.array([40 + digest[0] % 80, 40 + digest[1] % 80, 60 + digest[2] % 100], dtype=np.float64)
    bottom = np.array([10 + digest[3] % 30, 10 + digest[4] % 30, 20 + digest[5] % 40], dtype=np.float64)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    pixels = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    draw = ImageDraw.Draw(img)
    for text, size, y in ((title, 96, 0.44), (artist if artist != "Unknown" else "", 56, 0.56)):
        if text:
            font = ImageFont.load_default(size=size)
            draw.text((w / 2, h * y), text[:60], fill=(235, 235, 245), font=font, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_set(charts: list[ManiaChart], song: str | Path | Song, out_dir: str | Path, *,
              previews: bool = True) -> list[Path]:
    """Write each chart as .osu, the audio and the background image (GENERATED_BACKGROUND) beside them, one .osz of
    it all, and a preview PNG per chart into ``out_dir``; every chart gets the set's preview point
    (:func:`preview_time`, where none has one). A Frets on Fire song's stems are mixed into one Ogg file. Returns
    the .osu files, the previews and, last, the .osz.

    The whole set is written into a hidden staging folder inside ``out_dir`` first and moved into place only when
    every file is complete: an error, Ctrl-C or SIGTERM part-way leaves neither half-written files nor half a set
    (the staging folder is removed on the way out)."""
    song = resolve_song(song)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preview = next((c.meta.preview_ms for c in charts if c.meta.preview_ms is not None), None)
    if preview is None:
        preview = preview_time(charts, audio_ms=audio_duration(list(song.sources)) * 1000.0)
    for c in charts:
        c.meta.audio = tuple(song.sources)
        c.meta.preview_ms = preview
    ai = [{"AIMode": f"beatforge v{__version__}", **c.meta.extra} for c in charts]
    stem = safe_name(f"{song.artist} - {song.title}" if song.artist != "Unknown" else song.title)
    stage = Path(tempfile.mkdtemp(prefix=".beatforge-set-", suffix=".part", dir=out))
    try:
        audio_path = export_audio(song.sources, stage)
        background = stage / GENERATED_BACKGROUND
        atomic_write_bytes(background, background_image(song.title, song.artist))
        texts = osu_texts(charts, audio_path.name, ai, background.name)
        osz = stage / (stem + ".osz")
        with zipfile.ZipFile(osz, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, text in texts.items():
                zf.writestr(name, text)
            for path in (audio_path, background):  # already compressed: stored as they are
                zf.write(path, path.name, compress_type=zipfile.ZIP_STORED)
        staged = [osz, audio_path, background]
        osu_files = []
        for name, text in texts.items():
            atomic_write_bytes(stage / name, text.encode("utf-8"))
            osu_files.append(stage / name)
        staged += osu_files
        if previews:
            from beatforge.charts.preview import render_preview  # lazy: Pillow is only needed when previews are drawn

            staged += [render_preview(c, path.with_suffix(".png")) for path, c in zip(osu_files, charts)]
        for path in staged:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    osz, _audio, _background, *rest = [out / p.name for p in staged]
    return [*rest, osz]


__all__ = ["SEED_RANGE", "STAR_RATING_MISS", "background_image", "chart_meta", "chart_seed", "preview_time",
           "with_seed", "write_set"]
