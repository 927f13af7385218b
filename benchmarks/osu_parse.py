"""Parse speed of .osu files: beatforge's parser vs the ``slider`` and ``fosu`` libraries.

Prints milliseconds per file and objects per second on the real beatmaps in ../shared/data, and which
files each library fails on. beatforge keeps its own parser because it must write files back losslessly
(neither library writes), and ``slider`` cannot read mania hold notes.

Usage: python benchmarks/osu_parse.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from beatforge.formats.osu import parse_osu

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"


def bench(name: str, parse, files: list[Path], repeat: int = 3) -> None:
    best, failed, objects = float("inf"), [], 0
    for _ in range(repeat):
        failed, objects = [], 0
        t0 = time.perf_counter()
        for f in files:
            try:
                objects += parse(f)
            except Exception as exc:  # noqa: BLE001 - a library's failure is what we report
                failed.append(f"{f.name} ({type(exc).__name__})")
        best = min(best, time.perf_counter() - t0)
    ok = len(files) - len(failed)
    print(f"{name:<10} {1000 * best / max(ok, 1):7.2f} ms/file  {objects / best:12,.0f} objects/s  "
          f"failed {len(failed)}/{len(files)}" + (f": {', '.join(failed[:4])}" if failed else ""))


def main() -> None:
    if not DATA.exists():
        sys.exit(f"benchmark needs real .osu files: {DATA} not found")
    files = sorted(DATA.rglob("*.osu"))
    print(f"{len(files)} .osu files from {DATA}")
    bench("beatforge", lambda f: len(parse_osu(f).hit_objects), files)
    try:
        import slider

        bench("slider", lambda f: len(slider.Beatmap.from_path(f).hit_objects(stacking=False)), files, repeat=1)
    except ImportError:
        print("slider     not installed")
    try:
        import fosu

        bench("fosu", lambda f: len(fosu.parse_file(str(f)).hit_objects), files)
    except ImportError:
        print("fosu       not installed")


if __name__ == "__main__":
    main()
