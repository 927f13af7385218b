"""Seconds and peak memory of ``beatforge generate`` for a 3-minute song at its defaults (20 sampling steps, the
shipped models), quiet and beside a second run.

* first run: the whole command with an empty cache, which exports the models' ONNX graphs (once per model on a
  CPU; :mod:`beatforge.generation.learned.onnx_models`);
* quiet: the whole command as a user runs it (imports, model loading, audio decoding, sampling, timing, the
  star-rating search, writing the .osu/.osz/PNG files), in a fresh process, ``--repeats`` times: the median;
* busy (``--busy``): two such commands started at once on the same machine, each one's time against the quiet median
  (sharing the cores fairly costs each about 2x; the acceptance bound is 2.5x);
* warm (``--warm``): ``generate_mania`` alone with the models already loaded (what the web page pays per request);
* profile (``--profile``): where the quiet command's time goes, by stage (cProfile).

The song is an Ogg Vorbis file (what users bring; a wav would also be transcoded for the .osz) of the first 3
minutes of Muldjord's "Chaos God" (Debian's fretsonfire-songs-muldjord, installed by ``make install``), else a
synthetic 3-minute click track (labelled so in the output).

    python benchmarks/generate.py [--device auto|cpu|cuda] [--busy] [--warm] [--profile] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beatforge.constants import DEVICES, SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
DEMO = Path("/usr/share/games/fretsonfire/data/songs/muldjord/chaos_god")
TIME = Path("/usr/bin/time")

WARM = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from beatforge.runtime import configure_threads
configure_threads()
from beatforge.generation.mania import ManiaModels, generate_mania
from beatforge.generation.request import ManiaRequest
song, count, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
models = ManiaModels.load(ManiaRequest(device=device))
t_load = time.perf_counter() - t0
generate_mania(song, ManiaRequest(star_ratings=(3.0,), steps=2, seed=0), models=models)  # warm-up (first-call costs)
t1 = time.perf_counter()
charts = generate_mania(song, ManiaRequest(star_ratings=(4.0,), count=count, seed=1, device=device), models=models)
print(json.dumps({"load_s": t_load, "generate_s": time.perf_counter() - t1, "notes": [c.n_notes for c in charts],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# (label, file, function) for --profile, in pipeline order
STAGES = [
    ("imports of the generation modules", "beatforge/generation/mania.py", "<module>"),
    ("model loading", "beatforge/generation/mania.py", "load"),
    ("audio decoding", "beatforge/audio.py", "load_audio"),
    ("log-mel", "beatforge/audio.py", "log_mel"),
    ("diffusion sampling", "beatforge/generation/learned/chart_diffusion.py", "sample_charts"),
    ("rhythm network, density-free layers", "beatforge/generation/learned/onset_network.py", "__init__"),
    ("timing estimation", "beatforge/generation/rules/timing.py", "song_timing"),
    ("star-rating search (rhythm rows, rules, rosu-pp)", "beatforge/generation/rules/star_rating_fit.py",
     "fit_density"),
    ("writing .osu/.osz/PNG", "beatforge/generation/output.py", "write_set"),
    ("  of which preview PNGs", "beatforge/charts/preview.py", "render_preview"),
]


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
    ogg = path.with_suffix(".ogg")  # what users bring (mp3/ogg): a wav would be transcoded for the .osz, a second
    if shutil.which("ffmpeg") and subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-c:a", "libvorbis",
                                                  "-q:a", "5", str(ogg)]).returncode == 0:
        return ogg, label + " (Ogg Vorbis q5)"
    return path, label


def command(song: Path, out: Path, device: str) -> list[str]:
    """``beatforge generate`` at its defaults, as the README shows it."""
    return [sys.executable, "-m", "beatforge.cli", "generate", str(song), "--keys", "4", "--sr", "4", "--seed", "1",
            "--device", device, "-o", str(out)]


def start(cmd: list[str], **env: str) -> tuple[subprocess.Popen, float]:
    timer = [str(TIME), "-f", "peak_rss_kb=%M"] if TIME.exists() else []
    return subprocess.Popen([*timer, *cmd], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1", **env}), time.perf_counter()


def finish(proc: subprocess.Popen, t0: float) -> tuple[float, float | None]:
    """(seconds, peak RSS MB) of a started command; exits on failure."""
    _, err = proc.communicate()
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        print(err[-3000:])
        raise SystemExit(f"beatforge generate failed (exit {proc.returncode})")
    rss = [ln for ln in err.splitlines() if ln.startswith("peak_rss_kb=")]
    return dt, (int(rss[-1].split("=")[1]) / 1024 if rss else None)


def profile(song: Path, tmp: Path, device: str) -> None:
    prof = tmp / "generate.prof"
    cmd = command(song, tmp / "profiled", device)
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), *cmd[1:]], cwd=REPO, check=True,
                   capture_output=True, env={**os.environ, "TQDM_DISABLE": "1"})
    stats = pstats.Stats(str(prof)).stats  # {(file, line, name): (cc, nc, tt, cumulative, callers)}
    total = max(v[3] for v in stats.values())
    print(f"profile of one quiet run (cProfile adds overhead): {total:.1f} s in all")
    for label, file, name in STAGES:
        hits = [v[3] for (f, _, n), v in stats.items() if f.endswith(file) and n == name]
        print(f"  {label:<50} {max(hits, default=0.0):6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=list(DEVICES), default="auto")
    ap.add_argument("--repeats", type=int, default=3, help="quiet runs (the median is reported)")
    ap.add_argument("--busy", action="store_true", help="also run two commands at once")
    ap.add_argument("--warm", action="store_true", help="also time generate_mania with the models loaded")
    ap.add_argument("--profile", action="store_true", help="also print where a quiet run's time goes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="beatforge-bench-"))
    song, label = song_3min(tmp)
    print(f"song: {label}; machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.2f}")
    # the first run with an empty cache exports the models' ONNX graphs (once per model; CPU only)
    dt, _ = finish(*start(command(song, tmp / "cold", args.device), BEATFORGE_CACHE=str(tmp / "empty-cache")))
    print(f"first run with an empty cache (exports the ONNX graphs, once per model): {dt:.2f} s")
    finish(*start(command(song, tmp / "warmup", args.device)))  # the user's own cache, as every later run finds it
    quiet = []
    for i in range(args.repeats):
        dt, rss = finish(*start(command(song, tmp / f"quiet{i}", args.device)))
        quiet.append(dt)
        print(f"quiet run {i + 1}: `beatforge generate` {dt:.2f} s" + (f", peak RSS {rss:.0f} MB" if rss else ""))
    q = statistics.median(quiet)
    print(f"quiet: median {q:.2f} s over {len(quiet)} runs (acceptance: under 6 s on a quiet 2-core CPU)")
    if args.busy:
        runs = [start(command(song, tmp / f"busy{i}", args.device)) for i in range(2)]
        times = [finish(*r)[0] for r in runs]
        print(f"busy: two commands at once took {times[0]:.2f} s and {times[1]:.2f} s: {max(times) / q:.2f}x the quiet "
              "median (fair sharing of the cores: about 2x; acceptance: at most 2.5x)")
    if args.warm:
        proc = subprocess.run([sys.executable, "-c", WARM, str(song), "1", args.device], capture_output=True,
                              text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"warm: generate_mania {r['generate_s']:.2f} s with the models loaded (loading took "
              f"{r['load_s']:.1f} s), peak RSS {r['peak_rss_mb']:.0f} MB, notes {r['notes']}")
    if args.profile:
        profile(song, tmp, args.device)


if __name__ == "__main__":
    main()
