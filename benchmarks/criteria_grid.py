"""Do generated charts pass ``beatforge check`` at the level their star rating implies? A grid of generations through
the CLI, each set checked, with and without ``--criteria`` (:mod:`beatforge.generation.rules.ranking`).

The grid: three songs of ../shared/data/songs (PrincessOfWinter's mp3, MechaTribe Assault's ogg, and Csikos Post's
mp3, taken out of its Quaver archive into a temporary folder), 4K and 7K, star ratings 1.0 1.5 2.4 3.3 4.5 6 (one
``beatforge generate`` per song, key count and seed, all six at once: it batches them), seeds 1 and 2. Each output
set (its .osz) is checked as ``beatforge check`` does (:func:`beatforge.analysis.ranking_report.check_paths`), each
chart at the level its star rating implies (generated charts have no level word in their names), and the set as a
whole (spread, names, preview point, song file).

``--songs katamari`` adds katamari.mp3, whose file averages 193 kbps, over the 192 kbps the criteria allow an .mp3:
the generator transcodes it to Ogg Vorbis for the set (an mp3 within the limit is copied as it is).

    python benchmarks/criteria_grid.py [--out logs/criteria_grid] [--keys 4 7] [--seeds 1 2] [--sr 1 1.5 ...]
                                       [--songs pow mecha csikos] [--only criteria|no-criteria] [--steps N]

Prints a row per chart (asked and reached star rating, level, problems and warnings with and without the criteria),
the set issues, and the totals; writes them to OUT/grid.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

from beatforge.analysis.ranking_report import check_paths

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SONGS = {
    "pow": ("songs/quaver/PrincessOfWinter/audio.mp3", None),
    "mecha": ("songs/stepmania/MechaTribe Assault/Mecha-Tribe Assault.ogg", None),
    "csikos": ("songs/quaver/zetoban - Csikos Post.qp", "zetoban - Csikos Post.mp3"),
    "katamari": ("songs/katamari/katamari.mp3", None),
}
STAR_RATINGS = (1.0, 1.5, 2.4, 3.3, 4.5, 6.0)
MODES = {"criteria": [], "no-criteria": ["--no-criteria"]}


def song_file(name: str, data: Path, tmp: Path) -> Path:
    """The song's audio file; an archive's audio member is written into ``tmp`` first (never into the checkout)."""
    rel, member = SONGS[name]
    path = data / rel
    if member is None:
        return path
    out = tmp / member
    if not out.exists():
        with zipfile.ZipFile(path) as zf:
            out.write_bytes(zf.read(member))
    return out


def beatforge_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("beatforge")
    return [str(exe)] if exe.exists() else [shutil.which("beatforge") or "beatforge"]


def generate(song: Path, keys: int, seed: int, stars: tuple[float, ...], out: Path, flags: list[str],
             steps: int | None) -> float:
    """One ``beatforge generate`` run; seconds taken."""
    sr = [a for s in stars for a in ("--sr", f"{s:g}")]
    cmd = [*beatforge_cmd(), "generate", str(song), "--keys", str(keys), *sr, "--seed", str(seed), "-o", str(out),
           "--no-preview", *flags]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return time.perf_counter() - t0


def checked(out: Path, asked: tuple[float, ...]) -> dict:
    """The check of the set in ``out`` (its .osz): per chart, and the set's own issues."""
    (osz,) = sorted(out.glob("*.osz"))
    (report,) = check_paths([osz]).sets
    charts = []
    def order(c) -> int:  # generated charts are named "AI v<n> ...", in the order of the --sr flags
        word = c.chart.split()[1] if c.chart.startswith("AI v") else "v0"
        return int(word[1:]) if word[1:].isdigit() else 0

    for c, star in zip(sorted(report.charts, key=order), asked):
        issues = [i for i in c.issues if i.severity != "info"]
        charts.append({"chart": c.chart, "asked": star, "stars": c.stars, "level": c.level, "notes": c.notes,
                       "problems": c.counts["problem"], "warnings": c.counts["warning"],
                       "checks": dict(Counter(f"{i.severity} {i.check}" for i in issues))})
    set_issues = [i for i in report.issues if i.severity != "info"]
    return {"charts": charts, "set_problems": sum(i.severity == "problem" for i in set_issues),
            "set_warnings": sum(i.severity == "warning" for i in set_issues),
            "set_checks": dict(Counter(f"{i.severity} {i.check}" for i in set_issues))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("logs/criteria_grid"))
    ap.add_argument("--songs", nargs="+", default=["pow", "mecha", "csikos"], choices=list(SONGS))
    ap.add_argument("--keys", nargs="+", type=int, default=[4, 7])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--sr", nargs="+", type=float, default=list(STAR_RATINGS))
    ap.add_argument("--only", choices=list(MODES), help="one mode only (default: both)")
    ap.add_argument("--steps", type=int, help="sampling steps (default: the CLI's)")
    args = ap.parse_args()
    if not (args.data / "songs").is_dir():
        raise SystemExit(f"no songs at {args.data / 'songs'} (the shared data folder sits beside the checkout)")
    modes = [args.only] if args.only else list(MODES)
    stars = tuple(args.sr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="criteria-grid-") as tmp:
        for name in args.songs:
            song = song_file(name, args.data, Path(tmp))
            for keys in args.keys:
                for seed in args.seeds:
                    row = {"song": name, "keys": keys, "seed": seed}
                    for mode in modes:
                        out = args.out / name / f"{keys}k" / f"seed{seed}" / mode
                        shutil.rmtree(out, ignore_errors=True)
                        seconds = generate(song, keys, seed, stars, out, MODES[mode], args.steps)
                        row[mode] = {"seconds": seconds, **checked(out, stars)}
                        print(f"{name} {keys}K seed {seed} {mode}: {seconds:.0f} s", flush=True)
                    rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grid.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    report(rows, modes)


