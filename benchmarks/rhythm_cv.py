"""Nested leave-one-song-out rhythm figures of osu!mania generation, on every song with audio in ../shared/data/songs.

Outer loop: each song is held out in turn; the note selector is trained on the other songs' charts only. Inner
loop: the selector's settings (training steps; whether it uses the beat-of-the-bar features) are chosen by a 3-fold
cross-validation *by song* inside the training songs, on the mean F1 at 50 ms of their charts told their note
count. Nothing the held-out song
holds chooses anything. What is fixed in advance, not tuned: the candidate features
(beatforge/generation/rules/candidates.py), the network size, the pretrained front end (madmom's CNN onset network
and one BLSTM beat network: they never saw these songs), the BPM estimator and the settings grid below.

For every held-out chart it reports, at 20 and 50 ms (one-to-one matching over distinct note times):

* ``told``: the fold's selector told the chart's note count (what the selector alone is worth);
* ``selector``: ``beatforge generate --rhythm selector`` at the chart's key count and star rating, seed 1, the
  defaults otherwise, with the fold's selector (columns, chords and the star-rating fit come from the shipped
  latent diffusion model, which was trained on these songs: the star-rating error is therefore not held out);
* ``diffusion`` (with ``--rhythms ... diffusion``): ``--rhythm diffusion``, the latent diffusion model's own notes
  (trained on these songs: not held out);
* ``network``: the same with ``--rhythm network`` (the shipped rhythm network and the hand-written beat-grid rules:
  the network saw these songs and the rules were tuned on them, so this column is *not* held out);
* ``librosa``: librosa's onsets written as a chart (the floor);
* ``human``: the song's other human chart nearest in note count scored against this one (the ceiling's scale).

And per generated chart: the star-rating error, the share of notes within 6 ms of the chart's own 1/4 or 1/3 grid
(charts with exact timing: Quaver, StepMania, osu!), notes before the human chart's first note or inside its breaks
(gaps over 4 beats), and the correlation of note counts over 10-second windows with the human chart's.

    python benchmarks/rhythm_cv.py [--data ../shared/data] [--out logs/rhythm_cv] [--songs NAME ...] [--no-generate]
    python benchmarks/rhythm_cv.py --no-selector --rhythms network [--no-criteria]
                                            # the default generate path only (no selector training: minutes);
                                            # --no-criteria: without the Ranking Criteria rules (beatforge generate's
                                            # --no-criteria), to compare
    python benchmarks/rhythm_cv.py --ship models/selector   # the shipped selector: settings by 3-fold CV by song,
                                                            # then trained on every song
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from beatforge.analysis.star_rating import star_rating
from beatforge.audio import load_audio
from beatforge.charts.chart import ManiaChart
from beatforge.constants import SAMPLE_RATE, STAR_RATING_RANGE
from beatforge.evaluation.matching import f1_scores, onset_times
from beatforge.formats.loader import discover, load_charts
from beatforge.generation.learned.note_selector import select_notes
from beatforge.generation.learned.pretrained_audio import FRAME_MS, song_activations
from beatforge.generation.rules.beat_grid import distance_to_nearest, grid_lines
from beatforge.generation.rules.candidates import Candidates, candidates
from beatforge.generation.rules.columns import typical_chord_ratio
from beatforge.generation.rules.timing import beat_aligned_timing, grid_offset_ms
from beatforge.training.selector import SelectorItem, train_selector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rhythm_loso import librosa_onsets  # noqa: E402  (the floor the earlier benchmarks used, unchanged)

BAR = ("bar_1", "bar_2", "bar_3", "bar_4")
CONFIGS = tuple({"steps": steps, "drop": drop} for steps in (300, 1000) for drop in ((), BAR))
EXACT_TIMING = ("quaver", "stepmania", "osu")
INNER_FOLDS = 3


@dataclass
class Song:
    name: str
    sources: tuple
    y: np.ndarray
    cands: Candidates
    timing: list
    charts: list[ManiaChart] = field(default_factory=list)
    star_ratings: list[float] = field(default_factory=list)

    @property
    def audio_ms(self) -> float:
        return len(self.y) / SAMPLE_RATE * 1000.0


def load_songs(data: Path, only: list[str] | None) -> list[Song]:
    by_audio: dict[str, Song] = {}
    for src in discover(data / "songs"):
        for c in load_charts(src):
            if not c.meta.audio or c.n_notes < 20:
                continue
            key = "|".join(f"{a.path}#{a.member}" for a in c.meta.audio)
            if key not in by_audio:
                name = c.meta.title or Path(str(c.meta.audio[0].path)).parent.name
                if only and not any(o.lower() in name.lower() for o in only):
                    continue
                t0 = time.perf_counter()
                y = load_audio(list(c.meta.audio))
                acts = song_activations(list(c.meta.audio))
                timing = beat_aligned_timing(y, acts.beat, FRAME_MS)
                cands = candidates(acts, y, timing, len(y) / SAMPLE_RATE * 1000.0)
                by_audio[key] = Song(name, tuple(c.meta.audio), y, cands, timing)
                print(f"  {name}: {len(cands.times)} candidates, {timing[0].bpm:.2f} BPM "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
            by_audio[key].charts.append(c)
            by_audio[key].star_ratings.append(star_rating(c))
    return list(by_audio.values())


def items_of(songs: list[Song]) -> list[SelectorItem]:
    return [SelectorItem(s.name, s.cands, onset_times(c), grid_offset_ms(s.timing[0], c.timing), keys=c.keys,
                         star_rating=s.star_ratings[i], n_notes=c.n_notes)
            for s in songs for i, c in enumerate(s.charts)]


def timing_error(song: Song, latency_ms: float) -> dict:
    """The held-out song's estimated tempo and, once the fold's learned latency is subtracted, how far its grid sits
    from each chart's own (ms; None for charts of several tempi or another tempo octave)."""
    offsets = [grid_offset_ms(song.timing[0], c.timing) for c in song.charts]
    known = [o - latency_ms for o in offsets if o is not None]
    return {"bpm": song.timing[0].bpm, "chart_bpm": song.charts[0].timing[0].bpm if song.charts[0].timing else None,
            "offset_error_ms": float(np.median(known)) if known else None}


