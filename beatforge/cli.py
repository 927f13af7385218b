"""The ``beatforge`` command line: one entry point, one sub-command per job.

Every user-facing failure is a :class:`~beatforge.errors.BeatforgeError`, printed as one line
(``beatforge: error: ...``) with exit code 2; set ``BEATFORGE_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from beatforge import __version__
from beatforge.boundary import exit_process, run_guarded
from beatforge.constants import (
    DEVICES,
    MAP_TYPES,
    MAX_SMALL_FILE_BYTES,
    MSD_RANGE,
    RHYTHM_SOURCES,
    SELECTOR_TRAIN_STEPS,
    SKILLSETS,
    STYLES,
)
from beatforge.errors import BeatforgeError, check_flag_range
from beatforge.fileio import atomic_write_text, read_text
from beatforge.generation.request import ManiaRequest, RemapRequest
from beatforge.generation.song import resolve_song
from beatforge.runtime import configure_threads


# ====================================================================================== analyze
def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="print a chart's features ('chart to prompt'): SR, skillsets, LN ratio ...",
        description="Measure a chart of any supported game: key count, notes, long notes, BPM, "
        "drain time, osu! star rating, the seven skillsets and overall (MSD scale), map "
        "type and dominant patterns.",
    )
    p.add_argument("chart", type=Path, help=".osu, .osz, .qua, .qp, .sm, .ssc, Frets on Fire folder / notes.mid, .json")
    p.add_argument("--difficulty", help="difficulty name, for a file or archive holding several charts")
    p.add_argument("--index", type=int, help="chart index, for a file or archive holding several charts")
    p.add_argument("--all", action="store_true", help="analyze every chart the file holds")
    p.add_argument("--rate", type=float, default=1.0, help="clock rate (1.5 = played 1.5x faster; default 1.0)")
    p.add_argument("--json", action="store_true", help="print JSON (one object, or a list with --all)")
    p.set_defaults(func=_cmd_analyze)


def _cmd_analyze(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.analysis.report import analyze, format_report
    from beatforge.formats.loader import load_chart, load_charts

    if not 0.25 <= args.rate <= 4.0:
        raise BeatforgeError(f"--rate {args.rate}: must be between 0.25 and 4")
    charts = (
        load_charts(args.chart) if args.all else [load_chart(args.chart, index=args.index, version=args.difficulty)]
    )
    reports = [analyze(c, rate=args.rate) for c in charts]
    if args.json:
        payload = [r.to_dict() for r in reports]
        print(json.dumps(payload if args.all else payload[0], ensure_ascii=False))
    else:
        print("\n\n".join(format_report(r) for r in reports))
    return 0


# ====================================================================================== check
def _add_check(sub: argparse._SubParsersAction) -> None:
    # lazy: this command's words come with it, leaving the import block above as the other commands have it
    from beatforge.constants import CHECK_PROBLEMS_EXIT, DIFFICULTY_LEVELS

    p = sub.add_parser(
        "check",
        help="what breaks the osu!mania Ranking Criteria in charts or sets (problems and warnings)",
        description="Check charts against the osu!mania Ranking Criteria (osu! wiki): problems break a rule, warnings "
        "a guideline; each with its time in the editor's format (01:23:456 (83456|2) - ..., which osu!'s editor "
        "jumps to when pasted) and the criterion's words. Each chart is judged at its level: --level, else its "
        "difficulty name's, else its star rating's (Easy < 2.0, Normal 2.0-2.69, Hard 2.7-3.99, Insane 4.0-5.29, "
        "Expert >= 5.3); rhythm limits are scaled to its tempo (the criteria assume ~180 BPM). Each path is a set "
        "(.osz, .qp, .sm/.ssc, a Frets on Fire song, a folder of charts: spread and names are checked across it) "
        f"or one chart file. Exit status: 0 when checked (problems or not), {CHECK_PROBLEMS_EXIT} with --strict "
        "when any problem was found, 2 for bad input.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="CHART_OR_SET",
                   help=".osu, .osz, .qua, .qp, .sm, .ssc, Frets on Fire folder / notes.mid, .json, or a folder of "
                   "them")
    p.add_argument("--level", metavar="{" + ",".join(DIFFICULTY_LEVELS) + "}",
                   help="judge every chart at this level (default: each chart's name, else its star rating)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per set with its charts")
    p.add_argument("--all", action="store_true", help="print every issue (default: the first 10 of each check)")
    p.add_argument("--strict", action="store_true", help=f"exit {CHECK_PROBLEMS_EXIT} when any problem is found")
    p.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.analysis.ranking_report import check_paths, format_run
    from beatforge.constants import CHECK_PROBLEMS_EXIT, DIFFICULTY_LEVELS

    if args.level is not None and args.level.lower() not in DIFFICULTY_LEVELS:
        raise BeatforgeError(f"--level {args.level}: one of {', '.join(DIFFICULTY_LEVELS)}")
    run = check_paths(args.paths, level=args.level)
    if args.json:
        print(json.dumps([s.to_dict() for s in run.sets], ensure_ascii=False))
    else:
        print(format_run(run, max_per_check=0 if args.all else 10))
    return CHECK_PROBLEMS_EXIT if args.strict and run.counts["problem"] else 0


# ====================================================================================== convert
def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="turn any supported chart into an osu!mania .osu (or a whole .osz)",
        description="Write an osu!mania .osu with its audio beside it, or an .osz with every chart "
        "of the source and the audio (-o OUT.osz).",
    )
    p.add_argument("chart", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.osu or OUT.osz")
    p.add_argument("--difficulty", help="difficulty name (default for .osu: the chart with the most notes)")
    p.add_argument("--index", type=int, help="chart index within the source")
    p.add_argument("--no-audio", action="store_true", help="write the chart without its audio")
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.formats.export import export_osu, export_osz
    from beatforge.formats.loader import load_chart, load_charts

    suffix = args.output.suffix.lower()
    if suffix not in (".osu", ".osz"):
        raise BeatforgeError(f"-o {args.output}: the output must end in .osu or .osz")
    src = Path(str(args.chart).split("::")[0])
    if args.output.exists() and src.exists() and args.output.resolve() == src.resolve():
        raise BeatforgeError(f"-o {args.output}: that is the chart being converted (write to another file)")
    if suffix == ".osz":
        if args.difficulty is not None or args.index is not None:
            charts = [load_chart(args.chart, index=args.index, version=args.difficulty)]
        else:
            charts = load_charts(args.chart)
        for c in charts:
            c.require_notes()
        out = export_osz(charts, args.output, with_audio=not args.no_audio)
        print(f"wrote {out} ({len(charts)} chart{'s' if len(charts) != 1 else ''})")
        return 0
    chart = load_chart(args.chart, index=args.index, version=args.difficulty).require_notes()
    written = export_osu(chart, args.output, with_audio=not args.no_audio)
    print(f"wrote {', '.join(str(p) for p in written)}  [{chart.meta.version}, {chart.keys}K, {chart.n_notes} notes]")
    return 0


# ====================================================================================== dataset
def _add_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="build training datasets from song folders")
    dsub = p.add_subparsers(dest="dataset_cmd", required=True, metavar="{build}")
    b = dsub.add_parser(
        "build",
        help="walk song folders and write a dataset directory",
        description="Read osu! (.osu/.osz), Quaver (.qua/.qp), StepMania (.sm/.ssc) and Frets on Fire "
        "(song.ini + notes.mid) charts, keep those matching the filters, and write one "
        "array per chart, one spectrogram per song, and an index with a by-song split. "
        "Re-running continues an interrupted build.",
    )
    b.add_argument("--songs", type=Path, action="append", required=True, help="a song folder (repeatable)")
    b.add_argument("--mode", default="mania", choices=["mania", "standard"],
                   help="osu!mania charts (any game) or osu!standard maps (default mania)")
    b.add_argument("--keys", type=int, action="append", help="keep only this key count (repeatable)")
    b.add_argument("--out", type=Path, required=True, help="dataset directory")
    b.add_argument("--min-id", type=int, help="keep osu! charts whose beatmap set ID is at least N")
    b.add_argument("--ids", type=Path, help="file of osu! beatmap IDs to keep (one per line, # comments)")
    b.add_argument("--status", help="keep osu! charts of these rank statuses, e.g. ranked,loved (needs --status-file)")
    b.add_argument(
        "--status-file",
        type=Path,
        help="lines 'SET_ID STATUS' (Mug Diffusion's format): .osu files do not record rank status",
    )
    b.add_argument(
        "--audio",
        default=None,
        choices=["required", "optional", "none"],
        help="mania: reject charts without audio (required, the default), keep them (optional, e.g. for "
        "the chart VAE), or skip audio entirely (none). Standard datasets default to none.",
    )
    b.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of songs held out for validation (default 0.1)")
    b.add_argument("--workers", type=int, default=0, help="processes (default: one per CPU core)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_dataset_build)


def _read_ids(path: Path) -> set[int]:
    try:
        lines = read_text(path, max_bytes=MAX_SMALL_FILE_BYTES, what="an ID list").splitlines()
    except BeatforgeError as exc:
        raise BeatforgeError(f"--ids {exc}") from None
    ids = set()
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            if not text.isdigit():
                raise BeatforgeError(f"--ids {path}: line {n} is not a beatmap ID: '{text[:30]}'")
            ids.add(int(text))
    return ids


def _read_status_file(path: Path) -> dict[int, str]:
    try:
        lines = read_text(path, max_bytes=MAX_SMALL_FILE_BYTES, what="a status file").splitlines()
    except BeatforgeError as exc:
        raise BeatforgeError(f"--status-file {exc}") from None
    out: dict[int, str] = {}
    for n, line in enumerate(lines, 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise BeatforgeError(f"--status-file {path}: line {n} is not 'SET_ID STATUS'")
        out[int(parts[0])] = parts[1].lower()
    return out


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.data.build import BuildOptions, build_dataset

    status = {s.strip().lower() for s in args.status.split(",") if s.strip()} if args.status else None
    if status and not args.status_file:
        raise BeatforgeError("--status needs --status-file: .osu files do not record whether a map is ranked")
    opts = BuildOptions(
        songs=args.songs,
        out=args.out,
        mode=args.mode,
        keys=args.keys,
        min_id=args.min_id,
        ids=_read_ids(args.ids) if args.ids else None,
        status=status,
        status_by_set=_read_status_file(args.status_file) if args.status_file else {},
        audio=args.audio or ("required" if args.mode == "mania" else "none"),
        workers=args.workers,
        val_fraction=args.val_fraction,
    )
    summary = build_dataset(opts, progress=not args.quiet)
    print_summary(summary, args.out)
    return 0


def print_summary(summary, out: Path) -> None:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dataset {out}", show_header=True, header_style="bold")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("charts", justify="right")
    splits = ", ".join(f"{k} {v}" for k, v in sorted(summary.kept_by_split.items()))
    games = ", ".join(f"{k} {v}" for k, v in sorted(summary.kept_by_game.items()))
    keys = ", ".join(f"{k}K {v}" for k, v in sorted(summary.kept_by_keys.items()) if k != "-")
    table.add_row(
        "kept", f"{summary.songs} songs; {splits}; {games}" + (f"; {keys}" if keys else ""), str(summary.kept)
    )
    for reason, n in sorted(summary.skipped.items()):
        table.add_row("skipped (filter)", reason, str(n))
    for reason, n in sorted(summary.rejected.items()):
        table.add_row("rejected", reason, str(n))
    console = Console(stderr=False, width=120)
    console.print(table)
    if summary.rejected_examples:
        console.print("rejected charts (first 10):")
        for path, reason in summary.rejected_examples[:10]:
            console.print(f"  {path}: {reason}", markup=False, highlight=False)
    console.print(
        f"{summary.units} sources ({summary.units_resumed} already done), {summary.seconds:.1f} s, "
        f"peak memory {summary.peak_rss_mb:.0f} MB per process",
        highlight=False,
    )


# ====================================================================================== train
def _add_train(sub: argparse._SubParsersAction) -> None:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.training.run import add_train_arguments

    p = sub.add_parser("train", help="train or fine-tune a model from YAML configs (python main.py --train ...)",
                       description="Train from scratch (-b CONFIG), resume a run (-r RUN_DIR or its last.ckpt), or "
                                   "fine-tune a model file (-b CONFIG -r MODEL_FILE). Extra a.b=value arguments "
                                   "override config keys.")
    add_train_arguments(p)
    p.set_defaults(func=None)


# ====================================================================================== generate
def _kv(text: str, what: str) -> tuple[str, str]:
    if "=" not in text:
        raise BeatforgeError(f"{what} {text}: expected NAME=VALUE (e.g. {what} jumpstream=more)")
    k, v = text.split("=", 1)
    return k.strip().lower(), v.strip().lower()


def _add_generate(sub: argparse._SubParsersAction) -> None:
    d = ManiaRequest()  # the defaults live in the request
    p = sub.add_parser(
        "generate",
        help="generate osu!mania charts for a song (.osu files + .osz + preview PNGs)",
        description="Chart a song with the shipped model (or --ckpt): one chart per --sr value x --count, all "
        "sampled in one batch, timed to the song's beat (estimated, --bpm/--offset, or --timing-from), "
        "snapped, made playable, and written as .osu files, one .osz with the audio, and a preview PNG each.",
    )
    p.add_argument("audio", type=Path, help="the song (mp3, ogg, wav, flac ...), a Frets on Fire song folder, or an "
                   "osu! beatmap archive (.osz: the audio its .osu files name)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--keys", type=int, default=d.keys, help=f"key count (default {d.keys})")
    p.add_argument("--sr", type=float, action="append",
                   help=f"osu! star rating; repeat for a spread (default {d.star_ratings[0]:g})")
    p.add_argument("--ln-ratio", type=float, help="share of long notes, 0-1")
    p.add_argument("--map-type", choices=list(MAP_TYPES),
                   help="rice (no long notes), hybrid or ln: a typical long-note share (default: the model's choice)")
    p.add_argument("--style", choices=list(STYLES),
                   help="the rank status of the charts to imitate (Mug Diffusion's style; default: any)")
    p.add_argument("--pattern", action="append", default=[], metavar="SKILLSET=more|less",
                   help=", ".join(SKILLSETS))
    p.add_argument("--msd", action="append", default=[], metavar="SKILLSET=VALUE",
                   help=f"ask for a skillset rating (MSD scale {MSD_RANGE[0]:g}-{MSD_RANGE[1]:g}); 'overall=VALUE' "
                   "or a bare VALUE for overall")
    p.add_argument("--count", type=int, default=d.count, help=f"charts per star rating (default {d.count})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"sampling steps (default {d.steps})")
    p.add_argument("--cfg", type=float, default=d.guidance,
                   help=f"classifier-free guidance scale (default {d.guidance:g})")
    p.add_argument("--seed", type=int,
                   help="random seed (same seed, same charts; default: drawn at random, printed and recorded)")
    p.add_argument("--bpm", type=float, help="the song's BPM (default: estimated from the audio)")
    p.add_argument("--offset", type=float, help="time of the first beat in ms (with --bpm)")
    p.add_argument("--timing-from", type=Path, help="take the timing points of this chart")
    p.add_argument("--min-jack-ms", type=float, default=d.min_jack_ms,
                   help=f"shortest same-column gap (default {d.min_jack_ms:g})")
    p.add_argument("--snap", action=argparse.BooleanOptionalAction, default=d.snap,
                   help=f"snap notes to the beat grid (default {'on' if d.snap else 'off'})")
    p.add_argument("--criteria", action=argparse.BooleanOptionalAction, default=d.criteria,
                   help="make each chart meet the osu!mania Ranking Criteria of the level its star rating falls in "
                   "(Easy < 2.0, Normal < 2.7, Hard < 4.0, Insane < 5.3, else Expert): what `beatforge check` "
                   "checks (default: on)")
    p.add_argument("--ckpt", type=Path, help="a model file or directory (default: the shipped model)")
    p.add_argument("--rhythm-ckpt", type=Path, help="a rhythm model (default: the shipped one)")
    p.add_argument("--rhythm", choices=list(RHYTHM_SOURCES), default=d.rhythm,
                   help="where note times come from: the rhythm network and beat-grid rules ('network'), the note "
                   "selector over pretrained onset and beat activations ('selector'), or the diffusion model's own "
                   f"notes ('diffusion'); default {d.rhythm}")
    p.add_argument("--selector-ckpt", type=Path, help="a note selector model (default: the shipped one)")
    p.add_argument("--title", help="song title for the charts (default: from the file or song.ini)")
    p.add_argument("--artist", help="artist for the charts (default: from song.ini, else Unknown)")
    p.add_argument("--device", choices=list(DEVICES), default=d.device,
                   help=f"where the networks run: the GPU when there is one ('auto'), or cpu, cuda, mps (default "
                   f"{d.device})")
    p.add_argument("--no-preview", action="store_true", help="do not draw preview PNGs")
    p.set_defaults(func=_cmd_generate)


def mania_request_from_args(args: argparse.Namespace) -> ManiaRequest:
    """``beatforge generate``'s flags as a request (validated there)."""
    patterns = dict(_kv(t, "--pattern") for t in args.pattern)
    msd: dict[str, float] = {}
    for t in args.msd:
        k, v = _kv(t, "--msd") if "=" in t else ("overall", t)
        try:
            msd[k] = float(v)
        except ValueError:
            raise BeatforgeError(f"--msd {t}: the value must be a number") from None
    return ManiaRequest(
        keys=args.keys, star_ratings=tuple(args.sr or ManiaRequest.star_ratings), count=args.count,
        steps=args.steps, guidance=args.cfg, seed=args.seed, ln_ratio=args.ln_ratio, map_type=args.map_type,
        style=args.style, patterns=patterns, msd=msd, bpm=args.bpm, offset=args.offset,
        timing_from=args.timing_from, min_jack_ms=args.min_jack_ms, snap=args.snap, criteria=args.criteria,
        title=args.title, artist=args.artist, model=args.ckpt, rhythm_model=args.rhythm_ckpt, rhythm=args.rhythm,
        selector_model=args.selector_ckpt, device=args.device,
    )


