"""Writing any chart as osu!mania: an .osu with its audio beside it, or a whole .osz set.

The audio goes in as osu! plays it (:mod:`beatforge.audio_export`): an mp3 or Ogg Vorbis file byte for byte
(re-encoding would move the notes against the music by the new encoder's padding), other formats (flac, wav, m4a)
transcoded to Ogg Vorbis, and a Frets on Fire song's stems mixed in stereo into one Ogg Vorbis file (Vorbis has no
encoder padding, so the mix stays in sync).
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path

from beatforge.audio import audio_duration
from beatforge.charts.chart import ManiaChart
from beatforge.errors import AudioError, BeatforgeError
from beatforge.fileio import atomic_path, atomic_write_bytes
from beatforge.formats.osu import mania_to_beatmap, write_osu

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def safe_name(text: str, fallback: str = "chart") -> str:
    """A file-name-safe version of ``text`` (osu! rejects these characters on Windows)."""
    cleaned = _UNSAFE.sub("", text).strip().strip(".")
    return cleaned[:120] or fallback


def osu_file_name(chart: ManiaChart) -> str:
    m = chart.meta
    return safe_name(
        f"{m.artist or 'Unknown'} - {m.title or 'Unknown'} ({m.creator or 'beatforge'}) [{m.version or chart.keys}].osu"
    )


def audio_payload(chart: ManiaChart) -> tuple[str, bytes]:
    """(file name, bytes) of the chart's audio as osu! should play it."""
    sources = chart.meta.audio
    if not sources:
        raise AudioError(f"{chart.meta.path}: the chart names no audio file (use --no-audio to write the chart alone)")
    for src in sources:
        if not src.exists():
            raise AudioError(
                f"{chart.meta.path}: audio file {src} is missing (use --no-audio to write the chart alone)"
            )
    seconds = audio_duration(list(sources))
    if seconds <= 0:
        raise AudioError(f"{sources[0]}: the audio is 0 seconds long")
    if chart.last_ms > (seconds + 2.0) * 1000.0:
        raise AudioError(
            f"{chart.meta.path}: notes run to {chart.last_ms / 1000:.1f} s, past the end of the audio "
            f"({seconds:.1f} s): wrong audio file?"
        )
    return sources_payload(sources)


def sources_payload(sources) -> tuple[str, bytes]:
    """(file name, bytes) for osu!, as :func:`beatforge.audio_export.export_audio` writes it: mp3 and Ogg Vorbis as
    they are, other formats transcoded to Ogg Vorbis, several stems mixed in stereo."""
    from beatforge.audio_export import export_audio  # lazy: only writing audio needs it

    with tempfile.TemporaryDirectory(prefix="beatforge-audio-") as tmp:
        path = export_audio(list(sources), tmp)
        return path.name, path.read_bytes()


def chart_osu_text(chart: ManiaChart, audio_filename: str, extra_metadata: dict[str, str] | None = None,
                   background: str | None = None) -> str:
    return write_osu(mania_to_beatmap(chart, audio_filename=audio_filename, extra_metadata=extra_metadata,
                                      background=background))


def osu_texts(
    charts: list[ManiaChart], audio_filename: str,
    extra_metadata: dict[str, str] | list[dict[str, str]] | None = None,
    background: str | None = None,
) -> dict[str, str]:
    """{file name: .osu text} for charts of one set; equal names get a " 2", " 3" ... suffix. ``extra_metadata``
    is one dict for every chart, or one per chart; ``background`` the image file each names, if any."""
    texts: dict[str, str] = {}
    for j, chart in enumerate(charts):
        name = osu_file_name(chart)
        stem, i = name[:-4], 2
        while name in texts:
            name, i = f"{stem} {i}.osu", i + 1
        extra = extra_metadata[j] if isinstance(extra_metadata, list) else extra_metadata
        texts[name] = chart_osu_text(chart, audio_filename, extra, background)
    return texts


def export_osu(chart: ManiaChart, out: str | Path, *, with_audio: bool = True) -> list[Path]:
    """Write ``out`` (.osu) and, beside it, the audio it names. Returns the files written."""
    out = Path(out)
    written = []
    audio_name = "audio.mp3"
    if with_audio:
        audio_name, data = audio_payload(chart)
        atomic_write_bytes(out.parent / audio_name, data)
        written.append(out.parent / audio_name)
    atomic_write_bytes(out, chart_osu_text(chart, audio_name).encode("utf-8"))
    written.insert(0, out)
    return written


def export_osz(
    charts: list[ManiaChart],
    out: str | Path,
    *,
    with_audio: bool = True,
    audio: tuple[str, bytes] | None = None,
    extra_metadata: dict[str, str] | list[dict[str, str]] | None = None,
) -> Path:
    """Write one .osz holding every chart (they must share one song) and the audio once.

    ``audio`` (file name, bytes) is used when given; otherwise it is taken from the first chart's sources.
    """
    if not charts:
        raise BeatforgeError("nothing to write: no chart")
    out = Path(out)
    audio_name, data = ("audio.mp3", b"")
    if with_audio:
        audio_name, data = audio if audio is not None else audio_payload(charts[0])
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in osu_texts(charts, audio_name, extra_metadata).items():
            zf.writestr(name, text)
        if with_audio:
            zf.writestr(audio_name, data, compress_type=zipfile.ZIP_STORED)
    return out
