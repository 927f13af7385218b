"""Seconds to evaluate N charts with ``beatforge evaluate`` (by default every chart of ../shared/data/songs against
itself: 57 charts, 12 songs), with and without the report's previews, and the human charts' onset F1 against their
audio per song (the baseline a generated chart's onset F1 is read against).

    python benchmarks/evaluate.py
    python benchmarks/evaluate.py --generated build/docs/katamari --reference ../shared/data/songs/katamari

A script, not a test: it prints its figures (and writes the report into --out).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SONGS = REPO.parent / "shared" / "data" / "songs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generated", type=Path, default=SONGS)
    ap.add_argument("--reference", type=Path, default=SONGS)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "evaluate")
    ap.add_argument("--no-report", action="store_true", help="time the metrics only")
    args = ap.parse_args()
    if not args.reference.exists():
        raise SystemExit(f"{args.reference}: not found (the benchmark reads ../shared/data beside the checkout)")

    from beatforge.evaluation.report import evaluate

    t0 = time.perf_counter()
    result = evaluate(args.generated, args.reference)
    t_metrics = time.perf_counter() - t0
    n = result["n_charts"]
    print(f"metrics only: {n} charts, {result['n_songs']} songs in {t_metrics:.1f} s ({t_metrics / n:.2f} s/chart)")
    if not args.no_report:
        for previews in (False, True):
            t0 = time.perf_counter()
            evaluate(args.generated, args.reference, args.out, previews=previews)
            dt = time.perf_counter() - t0
            print(f"with the HTML report{' and previews' if previews else ''}: {dt:.1f} s ({dt / n:.2f} s/chart)")
        print(f"report: {args.out / 'index.html'}")

    print(f"\nmean rhythm F1 {result['rhythm_f1_10ms']:.3f} @10 ms, {result['rhythm_f1_50ms']:.3f} @50 ms; "
          f"SR error {result['sr_error']:.3f}")
    by_song: dict[str, list[dict]] = defaultdict(list)
    for c in result["charts"]:
        by_song[c["title"]].append(c)
    print("\n| song | charts | onset F1 vs audio (mean, min-max) | onset lag ms (median) |")
    print("| --- | ---: | --- | ---: |")
    for song, rows in sorted(by_song.items()):
        f1 = np.array([r["onset_f1"] for r in rows if r["onset_f1"] is not None])
        lag = [r["onset_lag_ms"] for r in rows if r["onset_lag_ms"] is not None]
        if len(f1):
            print(f"| {song} | {len(rows)} | {f1.mean():.2f} ({f1.min():.2f}-{f1.max():.2f}) | {np.median(lag):+.0f} |")
        else:
            print(f"| {song} | {len(rows)} | no audio | - |")


if __name__ == "__main__":
    main()