def _cmd_generate(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor  # lazy: only generate overlaps work

    from beatforge.generation.song import decode_song

    request = mania_request_from_args(args)
    if args.output.exists() and not args.output.is_dir():
        raise BeatforgeError(f"-o {args.output}: a file, not a folder for the charts")
    song = resolve_song(args.audio, title=request.title, artist=request.artist)
    # Decode the song (and estimate its tempo) on a second thread while this one imports torch and loads the models:
    # both take a second or two, and decoding is numpy and libsndfile, which mostly leave the interpreter free.
    estimate = request.rhythm != "selector" and request.bpm is None and request.timing_from is None
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
        decoded = pool.submit(decode_song, song, estimate_beat=estimate)
        try:
            from beatforge.analysis.star_rating import star_rating  # lazy: rosu-pp and torch stay out of --help
            from beatforge.generation.mania import ManiaModels, generate_mania
            from beatforge.generation.output import STAR_RATING_MISS, chart_seed, write_set

            models = ManiaModels.load(request)
        except BaseException:
            decoded.cancel()
            raise
        charts = generate_mania(song, request, models=models, progress=True, audio=decoded.result())
    written = write_set(charts, song, args.output, previews=not args.no_preview)
    for c in charts:
        miss = c.meta.extra.get(STAR_RATING_MISS)  # "asked 6.50: <why>" where the chart misses its star rating
        print(f"{c.meta.version}: {c.n_notes} notes, {star_rating(c):.2f} stars" + (f" ({miss})" if miss else ""))
    if charts and charts[0].meta.extra.get("Timing"):
        print(f"timing: {charts[0].meta.extra['Timing']}")
    seed = chart_seed(charts[0]) if charts else None
    if seed is not None:
        print(f"seed {seed} (run again with --seed {seed} for the same charts)")
    for w in written:
        print(w)
    return 0


# ====================================================================================== rhythm
def _add_rhythm(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rhythm", help="train the rhythm model (note onsets from audio)")
    rsub = p.add_subparsers(dest="rhythm_command", required=True, metavar="ACTION")
    t = rsub.add_parser("train", help="train the rhythm model on built datasets' charts with audio",
                        description="Train beatforge's rhythm model (where notes go, at a requested density) on "
                        "every chart with audio in the datasets; writes a model directory.")
    t.add_argument("--dataset", action="append", required=True, type=Path, help="a built dataset (repeatable)")
    t.add_argument("-o", "--output", type=Path, required=True, help="model directory to write")
    t.add_argument("--steps", type=int, default=1200, help="rhythm network training steps (default 1200)")
    t.add_argument("--batch-size", type=int, default=8, help="songs per batch (default 8)")
    t.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 0.002)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--exclude-song", action="append", default=[], help="song_key to leave out (repeatable)")
    t.add_argument("--selector-steps", type=int, default=SELECTOR_TRAIN_STEPS,
                   help="training steps of the note selector, written to OUTPUT/selector "
                   f"(default {SELECTOR_TRAIN_STEPS}; 0: no selector)")
    t.set_defaults(func=_cmd_rhythm_train)


def _cmd_rhythm_train(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    import numpy as np

    from beatforge.checkpoints import save_rhythm_model
    from beatforge.training.rhythm import load_rhythm_items, train_rhythm

    for flag, value, low, high in (("--steps", args.steps, 1, 10**8), ("--batch-size", args.batch_size, 1, 4096),
                                   ("--selector-steps", args.selector_steps, 0, 10**8)):
        check_flag_range(flag, value, low, high)
    if args.output.exists() and not args.output.is_dir():
        raise BeatforgeError(f"-o {args.output}: a file, not a folder for the model")
    if not (np.isfinite(args.lr) and 0 < args.lr < 1):
        raise BeatforgeError(f"--lr {args.lr}: a learning rate in (0, 1)")
    if not 0 <= args.seed < 2**63:
        raise BeatforgeError(f"--seed {args.seed}: from 0 to 2**63 - 1")
    for d in args.dataset:
        if not (d / "index.jsonl").is_file():
            raise BeatforgeError(f"--dataset {d}: not a built dataset (no index.jsonl)")
    items = load_rhythm_items(args.dataset, exclude_songs=set(args.exclude_song))
    net, losses = train_rhythm(items, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    meta = {"steps": args.steps, "charts": len(items), "songs": sorted({i.song for i in items}),
            "final_loss": float(np.mean(losses[-100:])), "batch_size": args.batch_size, "lr": args.lr,
            "seed": args.seed}
    for f in save_rhythm_model(net, args.output, meta=meta):
        print(f)
    if args.selector_steps > 0:
        from beatforge.training.selector import load_selector_items, save_selector, train_selector

        sel_items = load_selector_items(args.dataset, exclude_songs=set(args.exclude_song))
        if not sel_items:
            raise BeatforgeError("no chart with audio to train the note selector on (--selector-steps 0 skips it)")
        sel, sel_losses = train_selector(sel_items, steps=args.selector_steps, seed=args.seed)
        sel_meta = {"steps": args.selector_steps, "charts": len(sel_items),
                    "songs": sorted({i.song for i in sel_items}), "final_loss": float(np.mean(sel_losses[-50:]))}
        for f in save_selector(sel, args.output / "selector", meta=sel_meta):
            print(f)
    return 0


# ====================================================================================== remap / styles
def _add_remap(sub: argparse._SubParsersAction) -> None:
    d = RemapRequest()  # the defaults live in the request
    p = sub.add_parser("remap", help="new positions for an osu!standard map, same rhythm (a DiT, osu-diffusion)",
                       description="Keep an osu!standard beatmap's rhythm, timing and slider timing; generate new "
                       "hit-object positions in the style of a training beatmap.")
    p.add_argument("beatmap", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="the .osu to write")
    p.add_argument("--ckpt", type=Path, default=d.model, help="a train.py checkpoint directory (default: shipped)")
    p.add_argument("--style-id", default=d.style_id, help="osu! BeatmapID of a training map (see 'beatforge styles')")
    p.add_argument("--cfg-scale", type=float, default=d.guidance,
                   help=f"classifier-free guidance scale towards the style (default {d.guidance:g})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"sampling steps (default {d.steps})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--free-spacing", action="store_true", default=not d.spacing,
                   help="the network's raw positions, without projecting them onto the map's spacing")
    p.add_argument("--device", choices=list(DEVICES), default=d.device,
                   help=f"where the DiT runs: the GPU when there is one ('auto'), or cpu, cuda, mps (default "
                   f"{d.device})")
    p.set_defaults(func=_cmd_remap)


def remap_request_from_args(args: argparse.Namespace) -> RemapRequest:
    """``beatforge remap``'s flags as a request (validated there)."""
    return RemapRequest(model=args.ckpt, style_id=args.style_id, guidance=args.cfg_scale, steps=args.steps,
                        seed=args.seed, spacing=not args.free_spacing, device=args.device)


def _cmd_remap(args: argparse.Namespace) -> int:
    configure_threads()  # before torch loads (see beatforge.runtime); a no-op where _main did it already
    # lazy: the remapper pulls in torch and the DiT, which the other commands and --help do without
    from beatforge.fileio import atomic_write_text
    from beatforge.formats.osu import write_osu
    from beatforge.generation.remap import progress_bar, remap_standard

    request = remap_request_from_args(args)
    with progress_bar("remap") as progress:
        bm = remap_standard(args.beatmap, request, progress=progress)
    atomic_write_text(args.output, write_osu(bm))
    print(args.output)
    return 0


def _add_styles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("styles", help="the style ids a standard model knows, with the map each comes from",
                       description="One line per style of an osu!standard model: the style id (what --style-id of "
                       "'beatforge remap' and sample.py takes: the training map's BeatmapID, or the dataset's hash of "
                       "a map without one), its class index, and the map as 'Artist - Title (Creator) [Version]', or "
                       "'(no name recorded)' where its file had none of them.")
    p.add_argument("--ckpt", type=Path, default=RemapRequest.model,
                   help="a train.py checkpoint directory (default: shipped)")
    p.set_defaults(func=_cmd_styles)


def _cmd_styles(args: argparse.Namespace) -> int:
    # lazy: checkpoints imports torch
    from beatforge.checkpoints import DEFAULT_STANDARD_MODEL, NO_STYLE_NAME, list_styles

    styles = list_styles(args.ckpt or DEFAULT_STANDARD_MODEL)
    for style_id, label, name in styles:
        print(f"{style_id}\t{label}\t{name}")
    unnamed = sum(name == NO_STYLE_NAME for _, _, name in styles)
    if unnamed:  # on stderr: stdout stays one "ID<TAB>INDEX<TAB>NAME" line per style
        print(f"note: {unnamed} of {len(styles)} styles have no name recorded: their training maps' .osu files had "
              "no Artist, Title or Version (or the checkpoint has no styles.json). An id that is not a number is the "
              "dataset's hash of a map without a BeatmapID. --style-id takes every id listed.", file=sys.stderr)
    return 0


# ====================================================================================== evaluate / preview
def _evaluate_standard(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.evaluation.standard_flow import flow_report, write_flow_plot
    from beatforge.formats.osu import parse_osu

    maps = []
    for flag, path in (("--generated", args.generated), ("--reference", args.reference)):
        if not path.is_file():
            raise BeatforgeError(f"{flag} {path}: --mode standard takes one .osu file")
        bm = parse_osu(path)
        if bm.mode != 0:
            raise BeatforgeError(f"{flag} {path}: an osu!{bm.mode_name} beatmap, not osu!standard")
        maps.append(bm)
    try:
        report = flow_report(*maps)
    except ValueError as exc:
        raise BeatforgeError(f"--generated {args.generated}: {exc}") from None
    args.output.mkdir(parents=True, exist_ok=True)
    plot = write_flow_plot(report, args.output / "flow.png")
    atomic_write_text(args.output / "flow.json", json.dumps(report))
    if args.json:
        print(json.dumps(report))
        return 0

    def f(v, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    print(f"{'':34} {'remap':>8} {'random walk':>12} {'human':>8}")
    g, w, h = report["generated"], report["random_walk"], report["human"]
    print(f"{'turn-angle histogram TV to human':34} {f(g['turn_tv']):>8} {f(w['turn_tv']):>12} {f(h['turn_tv']):>8}")
    for k in g["turn_tv_by_gap"]:
        print(f"{'  gap ' + k:34} {f(g['turn_tv_by_gap'][k]):>8} {f(w['turn_tv_by_gap'][k]):>12} "
              f"{f(h['turn_tv_by_gap'][k]):>8}")
    print(f"{'mean turn angle (deg)':34} {f(g['mean_turn'], 1):>8} {f(w['mean_turn'], 1):>12} "
          f"{f(h['mean_turn'], 1):>8}")
    print(f"{'near-stacks per object':34} {f(g['near_stacks'], 2):>8} {f(w['near_stacks'], 2):>12} "
          f"{f(h['near_stacks'], 2):>8}")
    print(f"{'overlaps per object':34} {f(g['overlaps'], 2):>8} {f(w['overlaps'], 2):>12} {f(h['overlaps'], 2):>8}")
    for k in g["mean_distance_by_gap"]:
        print(f"{'  mean distance, gap ' + k + ' (px)':34} {f(g['mean_distance_by_gap'][k], 0):>8} "
              f"{f(w['mean_distance_by_gap'][k], 0):>12} {f(h['mean_distance_by_gap'][k], 0):>8}")
    print(f"random walk: the human spacing, uniformly random turns, mean of 5 walks; written {plot} and "
          f"{args.output / 'flow.json'}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score generated charts against human charts of the same songs (HTML report, --json)",
        description="Pair each generated chart with the human charts of its song (same audio, else same title) and "
        "score it against the one of nearest star rating: rhythm precision/recall/F1 at 10 and 50 ms (one-to-one "
        "matching), star rating error, skillset distance, density, column balance, playability faults, both charts' "
        "osu!mania Ranking Criteria problems and warnings (as `beatforge check`, each at its own level), and both "
        "charts' onset F1 against the audio. Writes REPORT_DIR/index.html with plots and previews.",
    )
    p.add_argument("--mode", default="mania", choices=["mania", "standard"],
                   help="mania: folders of charts, paired by song (default); standard: one remapped osu!standard map "
                   "against the human map of the same rhythm: turn angles (overall and by time gap), near-stacks, "
                   "distance by gap, overlaps, each beside a random-angle walk with the human spacing")
    p.add_argument("--generated", type=Path, required=True,
                   help="folder of generated charts (beatforge generate's); --mode standard: the remapped .osu")
    p.add_argument("--reference", type=Path, required=True,
                   help="folder of human charts of the same songs; --mode standard: the human .osu")
    p.add_argument("--audio", type=Path, nargs="+", action="extend", default=[], metavar="FILE_OR_DIR",
                   help="the songs' audio, where the charts lack it (matched to songs by content or file name)")
    p.add_argument("-o", "--output", type=Path, required=True, help="report folder to write (REPORT_DIR)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.evaluation.report import criteria_line, evaluate

    if args.mode == "standard":
        return _evaluate_standard(args)
    result = evaluate(args.generated, args.reference, args.output, audio=args.audio, progress=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0

    def f(v, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    def criteria(c: dict, side: str) -> str:
        n, m = c[f"{side}criteria_problems"], c[f"{side}criteria_warnings"]
        return f"{n} problem{'' if n == 1 else 's'}, {m} warning{'' if m == 1 else 's'} at {c[f'{side}criteria_level']}"

    for c in result["charts"]:
        print(f"{c['title'][:30]} [{c['version'][:24]}] vs [{c['reference_version'][:24]}]: F1 {f(c['rhythm_f1_10ms'])}"
              f" @10 ms, {f(c['rhythm_f1_50ms'])} @50 ms; SR {f(c['star_rating'], 2)} vs "
              f"{f(c['reference_star_rating'], 2)}; onset F1 {f(c['onset_f1'])} vs {f(c['reference_onset_f1'])}; "
              f"{c['playability_fault_count']} faults; ranking criteria {criteria(c, '')} vs "
              f"{criteria(c, 'reference_')}")
        for issue in c["criteria_issues"][:3]:
            print(f"    {criteria_line(issue)}")
    print(f"{result['n_charts']} chart(s), {result['n_songs']} song(s): rhythm F1 {f(result['rhythm_f1_10ms'])} "
          f"@10 ms, {f(result['rhythm_f1_50ms'])} @50 ms; SR error {f(result['sr_error'], 2)}; onset F1 "
          f"{f(result['onset_f1'])} (reference {f(result['reference_onset_f1'])})")
    print(f"ranking criteria per chart: problems generated {f(result['criteria_problems'], 2)} / human "
          f"{f(result['reference_criteria_problems'], 2)}; warnings generated {f(result['criteria_warnings'], 2)} / "
          f"human {f(result['reference_criteria_warnings'], 2)} (each chart at its own level; "
          "`beatforge check` lists every issue)")
    for path in result["unpaired"]:
        print(f"not scored (no reference chart of its song): {path}")
    print(result["report"])
    return 0


def _add_preview(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="draw a chart as a piano-roll PNG (columns x time, long notes)",
                       description="Draw one chart of any supported format as a PNG: the song in vertical strips, "
                       "one lane per column, long notes as bars; --audio adds the audio's onset strength beside it.")
    p.add_argument("chart", type=Path, help=".osu, .osz, .qua, .qp, .sm, .ssc, Frets on Fire folder / notes.mid, .json")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .png to write")
    p.add_argument("--audio", type=Path, help="audio file (or Frets on Fire song folder) for the onset strength")
    p.add_argument("--difficulty", "--version", dest="difficulty",
                   help="difficulty name, for a file or archive holding several charts")
    p.add_argument("--index", type=int, help="chart index, for a file or archive holding several charts")
    p.set_defaults(func=_cmd_preview)


def _cmd_preview(args: argparse.Namespace) -> int:
    # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
    from beatforge.charts.preview import render_preview
    from beatforge.formats.loader import load_chart

    if args.output.suffix.lower() != ".png":
        raise BeatforgeError(f"-o {args.output}: the output must end in .png")
    chart = load_chart(args.chart, index=args.index, version=args.difficulty)
    strength, end_ms = None, None
    if args.audio is not None:
        from beatforge.audio import load_audio
        from beatforge.evaluation.report import audio_onsets

        on = audio_onsets(load_audio(resolve_song(args.audio).sources), label=str(args.audio))
        strength, end_ms = (on.env_ms, on.env), max(on.duration_ms, chart.last_ms + 500.0)
    print(render_preview(chart, args.output, onset_strength=strength, end_ms=end_ms))
    return 0


# ====================================================================================== ui
def _add_ui(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="a local web page: generate, chart to prompt, remap, evaluate (gradio)",
                       description="Serve beatforge's web page on this machine (Mug Diffusion's controls): "
                       "generate charts from an uploaded song, fill the prompt from a chart, remap an "
                       "osu!standard map, evaluate generated charts. No public share link. Ctrl+C stops it.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--device", choices=list(DEVICES), default="auto",
                   help="where the page's networks run: the GPU when there is one ('auto'), or cpu, cuda, mps "
                   "(default auto); the models load once for it")
    p.set_defaults(func=_cmd_ui)


def _cmd_ui(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise BeatforgeError(f"--port {args.port}: must be 1-65535")
    try:
        # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
        from beatforge.ui.app import launch  # gradio is imported only here: every other command stays fast
    except ImportError as exc:
        raise BeatforgeError(f"the web page needs gradio ({exc}); install it with: pip install -e .") from None
    try:
        launch(args.host, args.port, device=args.device)
    except OSError as exc:
        raise BeatforgeError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0


# ====================================================================================== main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beatforge", description="Rhythm-game charts with diffusion models.")
    parser.add_argument("--version", action="version", version=f"beatforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_analyze(sub)
    _add_check(sub)
    _add_convert(sub)
    _add_dataset(sub)
    _add_train(sub)
    _add_generate(sub)
    _add_rhythm(sub)
    _add_remap(sub)
    _add_styles(sub)
    _add_evaluate(sub)
    _add_preview(sub)
    _add_ui(sub)
    return parser


def _main(argv: list[str]) -> int:
    if argv[:1] == ["train"]:
        # Training takes free-form a.b=value overrides, which argparse sub-commands cannot pass through.
        # lazy: each sub-command imports only what it runs, so `beatforge --help` and the other commands start fast
        from beatforge.training.run import main_train

        return main_train(argv[1:])
    args = build_parser().parse_args(argv)
    configure_threads()  # before any command imports torch: see beatforge.runtime
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """``beatforge``: every sub-command inside the shared error boundary (:mod:`beatforge.boundary`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_guarded("beatforge", lambda: _main(argv))


def entry() -> None:
    """The ``beatforge`` command: :func:`main`, then the process exits without tearing torch down
    (:func:`~beatforge.boundary.exit_process`). Tests call :func:`main`, which returns the code."""
    exit_process(main())


def run_script(prog: str, main_fn, argv: list[str] | None = None) -> None:
    """The seed guides' root scripts (main.py, train.py, sample.py, generate_beatmap_idx.py): the same error
    boundary and exit codes as ``beatforge`` itself."""
    exit_process(run_guarded(prog, lambda: main_fn(argv)))


if __name__ == "__main__":
    entry()
