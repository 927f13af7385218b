"""The song's audio as osu! plays it: the file a generated set carries in its .osz and beside its .osu files.

* mp3 and Ogg Vorbis (OSU_AUDIO_SUFFIXES) are copied byte for byte: re-encoding would move the notes against the
  music by the new encoder's padding. An .ogg holding Opus (or FLAC), which osu! cannot play, is transcoded, and so
  is a file over the Ranking Criteria's bit rate (OSU_MAX_AUDIO_KBPS: a 193 kbps mp3 cannot be submitted as it is).
* Anything else osu! does not play (flac, wav, m4a, opus ...) is transcoded to Ogg Vorbis, whose encoder adds no
  padding (the table in :mod:`beatforge.audio`: 0 samples), so the notes stay in sync. Channels (up to two) and the
  sample rate are kept.
* A Frets on Fire song's stems (song.ogg, guitar.ogg, rhythm.ogg ...) are mixed in stereo into one Ogg Vorbis file;
  the sum is scaled down only where it would clip (Chaos God's two stems peak at +3.2 dB together), as
  :func:`beatforge.audio.load_audio` mixes them for the models.

Ogg Vorbis is written at libvorbis quality EXPORT_VORBIS_QUALITY (~192 kbps nominal for 44.1 kHz stereo; Frets on
Fire's stems are 160 kbps): the highest quality whose nominal bit rate stays under the criteria's 208 kbps for .ogg
(:func:`vorbis_quality`), so a 256 kbps m4a gets q6 too.
ffmpeg does the work where it is on PATH (a subprocess with AUDIO_EXPORT_TIMEOUT_S, writing a temporary name that is
renamed when complete); without it, libsndfile's Vorbis encoder at EXPORT_VORBIS_QUALITY transcodes what libsndfile
reads, and stems are mixed by :func:`beatforge.audio.load_audio` (mono).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import soundfile as sf

from beatforge.audio import audio_kbps, load_audio, local_path
from beatforge.charts.chart import AudioSource
from beatforge.constants import (
    AUDIO_EXPORT_TIMEOUT_S,
    EXPORT_VORBIS_QUALITY,
    OSU_AUDIO_SUFFIXES,
    OSU_MAX_AUDIO_KBPS,
)
from beatforge.errors import AudioError, message_of
from beatforge.fileio import atomic_path, atomic_write_bytes

# Vorbis encodes 8 to 48 kHz here; other rates are resampled to the nearest of these
VORBIS_RATE_RANGE = (8000, 48000)
_PEAK_RE = re.compile(r"Peak level dB:\s*(-?inf|[-+0-9.eE]+)")
# Headroom below full scale for a mix that would clip (Vorbis decoding overshoots a little)
_MIX_HEADROOM_DB = 0.3
# libvorbis's nominal bitrate (kbps, 44.1 kHz stereo) by quality
VORBIS_NOMINAL_KBPS = {4: 128, 5: 160, 6: 192, 7: 224, 8: 256, 9: 320}
_LOSSLESS = re.compile(r"pcm_.*|flac|alac|wavpack|ape|tta|mlp|truehd|tak")


def osu_audio_name(sources: Sequence[AudioSource]) -> str:
    """The file name the set's audio gets: ``audio.mp3`` / ``audio.ogg`` for one that is copied as it is
    (:func:`plays_as_is`), ``audio.ogg`` otherwise."""
    if len(sources) == 1 and plays_as_is(sources[0]):
        return "audio" + sources[0].suffix
    return "audio.ogg"


def plays_as_is(src: AudioSource) -> bool:
    """Whether osu! plays the file as it is and the Ranking Criteria allow it: an mp3, or an .ogg holding Vorbis
    (not Opus, FLAC or Speex, which osu! cannot play and which are transcoded like any other format), at most
    OSU_MAX_AUDIO_KBPS."""
    if src.suffix not in OSU_AUDIO_SUFFIXES:
        return False
    if src.suffix == ".ogg":
        try:
            if sf.info(str(src.path) if src.member is None else src.open()).subtype != "VORBIS":
                return False
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            return False  # libsndfile cannot read it: not the Vorbis it reads
    try:
        return audio_kbps(src) <= OSU_MAX_AUDIO_KBPS[src.suffix] + 0.5
    except AudioError:
        return True  # its length cannot be read here: copied as it is (decoding it fails clearly elsewhere)


def export_audio(sources: Sequence[AudioSource], folder: str | Path) -> Path:
    """Write the song's audio for osu! into ``folder`` as :func:`osu_audio_name` names it, and return its path.

    Raises:
        AudioError: a source that cannot be read, or ffmpeg failing or running past AUDIO_EXPORT_TIMEOUT_S.
    """
    sources = tuple(sources)
    if not sources:
        raise AudioError("no audio to write: the song has no audio file")
    target = Path(folder) / osu_audio_name(sources)
    if len(sources) == 1 and plays_as_is(sources[0]):
        atomic_write_bytes(target, sources[0].read_bytes())
        return target
    tools = _ffmpeg_tools()
    if tools is not None:
        with ExitStack() as stack:
            paths = [stack.enter_context(local_path(s, folder)) for s in sources]
            _ffmpeg_vorbis(tools, paths, sources, target)
    elif len(sources) == 1:
        _soundfile_vorbis(sources[0], target)
    else:
        _mono_vorbis(sources, target)
    return target


# ------------------------------------------------------------------------------------------------ ffmpeg
def _ffmpeg_tools() -> tuple[str, str] | None:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return (ffmpeg, ffprobe) if ffmpeg and ffprobe else None


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=AUDIO_EXPORT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{what}: ffmpeg took more than {AUDIO_EXPORT_TIMEOUT_S:.0f} s to convert it for osu!") \
            from None
    except OSError as exc:
        raise AudioError(f"{what}: ffmpeg failed ({message_of(exc)})") from None
    if out.returncode != 0:
        tail = out.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise AudioError(f"{what}: ffmpeg cannot convert it for osu! ({message_of(tail[0])})")
    return out


def _probe(ffprobe: str, path: str, what: str) -> tuple[int, int, int]:
    """(sample rate, channels, kbps) of the first audio stream; kbps 0 for a lossless codec or where the file does
    not tell."""
    out = _run([ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                "stream=sample_rate,channels,codec_name,bit_rate:format=bit_rate", "-of", "json", path], what)
    try:
        meta = json.loads(out.stdout or b"{}")
        stream = meta["streams"][0]
        rate, channels = int(stream["sample_rate"]), int(stream["channels"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise AudioError(f"{what}: no audio stream ffmpeg can read") from None
    if _LOSSLESS.fullmatch(str(stream.get("codec_name", ""))):
        return rate, channels, 0
    for value in (stream.get("bit_rate"), meta.get("format", {}).get("bit_rate")):
        try:
            return rate, channels, int(value) // 1000
        except (TypeError, ValueError):
            continue
    return rate, channels, 0


def vorbis_quality(source_kbps: int) -> int:
    """The libvorbis quality for a source of ``source_kbps`` (0: lossless or unknown): the lowest whose nominal
    bitrate is at least the source's, from EXPORT_VORBIS_QUALITY up, and never one whose nominal bitrate is over
    the criteria's limit for .ogg (a 256 kbps source gets the highest that fits, q6)."""
    allowed = [q for q, kbps in sorted(VORBIS_NOMINAL_KBPS.items()) if kbps <= OSU_MAX_AUDIO_KBPS[".ogg"]]
    fits = [q for q in allowed if q >= EXPORT_VORBIS_QUALITY and VORBIS_NOMINAL_KBPS[q] >= source_kbps]
    return fits[0] if fits else max(allowed)


