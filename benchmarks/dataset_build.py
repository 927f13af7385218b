"""Dataset-build throughput: charts per second and peak memory, cold and with the audio cache warm.

Makes a song library of at least 200 real charts by copying the Quaver sets in ../shared/data/songs
(PrincessOfWinter 4K, Csikos Post 4K, Umami Packed Mountaineering 7K) N times, each copy time-shifted by
a different amount (the audio gets that much silence in front, the notes move by the same amount), so
every copy is a distinct song with distinct audio. Then:

1. cold: ``dataset build`` into an empty directory (every spectrogram computed);
2. warm: the same build again after deleting the per-source results and the index, so every chart is
   read, rated and written again but every spectrogram comes from the cache.

Usage: python benchmarks/dataset_build.py [--copies 9] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from beatforge.audio import load_audio
from beatforge.data.build import BuildOptions, build_dataset
from beatforge.formats.archive import member_names, read_member

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SR = 22050


def _shift_qua(text: bytes, shift_ms: int) -> str:
    doc = yaml.load(text.decode("utf-8-sig"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for tp in doc.get("TimingPoints") or []:
        tp["StartTime"] = float(tp.get("StartTime", 0) or 0) + shift_ms
    for obj in doc.get("HitObjects") or []:
        obj["StartTime"] = int(obj.get("StartTime", 0) or 0) + shift_ms
        if obj.get("EndTime"):
            obj["EndTime"] = int(obj["EndTime"]) + shift_ms
    doc["AudioFile"] = "audio.flac"
    return yaml.safe_dump(doc, sort_keys=False)


def make_library(root: Path, copies: int) -> int:
    bases: list[tuple[str, list[bytes], np.ndarray]] = []
    pow_dir = DATA / "songs" / "quaver" / "PrincessOfWinter"
    bases.append(("PrincessOfWinter", [p.read_bytes() for p in sorted(pow_dir.glob("*.qua"))],
                  load_audio(pow_dir / "audio.mp3", sr=SR)))
    for qp_name in ("zetoban - Csikos Post.qp", "zetoban - Umami Packed Mountaineering.qp"):
        qp = DATA / "songs" / "quaver" / qp_name
        names = member_names(qp)
        quas = [read_member(qp, n) for n in sorted(names) if n.endswith(".qua")]
        audio_name = next(n for n in names if n.lower().endswith(".mp3"))
        from beatforge.charts.chart import AudioSource

        bases.append((qp.stem, quas, load_audio(AudioSource(qp, audio_name), sr=SR)))
    n_charts = 0
    for k in range(copies):
        shift = 37 * (k + 1)
        for name, quas, audio in bases:
            folder = root / f"{name} copy {k}"
            folder.mkdir(parents=True)
            padded = np.concatenate([np.zeros(int(SR * shift / 1000), dtype=np.float32), audio])
            sf.write(folder / "audio.flac", padded, SR)
            for i, q in enumerate(quas):
                (folder / f"{i}.qua").write_text(_shift_qua(q, shift), encoding="utf-8")
                n_charts += 1
    return n_charts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=9)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="build the library here and keep it")
    args = ap.parse_args()
    if not (DATA / "songs" / "quaver").exists():
        sys.exit(f"benchmark needs the real Quaver sets: {DATA / 'songs' / 'quaver'} not found")
    tmp = Path(tempfile.mkdtemp(prefix="beatforge-bench-"))
    root = args.keep or tmp / "library"
    try:
        t0 = time.perf_counter()
        n = make_library(root, args.copies)
        print(f"library: {n} charts in {len(list(root.iterdir()))} songs, made in {time.perf_counter() - t0:.1f} s")
        out = tmp / "dataset"
        opts = BuildOptions(songs=[root], out=out, workers=args.workers)
        for label in ("cold", "warm audio cache"):
            if label != "cold":
                shutil.rmtree(out / "units")
                (out / "index.jsonl").unlink()
            t0 = time.perf_counter()
            summary = build_dataset(opts, progress=False)
            dt = time.perf_counter() - t0
            print(f"{label:<17} {summary.kept} charts kept, {sum(summary.rejected.values())} rejected in {dt:6.1f} s = "
                  f"{summary.kept / dt:6.1f} charts/s, peak memory {summary.peak_rss_mb:.0f} MB per process "
                  f"({args.workers} workers)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
