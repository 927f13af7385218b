"""Writing a generated set: the .osu files, the audio beside them, one .osz, and a preview PNG per chart.

Every chart carries Mug Diffusion's markers of generated maps, ``AIMode:`` and ``AIPrompt:`` lines in [Metadata],
and its request (prompt, guidance, steps, seed) in its tags, so a chart says how to make it again: a run without a
seed draws one (:func:`with_seed`), and :func:`chart_seed` reads it back. A chart that misses its requested star rating
by more than STAR_RATING_TOLERANCE says so in a ``StarRatingMiss:`` line (:data:`STAR_RATING_MISS`).

The audio is written by :func:`beatforge.generation.audio_export.export_audio`: mp3 and ogg as they are, anything else
(and a Frets on Fire song's stems, mixed in stereo) as Ogg Vorbis.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from beatforge import __version__
from beatforge.audio_export import export_audio
from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.fileio import atomic_write_bytes
from beatforge.formats.export import export_osz, osu_texts, safe_name
from beatforge.generation.request import ManiaRequest
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
    """The metadata of the ``index``-th chart of a request: its difficulty name says the star rating it reached."""
    desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in prompt.items())
    keys, guidance, steps, seed = request.keys, request.guidance, request.steps, request.seed
    return ChartMeta(
        title=song.title,
        artist=song.artist,
        audio=tuple(song.sources),
        creator=f"beatforge v{__version__}",
        version=f"AI v{index + 1} {keys}K {got_star_rating:.2f}*",
        source_game="beatforge",
        tags=f"beatforge {desc.replace(', ', ' ')} cfg={guidance:g} steps={steps} "
        f"seed={seed if seed is not None else 'random'}",
        extra={"AIPrompt": f"{desc}, keys={keys}, cfg={guidance:g}, steps={steps}, seed={seed}, {index + 1}"},
    )


def write_set(charts: list[ManiaChart], song: str | Path | Song, out_dir: str | Path, *,
              previews: bool = True) -> list[Path]:
    """Write each chart as .osu, the audio beside them, one .osz of it all, and a preview PNG per chart into
    ``out_dir``. A Frets on Fire song's stems are mixed into one Ogg file.

    The whole set is written into a hidden staging folder inside ``out_dir`` first and moved into place only when
    every file is complete: an error, Ctrl-C or SIGTERM part-way leaves neither half-written files nor half a set
    (the staging folder is removed on the way out)."""
    song = resolve_song(song)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for c in charts:
        c.meta.audio = tuple(song.sources)
    ai = [{"AIMode": f"beatforge v{__version__}", **c.meta.extra} for c in charts]
    stem = safe_name(f"{song.artist} - {song.title}" if song.artist != "Unknown" else song.title)
    stage = Path(tempfile.mkdtemp(prefix=".beatforge-set-", suffix=".part", dir=out))
    try:
        audio_path = export_audio(song.sources, stage)
        audio = (audio_path.name, audio_path.read_bytes())
        staged = [export_osz(charts, stage / (stem + ".osz"), audio=audio, extra_metadata=ai), audio_path]
        osu_files = []
        for name, text in osu_texts(charts, audio[0], ai).items():
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
    osz, audio_file, *rest = [out / p.name for p in staged]
    return [*rest, osz]


__all__ = ["SEED_RANGE", "STAR_RATING_MISS", "chart_meta", "chart_seed", "with_seed", "write_set"]