def report(rows: list[dict], modes: list[str]) -> None:
    head = "  ".join(f"{m[:11]:>11s} SR  lvl     P   W" for m in modes)
    print(f"\n{'song':7s} {'K':>2s} {'seed':>4s} {'asked':>5s}  {head}")
    totals = {m: Counter() for m in modes}
    for row in rows:
        for k in range(len(row[modes[0]]["charts"])):
            cells = []
            for m in modes:
                c = row[m]["charts"][k]
                cells.append(f"{c['stars']:15.2f}  {c['level'][:6]:6s} {c['problems']:3d} {c['warnings']:3d}")
                totals[m]["charts"] += 1
                totals[m]["problems"] += c["problems"]
                totals[m]["warnings"] += c["warnings"]
                totals[m]["clean"] += c["problems"] == 0 and c["warnings"] == 0
                totals[m].update({f"  {check}": n for check, n in c["checks"].items()})
            print(f"{row['song']:7s} {row['keys']:2d} {row['seed']:4d} {row[modes[0]]['charts'][k]['asked']:5.1f}  "
                  + "  ".join(cells))
        sets = "  ".join(f"{m}: {row[m]['set_problems']} problems, {row[m]['set_warnings']} warnings "
                         f"{row[m]['set_checks'] or ''}" for m in modes)
        print(f"{'':7s} {'':2s} {'':4s} {'set':>5s}  {sets}")
        for m in modes:
            totals[m]["set problems"] += row[m]["set_problems"]
            totals[m]["set warnings"] += row[m]["set_warnings"]
    for m in modes:
        t = totals[m]
        print(f"\n{m}: {t['charts']} charts, {t['clean']} with neither problem nor warning; chart problems "
              f"{t['problems']}, warnings {t['warnings']}; set problems {t['set problems']}, set warnings "
              f"{t['set warnings']}")
        for key in sorted(k for k in t if k.startswith("  ")):
            print(f"{key}: {t[key]}")
    for m in modes:
        missed = [(r["song"], r["keys"], r["seed"], c["asked"], c["stars"]) for r in rows for c in r[m]["charts"]
                  if abs(c["stars"] - c["asked"]) > 0.15]
        print(f"{m}: star rating missed by more than 0.15 on {len(missed)} charts: "
              + ", ".join(f"{s} {k}K s{seed} {a:g}->{g:.2f}" for s, k, seed, a, g in missed))


if __name__ == "__main__":
    main()