def _ffmpeg_vorbis(tools: tuple[str, str], paths: list[str], sources: Sequence[AudioSource], target: Path) -> None:
    """One file transcoded, or several stems mixed, to Ogg Vorbis at ``target`` (via a temporary name)."""
    ffmpeg, ffprobe = tools
    what = " + ".join(str(s) for s in sources)
    info = [_probe(ffprobe, p, str(s)) for p, s in zip(paths, sources)]
    rate = int(np.clip(max(r for r, _, _ in info), *VORBIS_RATE_RANGE))
    channels = 2 if max(c for _, c, _ in info) >= 2 else 1
    quality = vorbis_quality(max(k for _, _, k in info))
    head = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-y"]
    inputs = [a for p in paths for a in ("-i", p)]
    if len(paths) == 1:
        graph = ["-map", "0:a:0", "-ac", str(channels), "-ar", str(rate)]
    else:
        layout = "stereo" if channels == 2 else "mono"
        mix = "".join(f"[{i}:a:0]aresample={rate},aformat=sample_fmts=fltp:channel_layouts={layout}[a{i}];"
                      for i in range(len(paths)))
        mix += "".join(f"[a{i}]" for i in range(len(paths)))
        mix += f"amix=inputs={len(paths)}:duration=longest:normalize=0"
        probe = _run([*head, "-v", "info", *inputs, "-filter_complex",
                      mix + ",astats=measure_perchannel=none:measure_overall=Peak_level", "-f", "null", "-"], what)
        peaks = _PEAK_RE.findall(probe.stderr.decode(errors="replace"))
        peak_db = float(peaks[-1]) if peaks and peaks[-1] != "-inf" else -np.inf
        gain = f",volume={-(peak_db + _MIX_HEADROOM_DB):.3f}dB" if peak_db > -_MIX_HEADROOM_DB else ""
        graph = ["-filter_complex", mix + gain + "[out]", "-map", "[out]"]
    with atomic_path(target) as tmp:
        # Vorbis quality is variable bit rate: busy music goes over the nominal rate (katamari at q6: 214 kbps,
        # over the criteria's 208), so a file over the limit is encoded again a quality lower
        for q in range(quality, min(VORBIS_NOMINAL_KBPS) - 1, -1):
            _run([*head, "-v", "error", *inputs, *graph, "-vn", "-map_metadata", "-1", "-c:a", "libvorbis",
                  "-q:a", str(q), "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "ogg", str(tmp)], what)
            if _file_kbps(tmp) <= OSU_MAX_AUDIO_KBPS[".ogg"]:
                break


def _file_kbps(path: Path) -> float:
    """An Ogg Vorbis file's average bit rate (its size over its duration; 0 where libsndfile cannot tell)."""
    try:
        seconds = sf.info(str(path)).duration
    except (sf.LibsndfileError, RuntimeError):
        return 0.0
    return path.stat().st_size * 8 / seconds / 1000.0 if seconds > 0 else 0.0


# ------------------------------------------------------------------------------------------------ without ffmpeg
def _soundfile_vorbis(src: AudioSource, target: Path) -> None:
    """One file libsndfile reads (without ffmpeg nothing else could be charted), through libsndfile's Vorbis encoder
    at the same quality; channels (up to two) and the sample rate kept where Vorbis takes them."""
    try:
        with sf.SoundFile(str(src.path) if src.member is None else src.open()) as fin:
            if not VORBIS_RATE_RANGE[0] <= fin.samplerate <= VORBIS_RATE_RANGE[1]:
                fin.close()
                _mono_vorbis([src], target)
                return
            channels = min(fin.channels, 2)
            _write_vorbis(target, fin.samplerate, channels,
                          (b[:, :channels] for b in fin.blocks(blocksize=1 << 15, dtype="float32", always_2d=True)))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{src}: cannot convert it for osu! ({message_of(exc)})") from None


def _mono_vorbis(sources: Sequence[AudioSource], target: Path) -> None:
    """Stems mixed (or one file resampled) by :func:`beatforge.audio.load_audio`: mono at 44.1 kHz."""
    rate = 44100
    mix = load_audio(list(sources), sr=rate)
    _write_vorbis(target, rate, 1, (mix[i : i + (1 << 15), None] for i in range(0, len(mix), 1 << 15)))


def _write_vorbis(target: Path, rate: int, channels: int, blocks) -> None:  # noqa: ANN001 (an iterator of arrays)
    """Blocks of (n, channels) float32 to Ogg Vorbis, one write call each: libsndfile's encoder crashes (SIGSEGV)
    when one call gets minutes of audio."""
    with atomic_path(target) as tmp, sf.SoundFile(tmp, "w", rate, channels, format="OGG", subtype="VORBIS",
                                                  compression_level=1.0 - EXPORT_VORBIS_QUALITY / 10.0) as fout:
        for block in blocks:
            fout.write(block)


__all__ = ["VORBIS_NOMINAL_KBPS", "export_audio", "osu_audio_name", "plays_as_is", "vorbis_quality"]