def told_f1(net, song: Song, chart: ManiaChart, tol: float) -> float:
    ref = onset_times(chart)
    span_beats = (ref[-1] - ref[0]) / song.cands.beat_ms + 1.0
    return f1_scores(select_notes(net, song.cands, len(ref), span_beats), ref, tol)["f1"]


def choose_config(train: list[Song]) -> tuple[dict, list[float]]:
    """The setting with the best mean F1 at 50 ms over 3 folds of the training songs (by song)."""
    folds = [train[i::INNER_FOLDS] for i in range(INNER_FOLDS)]
    scores = []
    for cfg in CONFIGS:
        f1s = []
        for k, held in enumerate(folds):
            rest = [s for j, f in enumerate(folds) if j != k for s in f]
            net, _ = train_selector(items_of(rest), steps=cfg["steps"], drop=cfg["drop"])
            f1s += [told_f1(net, s, c, 50.0) for s in held for c in s.charts]
        scores.append(float(np.mean(f1s)))
    return CONFIGS[int(np.argmax(scores))], scores


def grid_share(times: np.ndarray, chart: ManiaChart, audio_ms: float, tol: float = 6.0) -> float | None:
    """Share of ``times`` within ``tol`` ms of the chart's own 1/4 or 1/3 lines (charts with exact timing)."""
    if chart.meta.source_game not in EXACT_TIMING or not chart.timing or len(times) == 0:
        return None
    lines = np.sort(np.concatenate([grid_lines(chart.timing, -1000.0, audio_ms + 1000.0, s)[0] for s in (4, 3)]))
    return float(np.mean(distance_to_nearest(times, lines) <= tol))


