"""Remap quality on osu!standard maps the model never trained on (held-out mapsets, two folds).

    python benchmarks/remap_quality.py --fold A=logs/standard_folds/A/000-DiT-XS/checkpoints/0000900 \\
        --fold B=logs/standard_folds/B/000-DiT-XS/checkpoints/0000900 [--data-path datasets/standard] \\
        [--steps 50] [--seeds 0 1 2] [--json OUT.json]

Each fold model was trained with ``train.py --exclude SET ...`` leaving out the mapsets in ``FOLDS`` (the recipe
in docs/remapping.md), so every real map is held out by one fold, split by mapset (difficulties of one song never
straddle train and test). For every held-out real map (the toy sets always train) it remaps with no style (the
map is unknown to the model) and reports, per map and as a mean, the figures of
:mod:`beatforge.evaluation.standard_metrics`: spacing-histogram TV distance, share in bounds, slider length error,
share copied; and the flow figures of :mod:`beatforge.evaluation.standard_flow` (turn-angle histogram TV to the
human map, mean turn, near-stacks per object) beside the same figures of a random-angle walk with the human spacing
(the floor). Both the final output (spacing kept, the default) and the network's raw positions (``spacing=False``)
are reported, so the model's own share is visible.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FOLDS = {  # the held-out mapsets of the two folds the model card reports (train.py --exclude ...)
    "A": ["789822", "241526", "874835"],
    "B": ["859783", "../shared/data/rosu-pp/standard", "../shared/data/sets/triangles.osz",
          "../shared/data/standard"],
}


def held_out_maps(data_path: Path, sets: list[str]) -> list[dict]:
    from beatforge.data.build import read_index

    return [r for r in read_index(data_path) if r.get("mode") == "standard"
            and str(r.get("set_id") or r["song_key"]) in sets and r.get("objects", 0) >= 10]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", action="append", required=True, metavar="NAME=CKPT",
                    help="a fold's checkpoint directory (NAME is A or B, the sets in FOLDS)")
    ap.add_argument("--data-path", type=Path, default=REPO / "datasets" / "standard")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", type=Path, help="write the rows here (after each map)")
    ap.add_argument("--reuse", action="store_true", help="keep the rows already in --json, measure only the rest")
    args = ap.parse_args()

    import torch

    torch.set_flush_denormal(True)
    from beatforge.evaluation.standard_flow import flow_report
    from beatforge.evaluation.standard_metrics import remap_metrics
    from beatforge.formats.loader import load_beatmaps
    from beatforge.formats.osu import parse_osu
    from beatforge.generation.remap import remap_standard
    from beatforge.generation.request import RemapRequest

    rows = json.loads(args.json.read_text()) if args.reuse and args.json and args.json.is_file() else []
    done = {(r["fold"], r["map"]) for r in rows}
    for spec in args.fold:
        name, ckpt = spec.split("=", 1)
        for rec in held_out_maps(args.data_path, FOLDS[name]):
            label = (f"{rec.get('title')} [{rec.get('version')}]" if rec.get("title")
                     else Path(rec["path"].partition("::")[2] or rec["path"]).name)
            if (name, label) in done:
                continue
            archive, _, member = rec["path"].partition("::")
            src = Path(archive) if Path(archive).is_absolute() else (REPO / archive).resolve()
            if member or src.suffix == ".osz":  # a map inside an archive: write it out for remap_standard
                import tempfile

                from beatforge.formats.osu import write_osu

                bm = next(b for b in load_beatmaps(src)
                          if b.mode == 0 and b.metadata.get("Version") == rec.get("version"))
                tmp = Path(tempfile.mkdtemp()) / "map.osu"
                tmp.write_text(write_osu(bm), encoding="utf-8")
                src = tmp
            original = parse_osu(src)
            for kept in (True, False):
                maps = [remap_standard(src, RemapRequest(model=ckpt, steps=args.steps, seed=s, spacing=kept))
                        for s in args.seeds]
                ms = [{**remap_metrics(m, original), **_flow(flow_report(m, original))} for m in maps]
                row = {"fold": name, "map": label, "objects": rec["objects"],
                       "spacing_kept": kept, **{k: float(np.mean([m[k] for m in ms])) for k in ms[0]}}
                rows.append(row)
                print(f"{name} {row['map'][:48]:48s} {'kept' if kept else 'raw ':4s} TV {row['spacing_tv']:.3f} "
                      f"in {row['in_bounds']:.3f} slider err {row['slider_length_error_mean']:.3f}/"
                      f"{row['slider_length_error_max']:.3f} px copied {row['copied']:.3f}; turn TV "
                      f"{row['turn_tv']:.3f} (random walk {row['walk_turn_tv']:.3f}), near-stacks "
                      f"{row['near_stacks']:.2f} (human {row['human_near_stacks']:.2f}, walk "
                      f"{row['walk_near_stacks']:.2f})", flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    for kept in (True, False):
        sel = [r for r in rows if r["spacing_kept"] == kept]
        print(f"mean over {len(sel)} held-out maps ({'spacing kept' if kept else 'raw network'}): "
              f"TV {np.mean([r['spacing_tv'] for r in sel]):.3f}, "
              f"in bounds {np.mean([r['in_bounds'] for r in sel]):.4f}, "
              f"slider err mean {np.mean([r['slider_length_error_mean'] for r in sel]):.3f} px "
              f"(max {np.max([r['slider_length_error_max'] for r in sel]):.3f}), "
              f"copied {np.mean([r['copied'] for r in sel]):.4f}; turn TV {np.mean([r['turn_tv'] for r in sel]):.3f} "
              f"(random walk {np.mean([r['walk_turn_tv'] for r in sel]):.3f})")


def _flow(report: dict) -> dict[str, float]:
    """The flow figures a row keeps: the remap's, the random walk's (the floor) and the human map's."""
    g, w, h = report["generated"], report["random_walk"], report["human"]
    return {"turn_tv": g["turn_tv"] or 0.0, "walk_turn_tv": w["turn_tv"] or 0.0, "mean_turn": g["mean_turn"] or 0.0,
            "human_mean_turn": h["mean_turn"] or 0.0, "near_stacks": g["near_stacks"],
            "walk_near_stacks": w["near_stacks"], "human_near_stacks": h["near_stacks"]}


if __name__ == "__main__":
    main()
