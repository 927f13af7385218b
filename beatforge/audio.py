"""The audio frontend: encoded song -> mono float32 waveform at 22.05 kHz -> log-mel spectrogram.

One implementation shared by the dataset builder and generation, so the model always sees the same features.

Decoding is gapless. MP3 encoders put silence before the first real sample (LAME: 576 samples of encoder
delay + 529 of decoder delay = 1105 samples, 25 ms at 44.1 kHz, 50 ms at 22.05 kHz) and record it in the
LAME/Xing "Info" header; a decoder that ignores that header shifts every note. Measured with a synthetic click
track (clicks at known sample positions, cross-correlated after decoding), libsndfile 1.2.2 via soundfile and
ffmpeg 5.1 agree to the sample:

    encoder                                  soundfile (mpg123)   ffmpeg
    libsndfile/LAME (sf.write format=MP3)    0 samples            0 samples
    ffmpeg libmp3lame (LAME tag written)     0                    0
    ffmpeg libmp3lame -write_xing 0          +1105 (25 ms)        +1105 (25 ms)   <- no tag: nobody can know
    Ogg Vorbis (libsndfile or ffmpeg)        0                    0
    Ogg Opus (libsndfile or ffmpeg, 48 kHz)  0                    0
    AAC in .m4a (ffmpeg)                     cannot open          0

(at 44.1, 48 and 22.05 kHz alike). soundfile is therefore the decoder: it is gapless wherever the file says
how, and needs no external program. ffmpeg is only a fallback for what libsndfile cannot open (m4a/aac, wma,
webm...), used when ``ffmpeg``/``ffprobe`` are on PATH (Debian package ``ffmpeg``).

Stems (Frets on Fire's song.ogg + guitar.ogg + rhythm.ogg) are decoded one by one, each downmixed (channel
mean, like librosa) and resampled with soxr "HQ" (librosa's default resampler), then summed; the mix is scaled
down only where its peak exceeds 1.0. A single file is never rescaled.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from filelock import FileLock, Timeout

from beatforge.charts.chart import AudioSource
from beatforge.constants import (
    HOP_LENGTH,
    MAX_AUDIO_SECONDS,
    N_FFT,
    N_MELS,
    ONSET_HOP,
    ONSET_N_FFT,
    ONSET_N_MELS,
    SAMPLE_RATE,
)
from beatforge.errors import AudioError, message_of
from beatforge.fileio import atomic_path

__all__ = [
    "FEATURE_VERSION",
    "SILENCE_PEAK",
    "MelCache",
    "audio_duration",
    "audio_kbps",
    "content_hash",
    "hann_window",
    "import_librosa",
    "load_audio",
    "log_mel",
    "mel_filters",
    "mel_frames",
    "mel_power",
    "onset_strength",
]

AudioInput = str | os.PathLike | AudioSource | Sequence[str | os.PathLike | AudioSource]

# Bump when log_mel, the decoding or the mixing changes in a way that alters the numbers: it is part of the
# cache key, so every cached spectrogram is recomputed.
FEATURE_VERSION = "log1p-power-mel/slaney/soxr-hq/v1"

# A whole file whose peak stays below this (-80 dBFS) is digital silence: nothing to chart.
SILENCE_PEAK = 1e-4

_BLOCK_FRAMES = 1 << 18  # decode in blocks, downmixing each, so a stereo file never sits in memory twice
_FFMPEG_TIMEOUT_S = 600


# ------------------------------------------------------------------------------------------- sources
def _as_sources(source: AudioInput) -> tuple[AudioSource, ...]:
    """One path, one AudioSource, or a sequence of either -> a tuple of AudioSource (in order)."""
    if isinstance(source, AudioSource):
        return (source,)
    if isinstance(source, (str, os.PathLike)):
        return (AudioSource(Path(source)),)
    items = tuple(s if isinstance(s, AudioSource) else AudioSource(Path(s)) for s in source)
    if not items:
        raise AudioError("no audio file given (an empty list of stems)")
    return items


def _label(sources: Sequence[AudioSource]) -> str:
    return " + ".join(str(s) for s in sources)


def _check_exists(src: AudioSource) -> None:
    if src.member is None:
        path = Path(src.path)
        if not path.exists():
            raise AudioError(f"{src}: audio file not found")
        if not path.is_file():
            raise AudioError(f"{src}: not a file")
        if path.stat().st_size == 0:
            raise AudioError(f"{src}: the file is empty (0 bytes)")
    elif not src.exists():  # a bad archive raises ArchiveError, itself a one-line BeatforgeError
        raise AudioError(f"{src}: audio file not found in the archive")


@contextmanager
def local_path(src: AudioSource, folder: str | Path | None = None) -> Iterator[str]:
    """A real file path for ffmpeg: the file itself, or an archive member copied to a temporary file (in ``folder``,
    default the system's temporary folder), removed afterwards."""
    if src.member is None:
        yield str(src.path)
        return
    fd, tmp = tempfile.mkstemp(prefix=".beatforge-audio-", suffix=src.suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(src.read_bytes())
        yield tmp
    finally:
        os.unlink(tmp)


def _ffmpeg_tools() -> tuple[str, str] | None:
    """(ffmpeg, ffprobe) when both are on PATH, else None."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return (ffmpeg, ffprobe) if ffmpeg and ffprobe else None


# ------------------------------------------------------------------------------------------- probing
@dataclass(frozen=True)
class _Info:
    samplerate: int
    channels: int
    duration: float | None  # seconds; None where the container does not tell
    exact: bool  # False: the duration is an estimate (MP3 without a Xing/Info/VBRI header)
    backend: str  # "soundfile" | "ffmpeg"


def _id3_end(head: bytes) -> int:
    """Where the audio starts: after an ID3v2 tag (size syncsafe-coded in bytes 6-9, plus an optional footer)."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _mp3_has_length_header(src: AudioSource) -> bool:
    """Whether an MP3 carries a Xing/Info/VBRI header (frame count: exact length, and LAME's gapless data).

    Without one, libsndfile estimates the length from the first frame's bitrate, which for a VBR file can be
    wrong several-fold (measured: 437 s claimed for a 60 s file), so it must not reject a file by itself.
    """
    window = 4096
    if src.member is None:
        with open(src.path, "rb") as f:
            start = _id3_end(f.read(10))
            f.seek(start)
            head = f.read(window)
    else:
        data = src.read_bytes()
        start = _id3_end(data[:10])
        head = data[start : start + window]
    return any(tag in head for tag in (b"Xing", b"Info", b"VBRI"))


@contextmanager
def _sf_open(src: AudioSource) -> Iterator[sf.SoundFile]:
    target = str(src.path) if src.member is None else src.open()
    with sf.SoundFile(target) as f:
        yield f


def _probe_soundfile(src: AudioSource) -> _Info | None:
    try:
        with _sf_open(src) as f:
            sr, ch, frames, fmt = f.samplerate, f.channels, f.frames, f.format
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if sr <= 0 or ch <= 0:
        return None
    exact = fmt != "MP3" or _mp3_has_length_header(src)
    return _Info(sr, ch, frames / sr if frames >= 0 else None, exact, "soundfile")


def _probe_ffmpeg(src: AudioSource, tools: tuple[str, str]) -> _Info | None:
    cmd = [tools[1], "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels:format=duration", "-of", "json"]  # fmt: skip
    with local_path(src) as path:
        try:
            out = subprocess.run([*cmd, path], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if out.returncode != 0:
        return None
    try:
        meta = json.loads(out.stdout or b"{}")
        stream = meta["streams"][0]
        sr, ch = int(stream["sample_rate"]), int(stream["channels"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        duration: float | None = float(meta.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        duration = None
    if sr <= 0 or ch <= 0:
        return None
    return _Info(sr, ch, duration, duration is not None, "ffmpeg")


# Sample rates a real recording has: a header claiming 1 Hz makes a 1 KB file resample into gigabytes
AUDIO_RATE_RANGE = (1000, 768_000)
MAX_CHANNELS = 64


def _checked_info(src: AudioSource, info: _Info) -> _Info:
    if not AUDIO_RATE_RANGE[0] <= info.samplerate <= AUDIO_RATE_RANGE[1]:
        raise AudioError(f"{src}: a sample rate of {info.samplerate} Hz (audio has {AUDIO_RATE_RANGE[0]} to "
                         f"{AUDIO_RATE_RANGE[1]} Hz)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioError(f"{src}: {info.channels} channels (1 to {MAX_CHANNELS})")
    return info


def _probe(src: AudioSource) -> _Info:
    _check_exists(src)
    info = _probe_soundfile(src)
    if info is not None:
        return _checked_info(src, info)
    tools = _ffmpeg_tools()
    if tools is not None:
        info = _probe_ffmpeg(src, tools)
        if info is not None:
            return _checked_info(src, info)
        raise AudioError(f"{src}: not a readable audio file (neither libsndfile nor ffmpeg can decode it)")
    raise AudioError(
        f"{src}: not a readable audio file (libsndfile cannot decode it; "
        "installing ffmpeg adds m4a/aac/wma/webm support)"
    )


def _too_long(src: AudioSource, seconds: float) -> AudioError:
    return AudioError(
        f"{src}: {seconds / 60:.1f} minutes of audio, more than the {MAX_AUDIO_SECONDS / 60:.0f}-minute limit"
    )


def audio_kbps(source: AudioSource) -> float:
    """A song file's average bit rate: its size, less an MP3's leading ID3 tag (cover art is not audio), over its
    duration (raises BeatforgeError where it cannot be read)."""
    data = source.read_bytes()
    tag = _id3_end(data[:10]) if source.suffix == ".mp3" else 0
    seconds = audio_duration(source)
    if not seconds > 0:
        raise AudioError(f"{source.name}: 0 seconds of audio")
    return (len(data) - min(tag, len(data))) * 8 / seconds / 1000.0


def audio_duration(source: AudioInput) -> float:
    """Duration in seconds read from the header(s) without decoding (the longest stem for several).

    Exact for WAV, FLAC, Ogg and MP3 with a Xing/Info/VBRI header; for an MP3 without one it is libsndfile's
    bitrate estimate. Raises :class:`AudioError` for a missing or unreadable file.
    """
    durations = []
    for src in _as_sources(source):
        info = _probe(src)
        if info.duration is None:
            raise AudioError(f"{src}: the file does not tell its duration")
        durations.append(info.duration)
    return max(durations)


# ------------------------------------------------------------------------------------------- decoding
def _decode_soundfile(src: AudioSource, max_frames: int) -> tuple[np.ndarray, int]:
    """Mono float32 at the native rate. Reads until the real end of stream, not the header's frame count
    (which soundfile's ``read()`` would stop at, and which is a guess for some MP3s)."""
    blocks: list[np.ndarray] = []
    total = 0
    try:
        with _sf_open(src) as f:
            sr = f.samplerate
            buf = np.empty((_BLOCK_FRAMES, f.channels), dtype=np.float32)
            while True:
                block = f.read(out=buf)
                if not len(block):
                    break
                blocks.append(block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].copy())
                total += len(block)
                if total > max_frames:
                    raise _too_long(src, total / sr)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{src}: decoding failed ({message_of(exc)})") from None
    y = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return y, sr


def _decode_ffmpeg(src: AudioSource, info: _Info, max_frames: int) -> tuple[np.ndarray, int]:
    """Mono float32 at the native rate through ffmpeg. Native channels and rate on purpose: downmix (mean) and
    resampling (soxr) then happen exactly as for soundfile; ffmpeg's own ``-ac 1`` sums stereo at +3 dB."""
    tools = _ffmpeg_tools()
    if tools is None:
        raise AudioError(f"{src}: ffmpeg is needed to decode this file and is not on PATH")
    seconds = max_frames / info.samplerate + 1.0
    cmd = [tools[0], "-nostdin", "-v", "error", "-i", "{path}", "-map", "0:a:0", "-vn", "-t", f"{seconds:.3f}",
           "-ac", str(info.channels), "-ar", str(info.samplerate), "-f", "f32le", "-"]  # fmt: skip
    with local_path(src) as path:
        cmd[cmd.index("{path}")] = path
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AudioError(f"{src}: ffmpeg failed ({message_of(exc)})") from None
    if out.returncode != 0:
        raise AudioError(f"{src}: ffmpeg cannot decode it ({message_of(out.stderr.decode(errors='replace'))})")
    n = len(out.stdout) // (4 * info.channels)
    y = np.frombuffer(out.stdout, dtype="<f4", count=n * info.channels).reshape(n, info.channels)
    y = y.mean(axis=1, dtype=np.float32) if info.channels > 1 else y[:, 0].astype(np.float32)
    if len(y) > max_frames:
        raise _too_long(src, len(y) / info.samplerate)
    return y, info.samplerate


def _load_one(src: AudioSource, sr: int) -> np.ndarray:
    info = _probe(src)
    if info.exact and info.duration is not None:
        # Rejected from the header before any decoding: a 3-hour file costs milliseconds.
        if info.duration > MAX_AUDIO_SECONDS:
            raise _too_long(src, info.duration)
        if info.duration == 0:
            raise AudioError(f"{src}: the file holds no audio (0 seconds)")
    max_frames = int(MAX_AUDIO_SECONDS * info.samplerate)
    if info.backend == "soundfile":
        y, native_sr = _decode_soundfile(src, max_frames)
    else:
        y, native_sr = _decode_ffmpeg(src, info, max_frames)
    if len(y) == 0:
        raise AudioError(f"{src}: the file holds no audio (0 seconds)")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{src}: the audio holds NaN or infinite samples")
    if native_sr != sr:
        y = soxr.resample(y, native_sr, sr, quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)


def load_audio(source: AudioInput, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a song to a mono float32 waveform of shape (n,) at ``sr`` Hz, gaplessly.

    ``source`` is a path, an :class:`AudioSource` (file or archive member), or a sequence of them: stems that
    are summed (shorter ones padded with silence), the sum scaled down only if its peak exceeds 1.

    Raises :class:`AudioError` (one line naming the file) for a missing, unreadable, empty, too long
    (> MAX_AUDIO_SECONDS, from the header before decoding where the format tells) or silent file.
    """
    sources = _as_sources(source)
    stems = [_load_one(src, sr) for src in sources]
    if len(stems) == 1:
        y = stems[0]
    else:
        y = np.zeros(max(len(s) for s in stems), dtype=np.float32)
        for s in stems:
            y[: len(s)] += s
        peak = float(np.max(np.abs(y)))
        if peak > 1.0:
            y /= np.float32(peak)
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK:
        raise AudioError(f"{_label(sources)}: digital silence (peak amplitude {peak:.1e}, below {SILENCE_PEAK:g})")
    return y


# ------------------------------------------------------------------------------------------- features
def mel_frames(n_samples: int) -> int:
    """Frames :func:`log_mel` gives for ``n_samples`` samples: frame i is centred on sample i * HOP_LENGTH."""
    return 1 + n_samples // HOP_LENGTH


def log_mel(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mug Diffusion's features: log1p of the power mel spectrogram, shape (N_MELS, T) float32.

    STFT with n_fft N_FFT (periodic Hann window of the same length), hop HOP_LENGTH, 128 Slaney-scale,
    Slaney-normalised mel bands from 0 Hz to sr/2 (librosa's defaults), power 2, then ``log1p``.

    Time convention (chart frames are aligned to it): librosa's ``center=True`` with zero padding, so frame i
    is centred on sample ``i * HOP_LENGTH``, i.e. time ``i * HOP_LENGTH / sr`` (5.805 ms per frame at
    22.05 kHz); ``T = 1 + len(y) // HOP_LENGTH`` (see :func:`mel_frames`).

    The numbers are librosa's ``melspectrogram`` (0.11) to the bit, written with numpy (:func:`mel_power`): see there
    why not librosa itself.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"log_mel needs a non-empty mono waveform, got shape {y.shape}")
    mel = mel_power(y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS)
    return np.log1p(mel).astype(np.float32, copy=False)


def onset_strength(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The onset-strength envelope (spectral flux) that timing estimation and the evaluator read, shape (T,) float32,
    ``T = 1 + len(y) // ONSET_HOP``: ``librosa.onset.onset_strength(y=y, sr=sr, hop_length=ONSET_HOP,
    n_fft=ONSET_N_FFT, n_mels=ONSET_N_MELS)`` to the bit, written with numpy.

    librosa's steps with its defaults: the power mel spectrogram (:func:`mel_power`) in dB (relative to 1.0, not to
    the maximum), floored 80 dB below its maximum; the positive difference of each frame from the one before (lag 1,
    no local-max filter), averaged over the mel bands; shifted ``1 + ONSET_N_FFT // (2 * ONSET_HOP)`` frames later
    (the lag and the centred frames) with zeros in front, and cut to the spectrogram's length.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"onset_strength needs a non-empty mono waveform, got shape {y.shape}")
    S = np.abs(mel_power(y, sr=sr, n_fft=ONSET_N_FFT, hop_length=ONSET_HOP, n_mels=ONSET_N_MELS))
    # librosa's power_to_db(S) with its defaults (ref 1.0, so nothing is subtracted; amin 1e-10; top_db 80), in float32
    db = 10.0 * np.log10(np.maximum(1e-10, S))
    db = np.maximum(db, db.max() - 80.0)
    flux = np.maximum(0.0, db[..., 1:] - db[..., :-1])
    env = np.empty((1, flux.shape[-1]), order="F" if np.isfortran(flux) else "C", dtype=flux.dtype)
    env[0] = np.mean(flux, axis=-2)  # librosa.util.sync's mean over the one channel of all bands
    shift = 1 + ONSET_N_FFT // (2 * ONSET_HOP)
    return np.pad(env, [(0, 0), (shift, 0)], mode="constant")[0, : db.shape[-1]]


# ------------------------------------------------------------------------------------------- spectrogram
_STFT_BLOCK = 512  # frames per FFT block: 512 x 512 float64 samples = 2 MB, whatever the song's length


def hann_window(n: int) -> np.ndarray:
    """The periodic ("fftbins") Hann window of ``n`` samples, computed as scipy.signal.get_window does."""
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1, dtype=np.float64)
    for k, a in enumerate((0.5, 0.5)):  # scipy's general_cosine, term by term
        w += a * np.cos(k * fac)
    return w[:-1]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's ``hz_to_mel(htk=False)``): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = hz >= 1000.0
    mels[log_t] = min_log_mel + np.log(hz[log_t] / 1000.0) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_hz_to_mel` (librosa's ``mel_to_hz(htk=False)``)."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    hz = 0.0 + f_sp * mels
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    hz[log_t] = 1000.0 * np.exp(logstep * (mels[log_t] - min_log_mel))
    return hz


@functools.lru_cache(maxsize=8)
def mel_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The mel filter bank (n_mels, 1 + n_fft // 2) float32, read-only: triangles on Slaney's mel scale from 0 Hz to
    sr/2, each scaled to 2 / its width in Hz (Slaney's normalisation). librosa's ``filters.mel(sr=sr, n_fft=n_fft,
    n_mels=n_mels)`` to the bit (the same operations in the same order and precision)."""
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sr / 2.0]))[0], n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_hz[2 : n_mels + 2] - mel_hz[:n_mels]))[:, None]  # float64 product, stored as float32
    weights.flags.writeable = False
    return weights


def mel_power(y: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int) -> np.ndarray:
    """The power mel spectrogram (n_mels, 1 + len(y) // hop_length) float32 of a mono float32 waveform: librosa's
    ``feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0, center=True,
    pad_mode="constant")`` to the bit.

    Why not librosa: its import (numba and its compiled functions, scipy.signal) costs ~6 s of every generate run on
    a 2-core CPU, more than the whole computation. The same operations in the same precision give the same bits:
    frames centred by zero padding, a periodic Hann window in float64, numpy's real FFT rounded to complex64,
    ``|X| ** 2`` in float32, then the filter bank (:func:`mel_filters`) by the same ``einsum`` call on a spectrogram
    of the same memory layout (frames x bins in memory). The FFT runs in blocks of frames (memory stays a few MB
    above the float32 spectrogram itself); the filter bank is applied once to the whole spectrogram, because the
    BLAS product's rounding changes with the matrix's width.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    window = hann_window(n_fft)
    half = n_fft // 2
    padded = np.pad(y, (half, half), mode="constant")
    n_frames = 1 + len(y) // hop_length
    step = padded.strides[0]
    frames = np.lib.stride_tricks.as_strided(padded, shape=(n_frames, n_fft), strides=(hop_length * step, step),
                                             writeable=False)
    power = np.empty((n_frames, 1 + n_fft // 2), dtype=np.float32)  # frames x bins: librosa's Fortran-order layout
    for start in range(0, n_frames, _STFT_BLOCK):
        stop = min(start + _STFT_BLOCK, n_frames)
        spectrum = np.fft.rfft(window * frames[start:stop], axis=-1).astype(np.complex64)
        power[start:stop] = np.abs(spectrum) ** 2.0
    return np.einsum("...ft,mf->...mt", power.T, mel_filters(sr, n_fft, n_mels), optimize=True)


# ------------------------------------------------------------------------------------------- librosa
# librosa's modules that hold numba functions cached on disk (``cache=True``); their gufuncs compile at import.
_LIBROSA_NUMBA_MODULES = (
    "librosa.util.utils", "librosa.util.matching", "librosa.filters", "librosa.feature.utils", "librosa.sequence",
    "librosa.beat", "librosa.onset", "librosa.core.notation", "librosa.core.audio", "librosa.core.pitch",
    "librosa.core.spectrum", "librosa.core.constantq",
)
_LIBROSA_LOCK_TIMEOUT_S = 900.0


@functools.cache
def import_librosa():  # noqa: ANN201 (the module)
    """librosa, with its numba-compiled modules imported under one machine-wide file lock.

    Why: librosa's gufuncs are compiled when their module is imported and cached on disk (``cache=True``). Each
    gufunc is cached as two files, and numba names the compiled function by the order of compilation in the
    process. Two processes importing librosa at once into an empty cache (a fresh install, the dataset builder's
    worker pool, torchrun, the web page beside a CLI run) can leave the two files of one function from different
    processes; every later process that loads them segfaults (numba issue #10128, open). Measured here: 4 fresh
    processes at once crashed in all 6 rounds, and the damaged cache crashed every later run. Under the lock the
    first process compiles and writes the whole cache and the others load it (same 6 rounds: no crash).
    Every beatforge module takes librosa from here, never by ``import librosa``.
    """
    lock = FileLock(os.path.join(tempfile.gettempdir(), "beatforge-librosa-import.lock"))
    try:
        lock.acquire(timeout=_LIBROSA_LOCK_TIMEOUT_S)
    except (Timeout, OSError):  # a very slow machine, or no writable temporary folder: import unguarded
        lock = None
    try:
        import librosa  # lazy: librosa costs ~1 s of import; only here, under the lock

        for name in _LIBROSA_NUMBA_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:  # another librosa release may lay its modules out differently
                pass
    finally:
        if lock is not None:
            lock.release()
    return librosa


# ------------------------------------------------------------------------------------------- cache
def content_hash(sources: AudioInput) -> str:
    """sha1 over the encoded bytes of every stem, in order, plus the feature parameters.

    Changing SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS or FEATURE_VERSION changes every hash, so a cache keyed
    on it never serves spectrograms computed with other parameters.
    """
    srcs = _as_sources(sources)
    h = hashlib.sha1()
    params = f"{FEATURE_VERSION}|sr={SAMPLE_RATE}|n_fft={N_FFT}|hop={HOP_LENGTH}|n_mels={N_MELS}|stems={len(srcs)}"
    h.update(params.encode())
    for src in srcs:
        _check_exists(src)
        if src.member is None:
            path = Path(src.path)
            h.update(struct.pack("<Q", path.stat().st_size))
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        else:
            data = src.read_bytes()
            h.update(struct.pack("<Q", len(data)))
            h.update(data)
    return h.hexdigest()


class MelCache:
    """log-mel spectrograms stored once per content hash as ``root/<hash[:2]>/<hash>.npy`` (float16).

    Writes go to a temporary file beside the target, then ``os.replace``: an interrupted run leaves no
    half-written ``.npy``, and two processes computing the same hash at once each write a whole file, the
    later rename winning with identical content. A file that cannot be loaded is recomputed and replaced.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        """The stored spectrogram (float16, as stored) or None when absent or unreadable."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            mel = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if mel.ndim != 2 or mel.shape[0] != N_MELS or mel.dtype != np.float16:
            return None
        return mel

    def get_or_compute(self, sources: AudioInput) -> tuple[str, np.ndarray]:
        """(content hash, spectrogram) for the song, computed and stored on a miss.

        The array is float32 holding the stored float16 values, so a hit and the miss that stored it return
        identical arrays.
        """
        key = content_hash(sources)
        mel = self.load(key)
        if mel is None:
            fp16 = np.finfo(np.float16).max
            mel = np.clip(log_mel(load_audio(sources)), -fp16, fp16).astype(np.float16)
            with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as f:
                np.save(f, mel, allow_pickle=False)
        return key, mel.astype(np.float32)