def empty_notes(times: np.ndarray, ref: np.ndarray, beat_ms: float) -> int:
    """Generated notes before the human chart's first note (less 100 ms) or inside its gaps of over 4 beats."""
    n = int(np.sum(times < ref[0] - 100.0))
    gaps = np.flatnonzero(np.diff(ref) > 4 * beat_ms)
    for g in gaps:
        n += int(np.sum((times > ref[g] + beat_ms) & (times < ref[g + 1] - beat_ms)))
    return n


def density_corr(times: np.ndarray, ref: np.ndarray, audio_ms: float) -> float | None:
    edges = np.arange(0.0, audio_ms + 10000.0, 10000.0)
    a, b = np.histogram(times, edges)[0], np.histogram(ref, edges)[0]
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def human_floor(song: Song, chart: ManiaChart, tol: float) -> float | None:
    others = [c for c in song.charts if c is not chart and c.keys == chart.keys]
    if not others:
        return None
    ref = onset_times(chart)
    near = min(others, key=lambda c: abs(len(onset_times(c)) - len(ref)))
    return f1_scores(onset_times(near), ref, tol)["f1"]


def generated(song: Song, net, rhythm: str, models, criteria: bool = True) -> dict[int, list[ManiaChart]]:
    """One chart per human chart (its key count and star rating), one batch per key count; ``models``: the
    shipped ``ManiaModels``, whose selector is replaced by the fold's ``net`` (None: the shipped one);
    ``criteria``: ``beatforge generate --criteria`` (the default) or ``--no-criteria``."""
    from beatforge.generation.mania import generate_mania
    from beatforge.generation.request import ManiaRequest
    from beatforge.generation.song import Song as GSong

    out: dict[int, list[ManiaChart]] = {}
    g = GSong(song.sources, song.name, "Unknown")
    for keys in sorted({c.keys for c in song.charts}):
        if models.chart.keys and keys not in models.chart.keys:
            continue  # a key count the shipped diffusion model was not trained for
        charts = [c for c in song.charts if c.keys == keys]
        stars = tuple(float(np.clip(star_rating(c), *STAR_RATING_RANGE)) for c in charts)
        if net is not None:
            models.selector = net
        req = ManiaRequest(keys=keys, star_ratings=stars, seed=1, rhythm=rhythm, criteria=criteria)
        out[keys] = generate_mania(g, req, models=models)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("logs/rhythm_cv"))
    ap.add_argument("--songs", nargs="*", help="only these held-out songs (substring match)")
    ap.add_argument("--no-generate", action="store_true", help="the selector told the note count only")
    ap.add_argument("--rhythms", nargs="+", default=["selector", "network"],
                    choices=["selector", "network", "diffusion"],
                    help="the --rhythm sources generated per held-out chart (default: selector network)")
    ap.add_argument("--ship", type=Path, help="train the selector on every song (settings by CV) into this folder")
    ap.add_argument("--no-selector", action="store_true",
                    help="skip the note selector (its nested CV and training per held-out song, the told and "
                    "selector columns): the --rhythms network/diffusion figures only, in minutes")
    ap.add_argument("--criteria", action=argparse.BooleanOptionalAction, default=True,
                    help="generate with the Ranking Criteria rules of each chart's level (beatforge generate's "
                    "default); --no-criteria without them")
    args = ap.parse_args()
    if args.no_selector and "selector" in args.rhythms:
        ap.error("--no-selector leaves no selector to generate with: pass --rhythms network (or diffusion)")
    if not (args.data / "songs").is_dir():
        raise SystemExit(f"no songs at {args.data / 'songs'} (the shared data folder sits beside the checkout)")
    import torch

    torch.set_num_threads(2)
    print("songs and their pretrained activations:")
    songs = load_songs(args.data, None)
    if args.ship:
        ship(songs, args.ship)
        return
    held = [s for s in songs if not args.songs or any(o.lower() in s.name.lower() for o in args.songs)]
    models = None
    if not args.no_generate:
        from beatforge.generation.mania import ManiaModels

        models = ManiaModels.load()
    rows = []
    for song in held:
        train = [s for s in songs if s is not song]
        t0 = time.perf_counter()
        net = cfg = None
        if not args.no_selector:
            cfg, inner = choose_config(train)
            net, _ = train_selector(items_of(train), steps=cfg["steps"], drop=cfg["drop"])
            print(f"[{song.name}] inner CV chose {cfg} (inner F1@50 {', '.join(f'{x:.3f}' for x in inner)}; "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)
        else:
            print(f"[{song.name}]", flush=True)
        latency = float(net.latency_ms) if net is not None else 0.0
        tim = timing_error(song, latency)
        err = "n/a (several tempi or another octave)" if tim["offset_error_ms"] is None else \
            f"{tim['offset_error_ms']:+.1f} ms"
        print(f"  timing: {tim['bpm']:.2f} BPM (chart {tim['chart_bpm'] or 0:.2f}); learned latency "
              f"{latency:.1f} ms from the training songs; grid offset from the chart's {err}", flush=True)
        gens = {r: generated(song, net, r, models, args.criteria) for r in args.rhythms} if models else {}
        lib = librosa_onsets(list(song.sources))
        per_keys: dict[int, int] = {}
        for c in song.charts:
            ref = onset_times(c)
            row = {"song": song.name, "chart": c.meta.version, "keys": c.keys, "notes": len(ref),
                   "sr_human": star_rating(c), "config": cfg, "source": c.meta.source_game, **tim,
                   "chords_human": c.n_notes / len(ref)}
            if net is not None:
                row["chords_learned"] = net.chord_ratio(row["sr_human"], c.keys)
            row["chords_formula"] = typical_chord_ratio(row["sr_human"], c.keys)
            for tol in (20, 50):
                if net is not None:
                    row[f"told_f1_{tol}"] = told_f1(net, song, c, tol)
                row[f"librosa_f1_{tol}"] = f1_scores(lib, ref, tol)["f1"]
                row[f"human_f1_{tol}"] = human_floor(song, c, tol)
            i = per_keys.get(c.keys, 0)
            per_keys[c.keys] = i + 1
            for rhythm, by_keys in gens.items():
                if c.keys not in by_keys:
                    continue
                g = by_keys[c.keys][i]
                t = onset_times(g)
                row[f"{rhythm}_f1_20"] = f1_scores(t, ref, 20)["f1"]
                row[f"{rhythm}_f1_50"] = f1_scores(t, ref, 50)["f1"]
                row[f"{rhythm}_sr_error"] = abs(star_rating(g) - row["sr_human"])
                row[f"{rhythm}_on_grid_6ms"] = grid_share(t, c, song.audio_ms)
                row[f"{rhythm}_empty_notes"] = empty_notes(t, ref, song.timing[0].beat_length)
                row[f"{rhythm}_density_corr"] = density_corr(t, ref, song.audio_ms)
            rows.append(row)
            gen_txt = "".join(f" | {r} {row[f'{r}_f1_20']:.3f}/{row[f'{r}_f1_50']:.3f} SR err "
                              f"{row[f'{r}_sr_error']:.2f}" for r in gens if f"{r}_f1_20" in row)
            told = f" told {row['told_f1_20']:.3f}/{row['told_f1_50']:.3f}" if net is not None else ""
            print(f"  {c.keys}K {c.meta.version[:22]:22s} n={len(ref):5d}{told}{gen_txt} | librosa "
                  f"{row['librosa_f1_20']:.3f}/{row['librosa_f1_50']:.3f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1, default=float), encoding="utf-8")
    summarise(rows)


def ship(songs: list[Song], out: Path) -> None:
    """The shipped selector: its settings by 3-fold CV by song over every song, then trained on all of them."""
    from beatforge.training.selector import save_selector

    cfg, scores = choose_config(songs)
    items = items_of(songs)
    net, losses = train_selector(items, steps=cfg["steps"], drop=cfg["drop"])
    meta = {"steps": cfg["steps"], "drop": list(cfg["drop"]), "charts": len(items),
            "songs": sorted(s.name for s in songs), "final_loss": float(np.mean(losses[-50:])),
            "cv_f1_50": dict(zip([str(c) for c in CONFIGS], scores)),
            "recipe": "benchmarks/rhythm_cv.py --ship (3-fold CV by song chose the settings)"}
    for f in save_selector(net, out, meta=meta):
        print(f)
    print(f"settings {cfg} (3-fold CV F1@50 by setting: {', '.join(f'{x:.3f}' for x in scores)})")


def _mean(rows: list[dict], key: str) -> float | None:
    v = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(v)) if v else None


