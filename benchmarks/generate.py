"""Seconds and peak memory to generate osu!mania charts for a 3-minute song, 30 sampling steps, shipped models.

Each case runs in a fresh process (so its peak RSS is its own) and reports
* cold: the whole ``beatforge generate`` command as a user runs it (imports, model loading, audio decoding, writing
  the .osu/.osz/PNG files);
* warm: ``generate_mania`` alone, models already loaded (what a server such as the web page pays per request).

The song is the first 3 minutes of Muldjord's "Chaos God" (Debian's fretsonfire-songs-muldjord, installed by
``make install``), else a synthetic 3-minute click track (labelled so in the output).

    python benchmarks/generate.py [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from beatforge.constants import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
DEMO = Path("/usr/share/games/fretsonfire/data/songs/muldjord/chaos_god")

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(int(sys.argv[3]))
from beatforge.generation.mania import ManiaModels, generate_mania
from beatforge.generation.output import write_set
from beatforge.generation.request import ManiaRequest
song, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[4]
models = ManiaModels.load()
t_load = time.perf_counter() - t0
generate_mania(song, ManiaRequest(star_ratings=(3.0,), steps=2, seed=0), models=models)  # warm-up (first-call costs)
t1 = time.perf_counter()
charts = generate_mania(song, ManiaRequest(star_ratings=(4.0,), count=count, seed=1), models=models)
t_gen = time.perf_counter() - t1
write_set(charts, song, out)
print(json.dumps({"load_s": t_load, "generate_s": t_gen, "notes": [c.n_notes for c in charts],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def song_3min(tmp: Path) -> tuple[Path, str]:
    import numpy as np
    import soundfile as sf

    from beatforge.audio import load_audio

    if DEMO.is_dir():
        from beatforge.generation.song import resolve_song

        y = load_audio(list(resolve_song(DEMO).sources))[: 180 * SAMPLE_RATE]
        label = "Chaos God (Muldjord), first 3:00"
    else:
        sr = SAMPLE_RATE
        t = np.arange(180 * sr) / sr
        y = 0.05 * np.sin(2 * np.pi * 220 * t)
        for k, on in enumerate(np.arange(0.5, 179.5, 60 / 160 / 2)):
            i = int(on * sr)
            y[i: i + 600] += (0.8 if k % 2 == 0 else 0.4) * np.exp(-np.arange(600) / 90)
        label = "SYNTHETIC click track, 3:00"
    path = tmp / "song-3min.wav"
    sf.write(path, y.astype(np.float32), SAMPLE_RATE)
    return path, label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    tmp = Path(tempfile.mkdtemp())
    song, label = song_3min(tmp)
    print(f"song: {label}")
    for count in (1, 4):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(song), str(count), str(args.threads),
                               str(tmp / f"out{count}")], capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            raise SystemExit(1)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"--count {count}: generate {r['generate_s']:.2f} s warm (models loaded in {r['load_s']:.1f} s), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, notes {r['notes']}")
        import shutil
        import time

        timer = ["/usr/bin/time", "-v"] if shutil.which("time") or Path("/usr/bin/time").exists() else []
        t0 = time.perf_counter()
        cold = subprocess.run([*timer, sys.executable, "-m", "beatforge.cli", "generate", str(song),
                               "--keys", "4", "--sr", "4", "--count", str(count), "--seed", "1", "-o",
                               str(tmp / f"cli{count}b")], capture_output=True, text=True, cwd=REPO)
        dt = time.perf_counter() - t0
        rss = [ln for ln in cold.stderr.splitlines() if "Maximum resident" in ln]
        peak = f", peak RSS {int(rss[0].split()[-1]) / 1024:.0f} MB" if rss else ""
        print(f"--count {count}: `beatforge generate` command {dt:.1f} s cold{peak} (exit {cold.returncode})")


if __name__ == "__main__":
    main()
