"""Accuracy of beatforge.generation.rules.timing.estimate_timing on songs whose timing is known.

Truth: for the charted songs in ../shared/data/songs (Quaver, StepMania, Frets on Fire, katamari) the first
timing point of the song's first chart; for the .osz sets in ../shared/data/sets (the osu! client's own
circles / triangles / welcome) the first red line. Songs whose truth has several BPMs are skipped (noted).

Printed per song: true and estimated BPM, BPM error (%) and whether it is an octave (x2 / x0.5) error, and the
offset error in ms modulo the beat: the smallest |difference| between the estimated and the true grid
(``off``), and that error when half-beat phase confusion is forgiven (``off/2``: modulo half a beat). For an
octave error the offset is compared on the finer of the two grids. ``gen`` is the offset error of the timing
``beatforge generate`` writes: the same BPM, its phase aligned to the shipped rhythm model's onsets (that model
trained on every song of songs/ but katamari; katamari and the three sets are unseen). ``sel`` is the timing of
``beatforge generate --rhythm selector``: the estimated tempo, its phase from madmom's beat network, less the
shipped note selector's learned latency (a median over the 12 songs of songs/: the three sets are unseen), signed
(+: the grid after the true one).

Usage: python benchmarks/timing_accuracy.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from beatforge.audio import load_audio
from beatforge.charts.chart import AudioSource, TimingPoint
from beatforge.formats.archive import find_member
from beatforge.formats.loader import discover, load_beatmaps, load_charts
from beatforge.generation.rules.timing import estimate_timing, signed_phase

_RHYTHM = None


def aligned_timing(y: np.ndarray) -> TimingPoint:
    """What ``beatforge generate`` writes: the estimate, phase-aligned to the shipped rhythm model's onsets."""
    global _RHYTHM
    from beatforge.audio import log_mel
    from beatforge.generation.learned.onset_network import DENSITY_GRID, load_default_rhythm, onset_activation
    from beatforge.generation.rules.timing import song_timing

    _RHYTHM = _RHYTHM or load_default_rhythm()
    acts = onset_activation(_RHYTHM, log_mel(y), DENSITY_GRID)
    return song_timing(y, acts, len(y) / 22.05)[0]

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"


def _mod_err(a: float, b: float, period: float) -> float:
    d = (a - b) % period
    return float(min(d, period - d))


def selector_timing(audio, y: np.ndarray) -> TimingPoint:
    """What ``beatforge generate --rhythm selector`` writes (see the module docstring)."""
    from beatforge.generation.learned.note_selector import load_selector
    from beatforge.generation.learned.pretrained_audio import FRAME_MS, song_activations
    from beatforge.generation.rules.timing import beat_aligned_timing

    latency = float(load_selector().latency_ms)
    return beat_aligned_timing(y, song_activations(list(audio)).beat, FRAME_MS, latency_ms=latency)[0]


def songs() -> list[tuple[str, tuple[AudioSource, ...], list[TimingPoint]]]:
    """(name, audio, truth timing) for every song, one entry per distinct audio."""
    out, seen = [], set()
    for src in discover(DATA / "songs"):
        try:
            charts = load_charts(src)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"skip {src.path.name}: {exc}")
            continue
        chart = charts[0]
        key = tuple(str(a) for a in chart.meta.audio)
        if key in seen or not chart.timing:
            continue
        seen.add(key)
        out.append((src.path.name, chart.meta.audio, list(chart.timing)))
    for osz in sorted((DATA / "sets").glob("*.osz")):
        bm = load_beatmaps(osz)[0]
        member = find_member(osz, bm.audio_filename)
        if member is None:
            print(f"skip {osz.name}: no audio in the archive")
            continue
        reds = [TimingPoint(tp.time, tp.beat_length, tp.meter) for tp in bm.red_lines()]
        out.append((osz.name, (AudioSource(osz, member),), reds))
    return out


def main() -> None:
    rows = []
    print(f"{'song':42s} {'true':>8s} {'est':>8s} {'err%':>7s} {'oct':>4s} {'off ms':>7s} {'off/2':>6s} {'gen':>6s} "
          f"{'sel':>6s} {'s':>5s}")
    for name, audio, truth in songs():
        if len({round(tp.bpm, 2) for tp in truth}) > 1:
            print(f"{name:42s} skipped: {len(truth)} timing points with BPM changes")
            continue
        t0 = time.perf_counter()
        y = load_audio(list(audio))
        est = estimate_timing(y)
        secs = time.perf_counter() - t0
        true_bpm, true_off = truth[0].bpm, truth[0].time
        err = (est.bpm - true_bpm) / true_bpm * 100.0
        ratio = est.bpm / true_bpm
        octave = int(round(np.log2(ratio)))
        err_oct = (ratio / 2.0**octave - 1.0) * 100.0
        grid = min(est.beat_length, truth[0].beat_length)  # the finer grid when the octave differs
        off = _mod_err(est.time, true_off, grid)
        off_half = _mod_err(est.time, true_off, grid / 2.0)
        gen = _mod_err(aligned_timing(y).time, true_off, grid)
        sel_tp = selector_timing(audio, y)
        sel = signed_phase(sel_tp.time, true_off, min(sel_tp.beat_length, truth[0].beat_length))
        rows.append((err, err_oct, octave, off, off_half, gen, abs(sel)))
        flag = f"x{2.0**octave:g}" if octave else ""
        print(
            f"{name[:42]:42s} {true_bpm:8.2f} {est.bpm:8.2f} {err:7.2f} {flag:>4s} {off:7.1f} {off_half:6.1f} "
            f"{gen:6.1f} {sel:+6.1f} {secs:5.1f}"
        )
    if not rows:
        print("no song measured")
        return
    a = np.array(rows, dtype=np.float64)
    exact = a[:, 2] == 0
    print(f"\n{len(a)} songs; {int(exact.sum())} at the true octave")
    print(
        f"mean |BPM error|            {np.mean(np.abs(a[:, 0])):.3f} % (all), "
        f"{np.mean(np.abs(a[exact, 0])) if exact.any() else float('nan'):.3f} % (true octave only)"
    )
    print(f"mean |BPM error| mod octave {np.mean(np.abs(a[:, 1])):.3f} %")
    print(f"mean |offset error|         {np.mean(a[:, 3]):.1f} ms (mod beat), {np.mean(a[:, 4]):.1f} ms (mod half)")
    print(f"median |offset error|       {np.median(a[:, 3]):.1f} ms (mod beat), {np.median(a[:, 4]):.1f} ms (mod half)")
    print(f"generate's offset error     mean {np.mean(a[:, 5]):.1f} ms, median {np.median(a[:, 5]):.1f} ms (mod beat)")
    print(f"--rhythm selector's offset  mean {np.mean(a[:, 6]):.1f} ms, median {np.median(a[:, 6]):.1f} ms; "
          f"within 5 ms: {int(np.sum(a[:, 6] <= 5.0))} of {len(a)}")


if __name__ == "__main__":
    main()
