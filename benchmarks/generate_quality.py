"""Generation quality on songs held out from the rhythm model's training (leave-one-song-out).

For each song with 4K/7K human charts, the rhythm model of its fold (trained without that song by
benchmarks/rhythm_loso.py) and the shipped latent diffusion model generate

1. rhythm: one chart per human chart, at that chart's key count and star rating; one-to-one rhythm F1 (distinct
   onset times) at 20 and 50 ms against the human chart, beside librosa's onsets (hop 128) as a chart;
2. difficulty: a grid of requested star ratings (1.5, 2.5, 3.5, 4.5, 6) at the song's key count; the mean absolute
   error between requested and generated star rating (rosu-pp-py);
3. prompts (``--prompts``): every skillset's more / less, against no prompt, at SR 3.5; the generated chart's
   skillset ratings (beatforge's analyser) before and after, and the skillset's gap to the chart's overall rating
   (0 = the dominant skillset: what Mug Diffusion's "more X" flags mark in its training data).

    python benchmarks/generate_quality.py --folds logs/rhythm_loso --out logs/generate_quality
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR_GRID = (1.5, 2.5, 3.5, 4.5, 6.0)
EVAL_KEYS = (4, 7)


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def markdown(out: dict) -> str:
    """The model card's tables from a quality.json."""
    lines = []
    rows = out.get("rhythm", [])
    if rows:
        lines += ["| song | keys | chart | SR | notes (human / generated) | model F1 20 ms | 50 ms | librosa F1 20 ms "
                  "| 50 ms |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            lines.append(f"| {r['song'][:28]} | {r['keys']}K | {r['chart'][:24]} | {r['sr_ref']:.2f} -> "
                         f"{r['sr_gen']:.2f} | {r['notes_ref']} / {r['notes_gen']} | {r['model_f1_20']:.3f} | "
                         f"**{r['model_f1_50']:.3f}** | {r['librosa_f1_20']:.3f} | {r['librosa_f1_50']:.3f} |")
        lines += ["", "| song | keys | charts | model F1 20 / 50 ms | librosa F1 20 / 50 ms | hardest chart: model / "
                  "librosa at 50 ms |", "| --- | --- | --- | --- | --- | --- |"]
        for song in dict.fromkeys(r["song"] for r in rows):
            rs = [r for r in rows if r["song"] == song]
            top = max(rs, key=lambda r: r["sr_ref"])
            lines.append(f"| {song[:28]} | {rs[0]['keys']}K | {len(rs)} | {_mean(rs, 'model_f1_20'):.3f} / "
                         f"{_mean(rs, 'model_f1_50'):.3f} | {_mean(rs, 'librosa_f1_20'):.3f} / "
                         f"{_mean(rs, 'librosa_f1_50'):.3f} | {top['model_f1_50']:.3f} / {top['librosa_f1_50']:.3f} |")
        tops = [max((r for r in rows if r["song"] == s), key=lambda r: r["sr_ref"]) for s in {r["song"] for r in rows}]
        lines.append(f"| **all** | | {len(rows)} | {_mean(rows, 'model_f1_20'):.3f} / "
                     f"**{_mean(rows, 'model_f1_50'):.3f}** | {_mean(rows, 'librosa_f1_20'):.3f} / "
                     f"{_mean(rows, 'librosa_f1_50'):.3f} | {_mean(tops, 'model_f1_50'):.3f} / "
                     f"{_mean(tops, 'librosa_f1_50'):.3f} |")
    grid = out.get("grid", [])
    if grid:
        srs = sorted({g["sr_req"] for g in grid})
        lines += ["", "| song | " + " | ".join(f"SR {s:g}" for s in srs) + " |", "| --- |" + " --- |" * len(srs)]
        for song in dict.fromkeys(g["song"] for g in grid):
            got = {g["sr_req"]: g["sr_gen"] for g in grid if g["song"] == song}
            lines.append(f"| {song[:28]} | " + " | ".join(f"{got[s]:.2f}" for s in srs) + " |")
        lines.append("| mean abs. error | " + " | ".join(
            f"{np.mean([abs(g['sr_gen'] - s) for g in grid if g['sr_req'] == s]):.2f}" for s in srs) + " |")
    pr = out.get("prompts", [])
    if pr:
        lines += ["", "| song | skillset | more: rating (gap to overall) | less: rating (gap to overall) | none |",
                  "| --- | --- | --- | --- | --- |"]
        for song in dict.fromkeys(p["song"] for p in pr):
            for sk in dict.fromkeys(p["skillset"] for p in pr):
                mo = next(p for p in pr if p["song"] == song and p["skillset"] == sk and p["way"] == "more")
                le = next(p for p in pr if p["song"] == song and p["skillset"] == sk and p["way"] == "less")
                lines.append(f"| {song[:24]} | {sk} | {mo['after']:.1f} ({mo['gap_after']:+.1f}) | "
                             f"{le['after']:.1f} ({le['gap_after']:+.1f}) | "
                             f"{mo['before']:.1f} ({mo['gap_before']:+.1f}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", help="print the markdown tables of a quality.json and stop")
    ap.add_argument("--dataset", default="datasets/songs")
    ap.add_argument("--folds", default="logs/rhythm_loso")
    ap.add_argument("--out", default="logs/generate_quality")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--songs", nargs="*")
    ap.add_argument("--prompts", action="store_true", help="also measure the skillset prompts")
    ap.add_argument("--no-grid", action="store_true")
    args = ap.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return

    import torch

    from beatforge.analysis.skillsets import skillset_ratings
    from beatforge.analysis.star_rating import star_rating
    from beatforge.checkpoints import load_rhythm_model
    from beatforge.constants import SKILLSETS, STAR_RATING_RANGE
    from beatforge.data.build import load_notes, read_index
    from beatforge.evaluation.matching import f1_scores, onset_times
    from beatforge.formats.loader import load_chart
    from beatforge.generation.learned.chart_diffusion import load_mania_model
    from beatforge.generation.mania import ManiaModels, generate_mania
    from beatforge.generation.request import ManiaRequest

    torch.set_num_threads(2)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from rhythm_loso import librosa_onsets

    recs = [r for r in read_index(args.dataset) if r["mode"] == "mania"]
    songs = sorted({r["song_key"] for r in recs if r["keys"] in EVAL_KEYS})
    if args.songs:
        songs = [s for s in songs if any(x in s for x in args.songs)]
    ld = load_mania_model()
    out = {"rhythm": [], "grid": [], "prompts": []}
    for song in songs:
        name = Path(song).name
        fold = Path(args.folds) / name.replace(" ", "_")
        models = ManiaModels(ld, load_rhythm_model(fold))
        charts = [r for r in recs if r["song_key"] == song and r["keys"] in EVAL_KEYS]
        audio = load_chart(charts[0]["path"].split("#")[0].split("::")[0]).meta.audio[0]
        audio_path = audio.path if not audio.member else None
        tmp = None
        if audio_path is None:  # audio inside an archive: extract to a temporary file
            import tempfile

            tmp = Path(tempfile.mkdtemp()) / ("audio" + audio.suffix)
            tmp.write_bytes(audio.read_bytes())
            audio_path = tmp
        base = librosa_onsets(audio_path)
        for r in charts:
            arr = load_notes(args.dataset, r)
            from beatforge.charts.chart import ManiaChart

            ref = ManiaChart(int(r["keys"]), arr[:, 0], arr[:, 1], arr[:, 2].astype(np.int64))
            ref_on = onset_times(ref)
            t0 = time.perf_counter()
            sr_req = float(np.clip(r["star_rating"], *STAR_RATING_RANGE))
            gen = generate_mania(audio_path, ManiaRequest(keys=r["keys"], star_ratings=(sr_req,), steps=args.steps,
                                                          guidance=args.cfg, seed=0), models=models)[0]
            dt = time.perf_counter() - t0
            g_on = onset_times(gen)
            lo, hi = ref_on[0] - 1000, ref_on[-1] + 1000
            g_on = g_on[(g_on >= lo) & (g_on <= hi)]
            b = base[(base >= lo) & (base <= hi)]
            row = {"song": name, "chart": r["version"], "keys": r["keys"], "sr_ref": r["star_rating"],
                   "sr_gen": star_rating(gen), "notes_ref": int(ref.n_notes), "notes_gen": int(gen.n_notes),
                   "model_f1_20": f1_scores(g_on, ref_on, 20)["f1"], "model_f1_50": f1_scores(g_on, ref_on, 50)["f1"],
                   "librosa_f1_20": f1_scores(b, ref_on, 20)["f1"], "librosa_f1_50": f1_scores(b, ref_on, 50)["f1"],
                   "bpm_gen": gen.timing[0].bpm, "seconds": dt}
            out["rhythm"].append(row)
            print(f"{name[:24]:24s} {r['version'][:24]:24s} {r['keys']}K SR {row['sr_ref']:.2f}->{row['sr_gen']:.2f} "
                  f"F1 model {row['model_f1_20']:.3f}/{row['model_f1_50']:.3f} "
                  f"librosa {row['librosa_f1_20']:.3f}/{row['librosa_f1_50']:.3f} ({dt:.1f}s)", flush=True)
        keys = charts[0]["keys"]
        if not args.no_grid:
            gens = generate_mania(audio_path, ManiaRequest(keys=keys, star_ratings=tuple(SR_GRID), steps=args.steps,
                                                           guidance=args.cfg, seed=1), models=models)
            for s, g in zip(SR_GRID, gens):
                got = star_rating(g)
                out["grid"].append({"song": name, "keys": keys, "sr_req": s, "sr_gen": got})
                print(f"  grid {name[:24]} {keys}K SR {s} -> {got:.2f}", flush=True)
        if args.prompts:
            prompt = ManiaRequest(keys=keys, star_ratings=(3.5,), steps=args.steps, guidance=args.cfg, seed=2)
            base_chart = generate_mania(audio_path, prompt, models=models)[0]
            before = skillset_ratings(base_chart)
            for sk in SKILLSETS:
                for way in ("more", "less"):
                    g = generate_mania(audio_path, dataclasses.replace(prompt, patterns={sk: way}),
                                       models=models)[0]
                    after = skillset_ratings(g)
                    gap_b, gap_a = before[sk] - before["overall"], after[sk] - after["overall"]
                    out["prompts"].append({"song": name, "skillset": sk, "way": way, "before": before[sk],
                                           "after": after[sk], "gap_before": gap_b, "gap_after": gap_a,
                                           "sr": star_rating(g)})
                    print(f"  prompt {name[:20]} {sk}={way}: {before[sk]:.1f} -> {after[sk]:.1f}  "
                          f"(gap to overall {gap_b:+.1f} -> {gap_a:+.1f})", flush=True)
        if tmp is not None:
            tmp.unlink()
    rows = out["rhythm"]
    if rows:
        for k in ("model_f1_20", "model_f1_50", "librosa_f1_20", "librosa_f1_50"):
            print(f"mean {k}: {np.mean([r[k] for r in rows]):.3f}")
        wins = sum(r["model_f1_50"] > r["librosa_f1_50"] for r in rows)
        print(f"model beats librosa at 50 ms on {wins}/{len(rows)} charts")
    if out["grid"]:
        print(f"SR MAE over grid: {np.mean([abs(g['sr_req'] - g['sr_gen']) for g in out['grid']]):.3f}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "quality.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