def summarise(rows: list[dict]) -> None:
    cols = [k for k in ("told", "selector", "network", "diffusion", "librosa", "human") if f"{k}_f1_50" in rows[0]]

    def line(name: str, rs: list[dict]) -> str:
        cells = []
        for k in cols:
            a, b = _mean(rs, f"{k}_f1_20"), _mean(rs, f"{k}_f1_50")
            cells.append(f"{k} {a:.3f}/{b:.3f}" if a is not None else f"{k} -")
        return f"{name[:34]:34s} {len(rs):3d} charts  " + "  ".join(cells)

    print("\nF1 at 20/50 ms, mean over charts:")
    for song in dict.fromkeys(r["song"] for r in rows):
        print(line(song, [r for r in rows if r["song"] == song]))
    for keys in sorted({r["keys"] for r in rows}):
        print(line(f"all {keys}K charts", [r for r in rows if r["keys"] == keys]))
    four_seven = [r for r in rows if r["keys"] in (4, 7)]
    print(line("all 4K/7K charts", four_seven))
    print(line("all charts", rows))
    by_song = {}
    for r in four_seven:
        by_song.setdefault(r["song"], []).append(r)
    for k in [c for c in cols if c in ("told", "selector", "network", "diffusion")]:
        below = [s for s, rs in by_song.items() if _mean(rs, f"{k}_f1_50") < _mean(rs, "librosa_f1_50")]
        print(f"{k}: 4K/7K songs below librosa's onset chart at 50 ms: {len(below)} {below}")
    if rows and "chords_learned" in rows[0]:
        for k in sorted({r["keys"] for r in rows}):
            rs = [r for r in rows if r["keys"] == k]
            learned = np.mean([abs(r["chords_learned"] - r["chords_human"]) for r in rs])
            formula = np.mean([abs(r["chords_formula"] - r["chords_human"]) for r in rs])
            print(f"chord split, {k}K: notes per distinct time, mean |error| learned {learned:.3f} (held out) vs "
                  f"the hand formula {formula:.3f} (fitted by eye to these charts: not held out), {len(rs)} charts")
    errs = {r["song"]: (r["offset_error_ms"], r.get("source")) for r in rows if r.get("offset_error_ms") is not None}
    if errs:
        e = np.array([abs(v[0]) for v in errs.values()])
        exact = np.array([abs(v[0]) for v in errs.values() if v[1] in EXACT_TIMING])
        print(f"grid offset from the chart's, held out (|ms|, one per song): median {np.median(e):.1f}, "
              f"max {e.max():.1f}; within 5 ms: {int(np.sum(e <= 5))} of {len(e)} songs"
              + (f" ({int(np.sum(exact <= 5))} of {len(exact)} with exact timing)" if len(exact) else ""))
        print("  " + ", ".join(f"{s} {v[0]:+.1f}" for s, v in errs.items()))
    for k in ("selector", "network", "diffusion"):
        if f"{k}_sr_error" not in rows[0]:
            continue
        print(f"{k}: mean star-rating error {_mean(rows, f'{k}_sr_error'):.3f}; notes within 6 ms of the true grid "
              f"{_mean(rows, f'{k}_on_grid_6ms'):.3f} (charts with exact timing); notes in intros/breaks "
              f"{sum(r[f'{k}_empty_notes'] for r in rows)} of {sum(r['notes'] for r in rows)} human notes")
        for lo in range(1, 7):
            rs = [r for r in rows if lo <= r["sr_human"] < lo + 1 and r.get(f"{k}_density_corr") is not None]
            if rs:
                print(f"  {k}: 10 s density correlation with the human chart, SR {lo}-{lo + 1}: "
                      f"{_mean(rs, f'{k}_density_corr'):.2f} ({len(rs)} charts)")


if __name__ == "__main__":
    main()
