"""The ``beatforge ui`` page: Mug Diffusion's web page controls over beatforge's pipelines, served by gradio.

Four tabs, each a thin layer over a function the CLI also uses, so the page and ``beatforge generate`` /
``analyze`` / ``remap`` cannot drift apart:

- **Generate**: :func:`beatforge.generation.mania.generate_mania` + ``write_set`` (previews and the .osz);
- **Chart to prompt**: :func:`beatforge.analysis.report.analyze` on an uploaded chart, its figures written into
  the Generate tab's controls;
- **Remap osu!standard**: :func:`beatforge.generation.remap.remap_standard`;
- **Evaluate**: ``beatforge.evaluation.report.evaluate`` (metrics, plots and an HTML report).

Every handler runs inside :func:`user_errors`: a :class:`~beatforge.errors.BeatforgeError` becomes a ``gr.Error``
(a toast in the page with the same one line the CLI prints) and anything else a short message with the traceback
in the server log only, so one bad upload never takes the page down for the next request.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from beatforge import __version__
from beatforge.constants import (
    GUIDANCE_RANGE,
    MAP_TYPES,
    MAX_CHARTS_PER_RUN,
    MSD_RANGE,
    PATTERN_WAYS,
    SKILLSETS,
    STAR_RATING_RANGE,
    STYLES,
)
from beatforge.errors import BeatforgeError
from beatforge.formats.loader import CHART_SUFFIXES
from beatforge.generation.request import ManiaRequest, RemapRequest
from beatforge.generation.song import resolve_song

log = logging.getLogger("beatforge.ui")

PATTERN_CHOICES = ("none", *PATTERN_WAYS)
MAP_TYPE_CHOICES = ("any", *MAP_TYPES)
MANIA_STYLES = ("any", *STYLES)  # Mug Diffusion's style: the rank status to imitate
DEFAULTS = ManiaRequest()  # the controls start at the request's defaults
REMAP_DEFAULTS = RemapRequest()  # the Remap tab's, likewise
TIMING_DETECT = "detect from the audio"
TIMING_GIVEN = "BPM / offset"
NO_STYLE = "none (no style)"
# Generated files are kept this long under the temp folder (gradio copies what it serves into its own cache,
# which ``delete_cache`` below empties on the same schedule).
KEEP_S = 2 * 3600
CHART_FILE_TYPES = [*CHART_SUFFIXES, ".mid"]  # .mid: a Frets on Fire notes file


# ====================================================================================== helpers
@contextlib.contextmanager
def user_errors(action: str, paths: Sequence[str | Path | None] = ()) -> Iterator[None]:
    """Turn failures into a message in the page and keep the server serving.

    A BeatforgeError is the user's input (its one line is the message); anything else is a bug or the machine,
    reported in a line with the traceback logged on the server. Upload paths (gradio's random cache folders) are
    shortened to the file name the user picked.
    """

    def shorten(text: str) -> str:
        for p in paths:
            if p:
                text = text.replace(str(p), Path(p).name)
        return text

    try:
        yield
    except gr.Error:
        raise
    except BeatforgeError as exc:
        raise gr.Error(shorten(str(exc)), title=f"{action}: error", print_exception=False) from None
    except MemoryError:
        raise gr.Error("out of memory (try a shorter song or fewer charts)", title=f"{action}: error",
                       print_exception=False) from None
    except Exception as exc:
        log.exception("%s failed", action)
        first = (shorten(str(exc)).splitlines() or [""])[0][:300]
        raise gr.Error(f"unexpected {type(exc).__name__}: {first}", title=f"{action}: error",
                       print_exception=False) from None


def _work_root() -> Path:
    root = Path(tempfile.gettempdir()) / "beatforge-ui"
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_dir(kind: str) -> Path:
    """A fresh folder for one request's files (under the temp folder, which gradio may serve from); folders of
    earlier requests older than ``KEEP_S`` are removed first, so a long-running page does not fill the disk."""
    root = _work_root()
    cutoff = time.time() - KEEP_S
    for old in root.iterdir():
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))


@functools.lru_cache(maxsize=1)
def _mania_models() -> Any:
    """The shipped generation and rhythm models (a ``ManiaModels``), loaded once per server rather than once per
    click."""
    from beatforge.generation.mania import ManiaModels  # lazy: torch costs seconds of page start-up

    return ManiaModels.load()


def model_keys() -> list[int]:
    """Key counts the shipped generation model was trained for (the choices of the keys control)."""
    try:
        keys = _mania_models().chart.keys
    except BeatforgeError as exc:  # no model here: the page still opens, generation then says why
        log.warning("generation model not loaded: %s", exc)
        keys = []
    return list(keys) or list(range(1, 11))


def standard_styles() -> list[tuple[str, str]]:
    """(label, style id) choices of the shipped osu!standard model; only "no style" when it is absent."""
    from beatforge.checkpoints import DEFAULT_STANDARD_MODEL, list_styles  # lazy: torch costs seconds of start-up

    choices = [(NO_STYLE, "")]
    try:
        choices += [(f"{sid} - {name}" if name else sid, sid) for sid, _, name in list_styles(DEFAULT_STANDARD_MODEL)]
    except (BeatforgeError, OSError, ValueError) as exc:
        log.warning("no osu!standard styles: %s", exc)
    return choices


def _opt(value: Any) -> float | None:
    """A number control that may be empty (None or "")."""
    return None if value is None or value == "" else float(value)


# ====================================================================================== generate
def generation_request(v: dict[str, Any]) -> ManiaRequest:
    """The Generate tab's control values (by name) as a :class:`ManiaRequest`, mapped as ``beatforge generate``
    maps its flags (the controls ``sr`` and ``cfg`` are ``--sr`` and ``--cfg``; an overall MSD is
    ``msd["overall"]``, like ``--msd overall=V``). An optional rating is a checkbox and a slider, as on Mug
    Diffusion's page (a number box cannot be left empty: the browser sends 0). Range checks are the request's, so
    the page and the CLI reject the same values."""
    patterns = {s: v[f"{s}_way"] for s in SKILLSETS if v.get(f"{s}_way") in PATTERN_WAYS}
    msd = {s: float(v[f"{s}_msd"]) for s in SKILLSETS if v.get(f"use_{s}_msd")}
    if v.get("use_overall"):
        msd["overall"] = float(v["overall"])
    bpm = offset = None
    if v.get("timing") == TIMING_GIVEN:
        bpm = _opt(v.get("bpm"))
        if not bpm:
            raise BeatforgeError("timing: enter the song's BPM, or choose 'detect from the audio'")
        offset = _opt(v.get("offset")) or 0.0
    seed = _opt(v.get("seed"))
    map_type = v.get("map_type")
    return ManiaRequest(
        keys=int(v["keys"]),
        star_ratings=(float(v["sr"]),),
        count=int(v["count"]),
        steps=int(v["steps"]),
        guidance=float(v["cfg"]),
        seed=int(seed) if seed is not None and seed >= 0 else None,
        ln_ratio=float(v["ln_ratio"]) if v.get("use_ln_ratio") else None,
        map_type=map_type if map_type in MAP_TYPES else None,
        style=v.get("style") if v.get("style") in STYLES else None,
        patterns=patterns,
        msd=msd,
        bpm=bpm,
        offset=offset,
        min_jack_ms=float(v.get("min_jack_ms", DEFAULTS.min_jack_ms)),
        snap=bool(v.get("snap", DEFAULTS.snap)),
        title=(v.get("title") or "").strip() or None,
        artist=(v.get("artist") or "").strip() or None,
    )


@dataclass
class GenerationResult:
    """What one click of Generate gives the page: the set's .osz, a preview per chart, a line per chart."""

    osz: Path
    osu: list[Path]
    previews: list[tuple[Path, str]]
    summary: str


def run_generation(audio: str | Path | None, request: ManiaRequest, out_dir: Path) -> GenerationResult:
    """Chart ``audio`` with the shipped models (loaded once) and write the set into ``out_dir``."""
    # lazy: torch, rosu-pp and matplotlib cost seconds of page start-up
    from beatforge.analysis.star_rating import star_rating
    from beatforge.generation.mania import generate_mania
    from beatforge.generation.output import write_set

    if not audio:
        raise BeatforgeError("upload a song first (mp3, ogg, wav, flac ...)")
    song = resolve_song(audio, title=request.title, artist=request.artist)
    charts = generate_mania(song, request, models=_mania_models(), progress=True)
    written = write_set(charts, song, out_dir, previews=True)
    osz = next(p for p in written if p.suffix == ".osz")
    osu = [p for p in written if p.suffix == ".osu"]
    pngs = [p for p in written if p.suffix == ".png"]
    lines = []
    for c in charts:
        sr = star_rating(c) if c.n_notes else 0.0
        lines.append(f"- **{c.meta.version}**: {c.n_notes} notes ({c.n_long} long), {sr:.2f} stars")
    bpm = charts[0].main_bpm() if charts else None
    head = f"**{song.artist} - {song.title}**" + (f", {bpm:g} BPM" if bpm else "")
    return GenerationResult(osz, osu, [(p, c.meta.version) for p, c in zip(pngs, charts)],
                            "\n".join([head, "", *lines]))


# ====================================================================================== chart to prompt
def chart_prompt(path: str | Path, version: str | None = None) -> tuple[Any, dict[str, Any], list[str]]:
    """"Chart to prompt": the chart's report, the Generate tab's control values that ask for a chart like it
    (keys, star rating, overall and skillset MSDs, LN ratio, map type, dominant patterns as "more", BPM/offset),
    and the difficulty names the file holds (an .osz or StepMania file holds several). Values are clipped into
    the ranges generation accepts. Without ``version`` the hardest chart is taken."""
    # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
    from beatforge.analysis.report import analyze
    from beatforge.formats.loader import load_charts

    charts = load_charts(path)
    names = [c.meta.version or f"chart {i + 1}" for i, c in enumerate(charts)]
    chart = charts[names.index(version)] if version in names else max(charts, key=lambda c: c.n_notes)
    report = analyze(chart)

    def clip(x: float, lo_hi: tuple[float, float]) -> float:
        return round(min(max(float(x), lo_hi[0]), lo_hi[1]), 2)

    values: dict[str, Any] = {
        "sr": clip(report.star_rating, STAR_RATING_RANGE),
        "use_overall": True,
        "overall": clip(report.overall, MSD_RANGE),
        "use_ln_ratio": True,
        "ln_ratio": round(report.ln_ratio, 2),
        "map_type": report.map_type,
    }
    if report.keys in model_keys():
        values["keys"] = report.keys
    for s in SKILLSETS:
        values[f"use_{s}_msd"] = True
        values[f"{s}_msd"] = clip(report.skillsets[s], MSD_RANGE)
        values[f"{s}_way"] = "more" if s in report.dominant else "none"
    if report.bpm:
        main = [tp for tp in chart.timing if round(tp.bpm, 2) == round(report.bpm, 2)]
        values.update(timing=TIMING_GIVEN, bpm=report.bpm, offset=round(main[0].time if main else 0.0, 1))
    return report, values, names


# ====================================================================================== remap
def remap_request(style: str | None, guidance: float, steps: int, seed: int | None) -> RemapRequest:
    """The Remap tab's controls as a :class:`RemapRequest` (the shipped model; "no style" is the empty choice),
    as ``beatforge remap`` maps its flags; range checks are the request's."""
    return RemapRequest(style_id=style or None, guidance=float(guidance), steps=int(steps),
                        seed=int(seed or REMAP_DEFAULTS.seed))


def remap_file(path: str | Path | None, request: RemapRequest, out_dir: Path) -> Path:
    """New hit-object positions for an osu!standard .osu (``beatforge remap``)."""
    # lazy: torch and the DiT cost seconds of page start-up
    from beatforge.fileio import atomic_write_text
    from beatforge.formats.osu import write_osu
    from beatforge.generation.remap import remap_standard

    if not path:
        raise BeatforgeError("upload an osu!standard .osu first")
    if Path(path).suffix.lower() != ".osu":
        raise BeatforgeError(f"{Path(path).name}: remapping takes an .osu file")
    bm = remap_standard(path, request)
    out = out_dir / f"{Path(path).stem} (beatforge remap).osu"
    atomic_write_text(out, write_osu(bm))
    return out


# ====================================================================================== evaluate
def _copy_in(files: Sequence[str | Path], folder: Path) -> Path:
    """Uploads into one folder (each upload sits in its own cache folder), names kept, clashes numbered."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        p = Path(f)
        target = folder / p.name
        n = 1
        while target.exists():
            target = folder / f"{p.stem} ({n}){p.suffix}"
            n += 1
        shutil.copyfile(p, target)
    return folder


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def run_evaluation(generated: Sequence[str | Path] | None, reference: Sequence[str | Path] | None,
                   audio: Sequence[str | Path] | None, out_dir: Path) -> tuple[dict, list[Path], Path | None]:
    """``beatforge.evaluation.report.evaluate`` on uploaded charts: (metrics, PNGs (plots first, then chart
    previews), the HTML report zipped with its images, since index.html alone would lose them)."""
    if not generated or not reference:
        raise BeatforgeError("upload generated charts and reference charts")
    try:
        # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
        from beatforge.evaluation.report import evaluate
    except ImportError:
        raise BeatforgeError("evaluation is not available in this beatforge (no beatforge.evaluation.report)") from None
    gen = _copy_in(generated, out_dir / "generated")
    ref = _copy_in(reference, out_dir / "reference")
    report = out_dir / "report"
    kw: dict[str, Any] = {"audio": list(audio) if audio else None}
    if "progress" in inspect.signature(evaluate).parameters:
        kw["progress"] = True  # a tqdm bar, which gr.Progress(track_tqdm=True) shows in the page
    result = evaluate(gen, ref, report, **kw)
    pngs = sorted(report.glob("**/*.png"), key=lambda p: (p.parent.name != "plots", str(p)))
    archive = None
    if (report / "index.html").is_file():
        archive = Path(shutil.make_archive(str(out_dir / "evaluation report"), "zip", report))
    return _jsonable(result), pngs, archive


def _metrics_markdown(result: dict) -> str:
    def fmt(x: Any) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    rows = [("rhythm F1 at 10 ms", "rhythm_f1_10ms"), ("rhythm F1 at 50 ms", "rhythm_f1_50ms"),
            ("star rating error", "sr_error"), ("skillset distance (MSD)", "skillset_distance"),
            ("onset F1 against the audio", "onset_f1"), ("playability faults", "playability_faults")]
    lines = ["| metric | value |", "| --- | --- |"]
    required = ("rhythm_f1_10ms", "rhythm_f1_50ms", "sr_error")  # evaluate()'s documented keys; others if present
    lines += [f"| {label} | {fmt(result.get(key))} |" for label, key in rows if key in required or key in result]
    lines.append(f"\n{len(result.get('charts') or [])} chart(s) compared (means over charts); every figure below "
                 "and in the HTML report.")
    if result.get("unpaired"):
        lines.append(f"\nNot scored (no reference of their song): {', '.join(map(str, result['unpaired']))}")
    return "\n".join(lines)


# ====================================================================================== the page
def _generate_tab(controls: dict[str, Any], panels: dict[str, Any]) -> None:
    """Mug Diffusion's generation controls; ``controls`` gets every input by name and ``panels`` the folding
    sections (chart to prompt fills the one and opens the other)."""
    keys = model_keys()
    with gr.Row():
        with gr.Column(scale=1):
            controls["audio"] = gr.Audio(label="Song (mp3, ogg, wav, flac ...)", type="filepath",
                                         sources=["upload"], elem_id="audio")
            with gr.Row():
                controls["title"] = gr.Textbox(label="Title", placeholder="from the file name", elem_id="title")
                controls["artist"] = gr.Textbox(label="Artist", placeholder="Unknown", elem_id="artist")
            with gr.Row():
                controls["keys"] = gr.Dropdown(keys, value=4 if 4 in keys else keys[0], label="Keys",
                                               elem_id="keys")
                controls["count"] = gr.Slider(1, min(MAX_CHARTS_PER_RUN, 8), value=DEFAULTS.count, step=1,
                                              label="Number of charts",
                                              elem_id="count")
            controls["sr"] = gr.Slider(*STAR_RATING_RANGE, value=DEFAULTS.star_ratings[0], step=0.1,
                                       label="Star rating",
                                       info="osu! stars; the note density is fitted to it", elem_id="sr")
            with gr.Row(equal_height=True):
                controls["use_overall"] = gr.Checkbox(False, label="ask for an overall MSD", scale=1,
                                                      elem_id="use_overall")
                controls["overall"] = gr.Slider(MSD_RANGE[0], MSD_RANGE[1], value=20, step=0.5, label="Overall MSD",
                                                scale=3, elem_id="overall")
            with gr.Row(equal_height=True):
                controls["use_ln_ratio"] = gr.Checkbox(False, label="ask for an LN ratio", scale=1,
                                                       elem_id="use_ln_ratio")
                controls["ln_ratio"] = gr.Slider(0, 1, value=0.2, step=0.05, label="LN ratio", scale=3,
                                                 info="share of long notes (else: from the map type)",
                                                 elem_id="ln_ratio")
            controls["map_type"] = gr.Radio(list(MAP_TYPE_CHOICES), value="any", label="Map type",
                                            info="rice < 10 % long notes, hybrid 10-40 %, ln >= 40 %",
                                            elem_id="map_type")
            controls["style"] = gr.Radio(list(MANIA_STYLES), value="any", label="Style",
                                         info="imitate charts of this rank status (Mug Diffusion's style)",
                                         elem_id="style")
            with gr.Accordion("Skillsets: more / less patterns, optional MSD", open=False) as panels["skillsets"]:
                for s in SKILLSETS:
                    with gr.Row(equal_height=True):
                        controls[f"{s}_way"] = gr.Radio(list(PATTERN_CHOICES), value="none", label=s, scale=3,
                                                        elem_id=f"{s}_way")
                        controls[f"use_{s}_msd"] = gr.Checkbox(False, label="MSD", scale=1, elem_id=f"use_{s}_msd")
                        controls[f"{s}_msd"] = gr.Slider(MSD_RANGE[0], MSD_RANGE[1], value=20, step=0.5,
                                                         label=f"{s} MSD", scale=3, elem_id=f"{s}_msd")
            with gr.Accordion("Timing and playability", open=False) as panels["timing"]:
                controls["timing"] = gr.Radio([TIMING_DETECT, TIMING_GIVEN], value=TIMING_DETECT, label="Timing",
                                              elem_id="timing")
                with gr.Row():
                    controls["bpm"] = gr.Number(120, label="BPM", info="20-1000", elem_id="bpm")
                    controls["offset"] = gr.Number(0, label="Offset (ms of the first beat)", elem_id="offset")
                with gr.Row():
                    controls["min_jack_ms"] = gr.Slider(0, 300, value=DEFAULTS.min_jack_ms, step=5,
                                                        label="Minimal jack interval (ms)", elem_id="min_jack_ms")
                    controls["snap"] = gr.Checkbox(DEFAULTS.snap, label="Snap to grid", elem_id="snap")
            with gr.Accordion("Sampling", open=True):
                with gr.Row():
                    controls["steps"] = gr.Slider(1, 200, value=DEFAULTS.steps, step=1, label="Steps",
                                                  elem_id="steps")
                    controls["cfg"] = gr.Slider(*GUIDANCE_RANGE, value=DEFAULTS.guidance, step=0.5, label="CFG scale",
                                                elem_id="cfg")
                    controls["seed"] = gr.Number(-1, label="Seed", precision=0, info="-1 = random",
                                                 elem_id="seed")
            button = gr.Button("Generate", variant="primary", elem_id="generate")
        with gr.Column(scale=1):
            previews = gr.Gallery(label="Previews", columns=2, height=560, object_fit="contain", elem_id="previews")
            osz = gr.File(label="Download .osz (charts + audio)", elem_id="osz", interactive=False)
            osu = gr.File(label=".osu files", file_count="multiple", elem_id="osu_files", interactive=False)
            summary = gr.Markdown(elem_id="summary")

    inputs = {c for c in controls.values()}
    names = {c: n for n, c in controls.items()}

    def on_generate(data: dict, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        values = {names[c]: v for c, v in data.items()}
        audio = values.get("audio")
        with user_errors("Generate", [audio]):
            progress(0, desc="loading models")
            request = generation_request(values)
            result = run_generation(audio, request, run_dir("generate"))
        return ([(str(p), cap) for p, cap in result.previews], str(result.osz), [str(p) for p in result.osu],
                result.summary)

    button.click(on_generate, inputs=inputs, outputs=[previews, osz, osu, summary], concurrency_id="cpu",
                 concurrency_limit=1, api_name="generate")


def _prompt_tab(controls: dict[str, Any], panels: dict[str, Any]) -> None:
    """Upload a chart of any supported game; its features go into the Generate tab's controls."""
    gr.Markdown("Upload a chart (.osu, .osz, .qua, .qp, .sm, .ssc, Frets on Fire notes.mid, tui .json): its "
                "measured features are filled into the **Generate** tab's controls.")
    with gr.Row():
        with gr.Column(scale=1):
            chart = gr.File(label="Chart", file_types=CHART_FILE_TYPES, elem_id="prompt_chart")
            version = gr.Dropdown([], label="Difficulty", info="for files holding several charts; default: hardest",
                                  elem_id="prompt_version", interactive=True)
        with gr.Column(scale=1):
            report_md = gr.Markdown(elem_id="prompt_report")
    fill = [c for n, c in controls.items() if n not in ("audio", "title", "artist")] + list(panels.values())

    def on_chart(path: str | None, chosen: str | None = None) -> dict:
        if not path:
            return {report_md: "", version: gr.Dropdown(choices=[], value=None)}
        with user_errors("Chart to prompt", [path]):
            # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
            from beatforge.analysis.report import format_report

            report, values, names = chart_prompt(path, chosen)
        out: dict = {controls[n]: v for n, v in values.items()}
        out.update({p: gr.Accordion(open=True) for p in panels.values()})  # show what was filled in
        out[version] = gr.Dropdown(choices=names, value=report.version if report.version in names else None)
        note = "" if "keys" in values else (f"\n\n**Note:** the model has no {report.keys}K; the keys control "
                                            "was left as it is.")
        out[report_md] = f"```\n{format_report(report)}\n```\nFilled into the Generate tab.{note}"
        return out

    chart.upload(on_chart, inputs=[chart], outputs=[report_md, version, *fill], api_name="chart_to_prompt")
    chart.clear(on_chart, inputs=[chart], outputs=[report_md, version, *fill], api_name=False)
    version.input(on_chart, inputs=[chart, version], outputs=[report_md, version, *fill], api_name=False)


def _remap_tab() -> None:
    """osu!standard: same rhythm, new positions (``beatforge remap``)."""
    gr.Markdown("Upload an osu!standard .osu: its rhythm, timing and slider timing stay; the hit objects get new "
                "positions in the style of a training map.")
    with gr.Row():
        with gr.Column(scale=1):
            beatmap = gr.File(label="osu!standard .osu", file_types=[".osu"], elem_id="remap_osu")
            choices = standard_styles()
            style = gr.Dropdown(choices, value="", label="Style", elem_id="remap_style")
            with gr.Row():
                cfg = gr.Slider(0, 10, value=REMAP_DEFAULTS.guidance, step=0.1, label="CFG scale",
                                elem_id="remap_cfg")
                steps = gr.Slider(1, 200, value=REMAP_DEFAULTS.steps, step=1, label="Steps", elem_id="remap_steps")
                seed = gr.Number(REMAP_DEFAULTS.seed, label="Seed", precision=0, elem_id="remap_seed")
            button = gr.Button("Remap", variant="primary", elem_id="remap")
        with gr.Column(scale=1):
            result = gr.File(label="Remapped .osu", elem_id="remap_result", interactive=False)

    def on_remap(path: str | None, style_id: str | None, guidance: float, n_steps: int, seed_: float | None,
                 progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008
        with user_errors("Remap", [path]):
            progress(0, desc="remapping")
            request = remap_request(style_id, guidance, n_steps, seed_)
            return str(remap_file(path, request, run_dir("remap")))

    button.click(on_remap, inputs=[beatmap, style, cfg, steps, seed], outputs=[result], concurrency_id="cpu",
                 concurrency_limit=1, api_name="remap")


def _evaluate_tab() -> None:
    """Generated vs reference charts: rhythm F1, star-rating error, plots and an HTML report."""
    gr.Markdown("Upload generated charts and the human (reference) charts of the same songs: rhythm F1 at 10 and "
                "50 ms, star-rating error, plots, and an HTML report.")
    with gr.Row():
        with gr.Column(scale=1):
            gen = gr.File(label="Generated charts", file_count="multiple", file_types=CHART_FILE_TYPES,
                          elem_id="eval_generated")
            ref = gr.File(label="Reference charts", file_count="multiple", file_types=CHART_FILE_TYPES,
                          elem_id="eval_reference")
            audio = gr.File(label="Audio (optional: for charts uploaded without their song)",
                            file_count="multiple", elem_id="eval_audio")
            button = gr.Button("Evaluate", variant="primary", elem_id="evaluate")
        with gr.Column(scale=1):
            metrics = gr.Markdown(elem_id="eval_metrics")
            plots = gr.Gallery(label="Plots", columns=2, elem_id="eval_plots")
            html = gr.File(label="HTML report (.zip: index.html and its images)", elem_id="eval_report",
                           interactive=False)
            details = gr.JSON(label="All figures", elem_id="eval_json")

    def on_evaluate(generated: list[str] | None, reference: list[str] | None, audio_paths: list[str] | None,
                    progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        with user_errors("Evaluate", [*(generated or []), *(reference or []), *(audio_paths or [])]):
            progress(0, desc="evaluating")
            result, pngs, archive = run_evaluation(generated, reference, audio_paths, run_dir("evaluate"))
        return _metrics_markdown(result), [str(p) for p in pngs], str(archive) if archive else None, result

    button.click(on_evaluate, inputs=[gen, ref, audio], outputs=[metrics, plots, html, details], concurrency_id="cpu",
                 concurrency_limit=1, api_name="evaluate")


def build_app() -> gr.Blocks:
    """The whole page. Models load on the first request (and the key choices when the page is built), so
    building is quick and a missing model only disables what needs it."""
    controls: dict[str, Any] = {}
    panels: dict[str, Any] = {}
    with gr.Blocks(title="beatforge", analytics_enabled=False, delete_cache=(3600, KEEP_S)) as app:
        gr.Markdown(f"# beatforge {__version__}\nosu!mania charts from songs with diffusion models, osu!standard "
                    "remapping and chart evaluation, on this machine.")
        with gr.Tabs():
            with gr.Tab("Generate", id="generate_tab"):
                _generate_tab(controls, panels)
            with gr.Tab("Chart to prompt", id="prompt_tab"):
                _prompt_tab(controls, panels)
            with gr.Tab("Remap osu!standard", id="remap_tab"):
                _remap_tab()
            with gr.Tab("Evaluate", id="evaluate_tab"):
                _evaluate_tab()
    return app


def launch_kwargs(host: str, port: int) -> dict[str, Any]:
    """``Blocks.launch`` arguments: local only (no share link, no server-side rendering that needs node), quiet
    about gradio's own links, uploads capped well above a 20-minute WAV."""
    kw: dict[str, Any] = {"server_name": host, "server_port": port, "share": False, "ssr_mode": False,
                          "max_file_size": "1gb", "footer_links": [], "show_error": False}
    accepted = inspect.signature(gr.Blocks.launch).parameters
    return {k: v for k, v in kw.items() if k in accepted}


def launch(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the page until Ctrl+C. gradio's own start-up lines are silenced: they advertise a share link this
    command does not offer."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's start-up self-checks, one line per request
    app = build_app()
    app.queue(default_concurrency_limit=1)
    _, url, _ = app.launch(**launch_kwargs(host, port), prevent_thread_lock=True, quiet=True)
    print(f"beatforge ui: serving on {url} (Ctrl+C stops it)", flush=True)
    app.block_thread()


__all__ = ["build_app", "launch", "generation_request", "run_generation", "chart_prompt", "remap_request",
           "remap_file", "run_evaluation", "user_errors"]
