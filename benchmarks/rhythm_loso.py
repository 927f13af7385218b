"""Leave-one-song-out rhythm scores of the rhythm model, beside librosa's onset detector.

For each song with 4K or 7K human charts in the dataset, a rhythm model is trained on every *other* song (all key
counts), then each held-out 4K/7K chart is scored: the model told the chart's onset density picks that many peaks;
librosa.onset.onset_detect (defaults, backtracking on) is the baseline. One-to-one F1 over distinct onset times at 20
and 50 ms (``beatforge.evaluation.matching.rhythm_f1``). Fold models are saved under ``--out`` so the generation
evaluation (benchmarks/generate_quality.py) reuses them.

    python benchmarks/rhythm_loso.py --dataset datasets/songs --steps 1200 --out logs/rhythm_loso
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from beatforge.constants import HOP_LENGTH, MEL_HOP_MS, SAMPLE_RATE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EVAL_KEYS = (4, 7)


def librosa_onsets(audio) -> np.ndarray:
    """The baseline: librosa's onset detector with its defaults (hop 512) and backtracking to the energy minimum
    before each peak (which scored best of librosa's options on these charts), as times in ms."""
    from beatforge.audio import import_librosa

    librosa = import_librosa()

    from beatforge.audio import load_audio

    y = load_audio(audio)
    return librosa.onset.onset_detect(y=y, sr=SAMPLE_RATE, units="time", backtrack=True) * 1000.0


def librosa_envelope(audio) -> tuple[np.ndarray, np.ndarray]:
    """librosa's onset strength at hop 128 (5.8 ms): (times ms, strength), for the baseline told the note count."""
    from beatforge.audio import import_librosa

    librosa = import_librosa()

    from beatforge.audio import load_audio

    y = load_audio(audio)
    env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    return np.arange(len(env)) * MEL_HOP_MS, env


def top_n_peaks(times: np.ndarray, env: np.ndarray, n: int, lo: float, hi: float) -> np.ndarray:
    from beatforge.generation.rules.peaks import peak_candidates

    step = times[1] - times[0]
    t, _ = peak_candidates(env, min_sep=int(round(35 / step)), start_ms=lo, end_ms=hi, frame_ms=step)
    return np.sort(t[:n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="datasets/songs")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--out", default="logs/rhythm_loso")
    ap.add_argument("--songs", nargs="*", help="only these held-out songs (substring match)")
    ap.add_argument("--reuse", action="store_true", help="load fold models from --out when present")
    args = ap.parse_args()

    import torch

    from beatforge.checkpoints import load_rhythm_model, save_rhythm_model
    from beatforge.data.build import read_index
    from beatforge.evaluation.matching import f1_scores
    from beatforge.formats.loader import load_chart
    from beatforge.generation.learned.onset_network import onset_activation
    from beatforge.generation.rules.peaks import pick_onsets
    from beatforge.training.rhythm import load_rhythm_items, train_rhythm

    torch.set_num_threads(2)
    recs = read_index(args.dataset)
    audio_of = {r["song_key"]: r["path"].split("#")[0].split("::")[0] for r in recs}
    songs = sorted({r["song_key"] for r in recs if r["mode"] == "mania" and r["keys"] in EVAL_KEYS})
    if args.songs:
        songs = [s for s in songs if any(x in s for x in args.songs)]
    rows = []
    for song in songs:
        name = Path(song).name
        fold_dir = Path(args.out) / name.replace(" ", "_")
        t0 = time.perf_counter()
        if args.reuse and (fold_dir / "model.safetensors").is_file():
            net = load_rhythm_model(fold_dir)
        else:
            train = load_rhythm_items([args.dataset], exclude_songs={song})
            net, losses = train_rhythm(train, steps=args.steps, progress=False)
            save_rhythm_model(net, fold_dir, meta={"held_out": song, "steps": args.steps,
                                                   "final_loss": float(np.mean(losses[-100:]))})
        t_train = time.perf_counter() - t0
        test = [it for it in load_rhythm_items([args.dataset], only_songs={song}) if it.keys in EVAL_KEYS]
        base = env = None
        for it in test:
            act = onset_activation(net, it.mel.astype(np.float32), [it.density])[0]
            pred = pick_onsets(act, len(it.onsets_ms), start_ms=it.first_ms - 500, end_ms=it.last_ms + 500)
            m20 = f1_scores(pred, it.onsets_ms, 20)["f1"]
            m50 = f1_scores(pred, it.onsets_ms, 50)["f1"]
            if base is None:
                try:
                    base = librosa_onsets(load_chart(audio_of[song]).meta.audio)
                    env = librosa_envelope(load_chart(audio_of[song]).meta.audio)
                except Exception as exc:  # noqa: BLE001 - report and go on
                    print(f"baseline failed for {song}: {exc}")
                    base = np.zeros(0)
            b = base[(base >= it.first_ms - 500) & (base <= it.last_ms + 500)]
            bn = top_n_peaks(*env, len(it.onsets_ms), it.first_ms - 500, it.last_ms + 500) if env else b
            rows.append({"song": name, "chart": it.name, "keys": it.keys, "sr": it.star_rating,
                         "onsets": len(it.onsets_ms), "model_f1_20": m20, "model_f1_50": m50,
                         "librosa_f1_20": f1_scores(b, it.onsets_ms, 20)["f1"],
                         "librosa_f1_50": f1_scores(b, it.onsets_ms, 50)["f1"],
                         "librosa_n_f1_20": f1_scores(bn, it.onsets_ms, 20)["f1"],
                         "librosa_n_f1_50": f1_scores(bn, it.onsets_ms, 50)["f1"]})
            r = rows[-1]
            print(f"{name[:28]:28s} {it.name[-30:]:30s} {it.keys}K SR {it.star_rating:4.2f} "
                  f"model {r['model_f1_20']:.3f}/{r['model_f1_50']:.3f}  "
                  f"librosa {r['librosa_f1_20']:.3f}/{r['librosa_f1_50']:.3f}  "
                  f"librosa-N {r['librosa_n_f1_20']:.3f}/{r['librosa_n_f1_50']:.3f}", flush=True)
        print(f"-- {name}: trained in {t_train:.0f} s", flush=True)
    for k in ("model_f1_20", "model_f1_50", "librosa_f1_20", "librosa_f1_50", "librosa_n_f1_20", "librosa_n_f1_50"):
        print(f"mean {k}: {np.mean([r[k] for r in rows]):.3f}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "loso.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
