"""The ``beatforge ui`` page: Mug Diffusion's web page controls over beatforge's pipelines, served by gradio.

Four tabs, each a thin layer over a function the CLI also uses, so the page and ``beatforge generate`` /
``analyze`` / ``remap`` cannot drift apart:

- **Generate**: :func:`beatforge.generation.mania.generate_mania` + ``write_set`` (previews and the .osz);
- **Chart to prompt**: :func:`beatforge.analysis.report.analyze` on an uploaded chart, its figures written into
  the Generate tab's controls;
- **Remap osu!standard**: :func:`beatforge.generation.remap.remap_standard`;
- **Evaluate**: ``beatforge.evaluation.report.evaluate`` (metrics, plots and an HTML report).

Every handler runs inside :func:`user_errors`: a :class:`~beatforge.errors.BeatforgeError` becomes the same one
line the CLI prints and anything else a short message with the traceback in the server log only, so one bad upload
never takes the page down for the next request. The message goes into the tab's status box under its button, which
each new run empties when it starts and a successful run leaves empty (a toast would outlive the run it is about).

The page runs its networks on one device (``beatforge ui --device``), loads the generation models once per device,
and removes the folders it writes under the temp folder once they are ``KEEP_S`` old and when it shuts down.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from beatforge import __version__, runtime
from beatforge.constants import (
    DEVICES,
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
RUN_PREFIX = "bf-run-"  # the page's run folders: only folders named so are ever removed
# chart.meta.extra entries that are bookkeeping written into every .osu, not notes for the user
NOT_NOTES = frozenset({"AIPrompt", "AIMode"})
# How the page names the notes it knows (beatforge.generation.output.STAR_RATING_MISS, the rhythm's "Timing");
# any other entry shows under its own key
NOTE_LABELS = {"StarRatingMiss": "Star rating missed", "Timing": "Timing"}
CRITERIA_SHOWN = 3  # the Ranking Criteria issues listed under a generated chart (problems first)
MAX_CRITERIA_CHARTS = 20  # the evaluated charts whose Ranking Criteria counts the Evaluate tab lists
CHART_FILE_TYPES = [*CHART_SUFFIXES, ".mid"]  # .mid: a Frets on Fire notes file
# The galleries' images at their own aspect ratio, whole and column-wide (gradio's thumbnails are squares, which
# shrink a wide chart preview into a strip and crop a plot under object-fit: cover); a click still enlarges one.
PAGE_CSS = """
#previews .thumbnail-lg, #eval_plots .thumbnail-lg { aspect-ratio: auto; height: auto; }
#previews .thumbnail-lg > img, #eval_plots .thumbnail-lg > img { height: auto; object-fit: contain; }
.bf-status { color: var(--error-text-color); }
"""


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


_made: set[Path] = set()  # the run folders this process made (all removed at shutdown)
_private_root: Path | None = None  # where the shared root cannot be used (see _work_root)
_cleanup_lock = threading.Lock()
_cleanup_registered = False


def _work_root() -> Path:
    """The folder of the page's run folders: ``beatforge-ui-<uid>`` under the temp folder, private to this user
    (mode 700). A name in a shared /tmp can be taken by someone else first: if it is a symlink, not a folder, or
    another user's, the page uses a fresh private folder of its own instead."""
    global _private_root
    if _private_root is not None:
        return _private_root
    uid = os.getuid() if hasattr(os, "getuid") else None
    root = Path(tempfile.gettempdir()) / (f"beatforge-ui-{uid}" if uid is not None else "beatforge-ui")
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700, parents=True)
    st = root.lstat()
    if stat.S_ISDIR(st.st_mode) and (uid is None or st.st_uid == uid):
        return root
    log.warning("%s is not a folder of this user's: writing into a private temp folder instead", root)
    _private_root = Path(tempfile.mkdtemp(prefix="beatforge-ui-"))
    return _private_root


def remove_old_runs(root: Path | None = None, keep_s: float = KEEP_S, *, also: Sequence[Path] = ()) -> list[Path]:
    """Remove the page's run folders under ``root`` (default: :func:`_work_root`) last changed more than ``keep_s``
    seconds ago, and the folders in ``also``. Only real folders named ``RUN_PREFIX...`` are touched: a symlink is
    neither followed nor removed, and a symlink inside a run folder is removed as a link (its target stays).
    Returns the folders removed."""
    root = _work_root() if root is None else root
    cutoff = time.time() - keep_s
    removed = []
    with _cleanup_lock:
        try:
            entries = list(os.scandir(root))
        except OSError:
            entries = []
        doomed = [Path(e.path) for e in entries if e.name.startswith(RUN_PREFIX) and _is_old_dir(e, cutoff)]
        doomed += [p for p in also if p.parent == root and p.name.startswith(RUN_PREFIX) and p not in doomed]
        for path in doomed:
            with contextlib.suppress(OSError):
                if not stat.S_ISDIR(path.lstat().st_mode):  # a symlink (or a file) in its place: leave it
                    continue
                shutil.rmtree(path)  # never follows symlinks inside (it unlinks them)
                removed.append(path)
            _made.discard(path)
    return removed


def _is_old_dir(entry: os.DirEntry, cutoff: float) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff
    except OSError:
        return False


def cleanup_runs() -> None:
    """At shutdown (atexit, and when :func:`launch` returns): this process's run folders and any old ones."""
    global _private_root
    try:
        remove_old_runs(also=sorted(_made))
        if _private_root is not None:
            shutil.rmtree(_private_root, ignore_errors=True)
            _private_root = None
    except Exception:  # noqa: BLE001 - shutting down: a failed clean-up must not hide why the page stopped
        log.warning("could not remove the page's temp folders", exc_info=True)


def _register_cleanup() -> None:
    global _cleanup_registered
    if not _cleanup_registered:
        atexit.register(cleanup_runs)
        _cleanup_registered = True


def run_dir(kind: str) -> Path:
    """A fresh folder for one request's files (under the temp folder, which gradio may serve from); the page's
    folders older than ``KEEP_S`` are removed first, so a long-running page does not fill the disk, and this
    process's folders go when it exits."""
    _register_cleanup()
    root = _work_root()
    remove_old_runs(root)
    path = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{kind}-", dir=root))
    _made.add(path)
    return path


@functools.lru_cache(maxsize=len(DEVICES))
def _mania_models(device: str = "auto") -> Any:
    """The shipped generation and rhythm models (a ``ManiaModels``) on ``device``, loaded once per server and
    device rather than once per click."""
    from beatforge.generation.mania import ManiaModels  # lazy: torch costs seconds of page start-up

    return ManiaModels.load(ManiaRequest(device=device))


@functools.lru_cache(maxsize=len(DEVICES))
def _remap_model(device: str = "auto") -> Any:
    """The shipped osu!standard DiT (a ``RemapModel``) on ``device``, loaded once per server and device."""
    from beatforge.generation.remap import RemapModel  # lazy: torch costs seconds of page start-up

    return RemapModel.load(RemapRequest(device=device))


def model_keys(device: str = "auto") -> list[int]:
    """Key counts the shipped generation model was trained for (the choices of the keys control)."""
    try:
        keys = _mania_models(device).chart.keys
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


def clear_status() -> str:
    """What each run puts into its tab's status box when it starts: nothing (the last run's error goes)."""
    return ""


def error_status(err: gr.Error) -> str:
    """A failed run's message for its tab's status box (Markdown: the message's own ``*``, ``_`` ... escaped,
    so a file name shows as it is)."""
    return f"**{err.title}**: {_md_escape(str(err.message))}"


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|~" else ch for ch in text)


def criteria_lines(counts: dict, shown: int = CRITERIA_SHOWN) -> tuple[str, list[str], int]:
    """A chart's Ranking Criteria (:func:`beatforge.evaluation.report.criteria_counts`) as the page shows it:
    ("ranking criteria at hard: 1 problem, 2 warnings", its first ``shown`` issues (problems first) in the editor's
    time format as ``beatforge check`` prints them, how many more there are)."""
    from beatforge.evaluation.html import criteria_line  # lazy: the report's module loads only when a run needs it

    n, m = counts["criteria_problems"], counts["criteria_warnings"]
    head = (f"ranking criteria at {counts['criteria_level']}: {n} problem{'' if n == 1 else 's'}, "
            f"{m} warning{'' if m == 1 else 's'}")
    lines = [criteria_line(i) for i in counts["criteria_issues"][:shown]]
    return head, lines, n + m - len(lines)


def chart_notes(chart: Any) -> list[str]:
    """The notes a generated chart carries in ``chart.meta.extra`` (a star rating it missed, a timing it could not
    follow ...), as "Label: text" (``NOTE_LABELS``, else the key itself, so a new kind of note shows too); the .osu
    bookkeeping entries (``NOT_NOTES``) are left out."""
    extra = getattr(chart.meta, "extra", None) or {}
    return [f"{NOTE_LABELS.get(k, k)}: {v}" for k, v in extra.items() if k not in NOT_NOTES and str(v).strip()]


# ====================================================================================== generate
def generation_request(v: dict[str, Any], device: str = "auto") -> ManiaRequest:
    """The Generate tab's control values (by name) as a :class:`ManiaRequest`, mapped as ``beatforge generate``
    maps its flags (the controls ``sr`` and ``cfg`` are ``--sr`` and ``--cfg``; an overall MSD is
    ``msd["overall"]``, like ``--msd overall=V``). An optional rating is a checkbox and a slider, as on Mug
    Diffusion's page (a number box cannot be left empty: the browser sends 0). Range checks are the request's, so
    the page and the CLI reject the same values. ``device`` is the page's (``beatforge ui --device``)."""
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
        device=device,
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
    from beatforge.evaluation.report import criteria_counts
    from beatforge.generation.mania import generate_mania
    from beatforge.generation.output import write_set

    if not audio:
        raise BeatforgeError("upload a song first (mp3, ogg, wav, flac ...)")
    song = resolve_song(audio, title=request.title, artist=request.artist)
    charts = generate_mania(song, request, models=_mania_models(request.device), progress=True)
    written = write_set(charts, song, out_dir, previews=True)
    osz = next(p for p in written if p.suffix == ".osz")
    osu = [p for p in written if p.suffix == ".osu"]
    pngs = [p for p in written if p.suffix == ".png"]
    lines, captions = [], []
    for c in charts:
        sr = star_rating(c) if c.n_notes else 0.0
        notes = chart_notes(c)
        criteria, issues, more = criteria_lines(criteria_counts(c, sr))
        lines.append(f"- **{c.meta.version}**: {c.n_notes} notes ({c.n_long} long), {sr:.2f} stars")
        lines += [f"  - {_md_escape(n)}" for n in notes]
        lines.append(f"  - {criteria}")
        lines += [f"    - `{i}`" for i in issues]
        if more > 0:
            lines.append(f"    - ... {more} more (`beatforge check` on the .osu lists them)")
        captions.append(" | ".join([c.meta.version, *notes, criteria, *issues[:1]]))
    bpm = charts[0].main_bpm() if charts else None
    source = "given in Timing" if request.bpm is not None else "detected from the audio"
    head = f"**{song.artist} - {song.title}**" + (f", {bpm:g} BPM ({source})" if bpm else "")
    return GenerationResult(osz, osu, list(zip(pngs, captions)), "\n".join([head, "", *lines]))


# ====================================================================================== chart to prompt
COPY_TIMING_LABEL = "also copy this chart's timing (BPM and offset) - only for the same song"


def _pick_chart(path: str | Path, version: str | None) -> tuple[Any, list[str]]:
    """The chart of ``path`` named ``version`` (default: the one with the most notes) and every name it holds."""
    from beatforge.formats.loader import load_charts  # lazy: only this action runs it

    charts = load_charts(path)
    names = [c.meta.version or f"chart {i + 1}" for i, c in enumerate(charts)]
    chart = charts[names.index(version)] if version in names else max(charts, key=lambda c: c.n_notes)
    return chart, names


def chart_timing(chart: Any) -> dict[str, Any]:
    """The Generate tab's timing controls set to ``chart``'s main tempo (BPM and the time of its first timing point
    at that BPM as the offset); empty when the chart has no timing."""
    bpm = chart.main_bpm()
    if not bpm:
        return {}
    main = [tp for tp in chart.timing if round(tp.bpm, 2) == round(bpm, 2)]
    return {"timing": TIMING_GIVEN, "bpm": round(bpm, 2), "offset": round(main[0].time if main else 0.0, 1)}


def timing_message(values: dict[str, Any], copied: bool) -> str:
    """What the page says about the timing after chart to prompt: copied (and for which song it is right) or not."""
    if copied and values.get("timing") == TIMING_GIVEN:
        return (f"**Timing copied:** the Generate tab now uses this chart's BPM {values['bpm']:g} and offset "
                f"{values['offset']:g} ms instead of detecting them. This is right only for this chart's song: "
                "untick the box (or choose 'detect from the audio') before charting another song.")
    if copied:
        return "**Timing:** this chart has no timing to copy; the Generate tab's timing is left as it is."
    return ("Timing not copied: the Generate tab keeps its own timing (by default detected from each song). Tick "
            "the box to copy this chart's BPM and offset when you chart the same song.")


def chart_prompt(path: str | Path, version: str | None = None, copy_timing: bool = False,
                 keys: Sequence[int] | None = None) -> tuple[Any, dict[str, Any], list[str]]:
    """"Chart to prompt": the chart's report, the Generate tab's control values that ask for a chart like it
    (keys, star rating, overall and skillset MSDs, LN ratio, map type, dominant patterns as "more"), and the
    difficulty names the file holds (an .osz or StepMania file holds several). Values are clipped into the ranges
    generation accepts. Without ``version`` the hardest chart is taken.

    The chart's BPM and offset are a property of its song, not of the prompt: they are among the values only with
    ``copy_timing`` (charting the same song again); otherwise the Generate tab keeps its timing, so the next song
    is still timed from its own audio. ``keys`` are the key counts the model has (default: :func:`model_keys`); a
    chart of another key count leaves the keys control alone."""
    from beatforge.analysis.report import analyze  # lazy: only this action runs it

    chart, names = _pick_chart(path, version)
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
    if report.keys in (model_keys() if keys is None else keys):
        values["keys"] = report.keys
    for s in SKILLSETS:
        values[f"use_{s}_msd"] = True
        values[f"{s}_msd"] = clip(report.skillsets[s], MSD_RANGE)
        values[f"{s}_way"] = "more" if s in report.dominant else "none"
    if copy_timing:
        values.update(chart_timing(chart))
    return report, values, names


def prompt_outputs(path: str | None, chosen: str | None, copy_timing: bool,
                   keys: Sequence[int] | None = None) -> dict[str, Any]:
    """One chart-to-prompt action as values by name: the Generate controls' (see :func:`chart_prompt`) and
    ``report`` (the report and what was filled), ``timing_note``, ``versions`` (the difficulty choices, the
    chosen one) and ``status`` (empty, or the error). Errors are the status's; then nothing else changes."""
    if not path:
        return {"report": "", "timing_note": "", "versions": ([], None), "status": ""}
    try:
        with user_errors("Chart to prompt", [path]):
            from beatforge.analysis.report import format_report  # lazy: only this action runs it

            report, values, names = chart_prompt(path, chosen, copy_timing, keys)
    except gr.Error as err:
        return {"status": error_status(err)}
    note = "" if "keys" in values else (f"\n\n**Note:** the model has no {report.keys}K; the keys control "
                                        "was left as it is.")
    out = dict(values)
    out["report"] = f"```\n{format_report(report)}\n```\nFilled into the Generate tab.{note}"
    out["timing_note"] = timing_message(values, copy_timing)
    out["versions"] = (names, report.version if report.version in names else None)
    out["status"] = ""
    return out


def timing_outputs(path: str | None, chosen: str | None, copy_timing: bool) -> dict[str, Any]:
    """The copy-timing box ticked or unticked after a chart was read: only the timing controls change (the rest of
    the prompt, maybe edited since, stays). Ticked: the chart's BPM and offset; unticked: back to detecting the
    timing from the audio."""
    if not path:
        return {"timing_note": "", "status": ""}
    if not copy_timing:
        return {"timing": TIMING_DETECT, "status": "",
                "timing_note": "Timing not copied: the Generate tab detects the timing from the audio again."}
    try:
        with user_errors("Chart to prompt", [path]):
            values = chart_timing(_pick_chart(path, chosen)[0])
    except gr.Error as err:
        return {"status": error_status(err)}
    return {**values, "timing_note": timing_message(values, True), "status": ""}


# ====================================================================================== remap
def remap_request(style: str | None, guidance: float, steps: int, seed: int | None,
                  device: str = "auto") -> RemapRequest:
    """The Remap tab's controls as a :class:`RemapRequest` (the shipped model; "no style" is the empty choice),
    as ``beatforge remap`` maps its flags; range checks are the request's. ``device`` is the page's."""
    return RemapRequest(style_id=style or None, guidance=float(guidance), steps=int(steps),
                        seed=int(seed or REMAP_DEFAULTS.seed), device=device)


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
    # the shipped DiT stays loaded between remaps; another checkpoint is loaded for its own request
    bm = remap_standard(path, request, model=_remap_model(request.device) if request.model is None else None)
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
    for what in ("problems", "warnings"):
        if f"criteria_{what}" in result:
            pair = [result.get(f"{side}criteria_{what}") for side in ("", "reference_")]
            lines.append(f"| ranking criteria {what} per chart: generated / human | "
                         + " / ".join("-" if x is None else f"{x:.2f}" for x in pair) + " |")
    lines.append(f"\n{len(result.get('charts') or [])} chart(s) compared (means over charts); every figure below "
                 "and in the HTML report.")
    charts = [c for c in result.get("charts") or [] if "criteria_level" in c]
    if charts:
        lines.append("\nThe osu!mania Ranking Criteria (the notes, as `beatforge check`), each chart at its own level:")
    for c in charts[:MAX_CRITERIA_CHARTS]:
        gen, issues, _ = criteria_lines(c)
        ref = criteria_lines({k.removeprefix("reference_"): v for k, v in c.items() if k.startswith("reference_")})[0]
        lines.append(f"- **{_md_escape(str(c.get('version')))}**: {gen}; human "
                     f"[{_md_escape(str(c.get('reference_version')))}] {ref.removeprefix('ranking criteria ')}")
        lines += [f"  - `{i}`" for i in issues[:1]]
    if len(charts) > MAX_CRITERIA_CHARTS:
        lines.append(f"- ... {len(charts) - MAX_CRITERIA_CHARTS} more charts: see the HTML report")
    if result.get("unpaired"):
        lines.append(f"\nNot scored (no reference of their song): {', '.join(map(str, result['unpaired']))}")
    return "\n".join(lines)


# ====================================================================================== the buttons
# Each returns its outputs and, last, the tab's status box: empty on success, the one-line error on failure (the
# other outputs then stay as they were). The page empties the status box as each run starts (clear_status).
def generate_outputs(values: dict[str, Any], device: str = "auto", progress: Any = None) -> tuple:
    """Generate: (gallery items, .osz, .osu files, preview PNG files, summary, status)."""
    audio = values.get("audio")
    try:
        with user_errors("Generate", [audio]):
            if progress is not None:
                progress(0, desc="loading models")
            request = generation_request(values, device=device)
            result = run_generation(audio, request, run_dir("generate"))
    except gr.Error as err:
        return (gr.skip(),) * 5 + (error_status(err),)
    return ([(str(p), cap) for p, cap in result.previews], str(result.osz), [str(p) for p in result.osu],
            [str(p) for p, _ in result.previews], result.summary, "")


def remap_outputs(path: str | None, style_id: str | None, guidance: float, n_steps: int, seed: float | None,
                  device: str = "auto", progress: Any = None) -> tuple:
    """Remap: (the remapped .osu, status)."""
    try:
        with user_errors("Remap", [path]):
            if progress is not None:
                progress(0, desc="remapping")
            request = remap_request(style_id, guidance, n_steps, seed, device=device)
            out = str(remap_file(path, request, run_dir("remap")))
    except gr.Error as err:
        return gr.skip(), error_status(err)
    return out, ""


def evaluate_outputs(generated: list[str] | None, reference: list[str] | None, audio: list[str] | None,
                     progress: Any = None) -> tuple:
    """Evaluate: (metrics, plot images, HTML report .zip, every figure, status)."""
    try:
        with user_errors("Evaluate", [*(generated or []), *(reference or []), *(audio or [])]):
            if progress is not None:
                progress(0, desc="evaluating")
            result, pngs, archive = run_evaluation(generated, reference, audio, run_dir("evaluate"))
    except gr.Error as err:
        return (gr.skip(),) * 4 + (error_status(err),)
    return _metrics_markdown(result), [str(p) for p in pngs], str(archive) if archive else None, result, ""


def _status_box(elem_id: str) -> Any:
    """A tab's status box: the last run's error, emptied when the next run starts."""
    return gr.Markdown(elem_id=elem_id, elem_classes=["bf-status"])


def _on_run(button: Any, status: Any, fn: Any, inputs: Any, outputs: list[Any], api_name: str) -> None:
    """``button`` empties ``status`` at once (not queued behind a running job), then runs ``fn`` into ``outputs``
    and ``status``; the progress shows over the first output (not over the status box, which stays empty)."""
    button.click(clear_status, outputs=[status], queue=False, show_progress="hidden", api_name=False).then(
        fn, inputs=inputs, outputs=[*outputs, status], concurrency_id="cpu", concurrency_limit=1, api_name=api_name,
        show_progress_on=[outputs[0]])


# ====================================================================================== the page
def _generate_tab(controls: dict[str, Any], panels: dict[str, Any], keys: list[int], device: str) -> None:
    """Mug Diffusion's generation controls; ``controls`` gets every input by name and ``panels`` the folding
    sections (chart to prompt fills the one and opens the other)."""
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
            status = _status_box("generate_status")
        with gr.Column(scale=1):
            summary = gr.Markdown(elem_id="summary")
            # one preview a row, whole (contain); a click opens it large, with full-screen and download buttons
            previews = gr.Gallery(label="Previews (click one to enlarge it)", columns=1, height="auto",
                                  object_fit="contain", allow_preview=True, buttons=["fullscreen", "download"],
                                  elem_id="previews")
            osz = gr.File(label="Download .osz (charts + audio)", elem_id="osz", interactive=False)
            osu = gr.File(label=".osu files", file_count="multiple", elem_id="osu_files", interactive=False)
            pngs = gr.File(label="Preview images (PNG, full size)", file_count="multiple", elem_id="preview_files",
                           interactive=False)

    inputs = {c for c in controls.values()}
    names = {c: n for n, c in controls.items()}

    def on_generate(data: dict, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        return generate_outputs({names[c]: v for c, v in data.items()}, device, progress)

    _on_run(button, status, on_generate, inputs, [previews, osz, osu, pngs, summary], "generate")


def _prompt_tab(controls: dict[str, Any], panels: dict[str, Any], keys: list[int]) -> None:
    """Upload a chart of any supported game; its features go into the Generate tab's controls (its timing only
    when asked)."""
    gr.Markdown("Upload a chart (.osu, .osz, .qua, .qp, .sm, .ssc, Frets on Fire notes.mid, tui .json): its "
                "measured features (star rating, MSDs, LN ratio, map type, keys) are filled into the **Generate** "
                "tab's controls. Its BPM and offset belong to its song: they are copied only if you tick the box.")
    with gr.Row():
        with gr.Column(scale=1):
            chart = gr.File(label="Chart", file_types=CHART_FILE_TYPES, elem_id="prompt_chart")
            version = gr.Dropdown([], label="Difficulty", info="for files holding several charts; default: hardest",
                                  elem_id="prompt_version", interactive=True)
            copy_timing = gr.Checkbox(False, label=COPY_TIMING_LABEL, elem_id="prompt_copy_timing")
            timing_note = gr.Markdown(elem_id="prompt_timing_note")
            status = _status_box("prompt_status")
        with gr.Column(scale=1):
            report_md = gr.Markdown(elem_id="prompt_report")
    fill = [c for n, c in controls.items() if n not in ("audio", "title", "artist")]
    timing = [controls[n] for n in ("timing", "bpm", "offset")]
    by_name = {**controls, "report": report_md, "timing_note": timing_note, "status": status}

    def updates(values: dict[str, Any]) -> dict:
        out: dict = {by_name[n]: v for n, v in values.items() if n in by_name}
        if "versions" in values:
            names, chosen = values["versions"]
            out[version] = gr.Dropdown(choices=names, value=chosen)
        return out

    def on_chart(path: str | None, chosen: str | None, copy: bool) -> dict:
        out = updates(prompt_outputs(path, chosen, copy, keys))
        if path and by_name["sr"] in out:  # filled in: show where
            out.update({p: gr.Accordion(open=True) for p in panels.values()})
        return out

    def on_copy_timing(path: str | None, chosen: str | None, copy: bool) -> dict:
        out = updates(timing_outputs(path, chosen, copy))
        if path and copy and controls["timing"] in out:
            out[panels["timing"]] = gr.Accordion(open=True)
        return out

    outputs = [report_md, version, timing_note, status, *fill, *panels.values()]
    for event, api in ((chart.upload, "chart_to_prompt"), (chart.clear, False), (version.input, False)):
        event(clear_status, outputs=[status], queue=False, show_progress="hidden", api_name=False).then(
            on_chart, inputs=[chart, version, copy_timing], outputs=outputs, api_name=api,
            show_progress_on=[report_md])
    copy_timing.input(on_copy_timing, inputs=[chart, version, copy_timing],
                      outputs=[timing_note, status, *timing, panels["timing"]], api_name=False,
                      show_progress_on=[timing_note])


def _remap_tab(device: str) -> None:
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
            status = _status_box("remap_status")
        with gr.Column(scale=1):
            result = gr.File(label="Remapped .osu", elem_id="remap_result", interactive=False)

    def on_remap(path: str | None, style_id: str | None, guidance: float, n_steps: int, seed_: float | None,
                 progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
        return remap_outputs(path, style_id, guidance, n_steps, seed_, device, progress)

    _on_run(button, status, on_remap, [beatmap, style, cfg, steps, seed], [result], "remap")


def _evaluate_tab() -> None:
    """Generated vs reference charts: rhythm F1, star-rating error, plots and an HTML report."""
    gr.Markdown("Upload generated charts and the human (reference) charts of the same songs: rhythm F1 at 10 and "
                "50 ms, star-rating error, the Ranking Criteria's problems and warnings of both, plots, and an HTML "
                "report.")
    with gr.Row():
        with gr.Column(scale=1):
            gen = gr.File(label="Generated charts", file_count="multiple", file_types=CHART_FILE_TYPES,
                          elem_id="eval_generated")
            ref = gr.File(label="Reference charts", file_count="multiple", file_types=CHART_FILE_TYPES,
                          elem_id="eval_reference")
            audio = gr.File(label="Audio (optional: for charts uploaded without their song)",
                            file_count="multiple", elem_id="eval_audio")
            button = gr.Button("Evaluate", variant="primary", elem_id="evaluate")
            status = _status_box("eval_status")
        with gr.Column(scale=1):
            metrics = gr.Markdown(elem_id="eval_metrics")
            # whole plots (contain, not gradio's square crop); a click opens one large, full screen from there
            plots = gr.Gallery(label="Plots (click one to enlarge it)", columns=1, height="auto",
                               object_fit="contain", allow_preview=True, buttons=["fullscreen", "download"],
                               elem_id="eval_plots")
            html = gr.File(label="HTML report (.zip: index.html and its images)", elem_id="eval_report",
                           interactive=False)
            details = gr.JSON(label="All figures", elem_id="eval_json")

    def on_evaluate(generated: list[str] | None, reference: list[str] | None, audio_paths: list[str] | None,
                    progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
        return evaluate_outputs(generated, reference, audio_paths, progress)

    _on_run(button, status, on_evaluate, [gen, ref, audio], [metrics, plots, html, details], "evaluate")


def build_app(device: str = "auto") -> gr.Blocks:
    """The whole page, its networks on ``device`` (``auto``, ``cpu``, ``cuda``, ``mps``). The generation models
    load when the page is built (for the key choices) and stay loaded, so a missing model only disables what needs
    it."""
    if device not in DEVICES:
        raise BeatforgeError(f"--device {device}: must be one of {', '.join(DEVICES)}")
    controls: dict[str, Any] = {}
    panels: dict[str, Any] = {}
    keys = model_keys(device)
    with gr.Blocks(title="beatforge", analytics_enabled=False, delete_cache=(3600, KEEP_S)) as app:
        gr.Markdown(f"# beatforge {__version__}\nosu!mania charts from songs with diffusion models, osu!standard "
                    "remapping and chart evaluation, on this machine.")
        with gr.Tabs():
            with gr.Tab("Generate", id="generate_tab"):
                _generate_tab(controls, panels, keys, device)
            with gr.Tab("Chart to prompt", id="prompt_tab"):
                _prompt_tab(controls, panels, keys)
            with gr.Tab("Remap osu!standard", id="remap_tab"):
                _remap_tab(device)
            with gr.Tab("Evaluate", id="evaluate_tab"):
                _evaluate_tab()
    return app


def launch_kwargs(host: str, port: int) -> dict[str, Any]:
    """``Blocks.launch`` arguments: local only (no share link, no server-side rendering that needs node), quiet
    about gradio's own links, uploads capped well above a 20-minute WAV, the page's CSS."""
    kw: dict[str, Any] = {"server_name": host, "server_port": port, "share": False, "ssr_mode": False,
                          "max_file_size": "1gb", "footer_links": [], "show_error": False, "css": PAGE_CSS}
    accepted = inspect.signature(gr.Blocks.launch).parameters
    return {k: v for k, v in kw.items() if k in accepted}


def launch(host: str = "127.0.0.1", port: int = 7860, device: str = "auto") -> None:
    """Serve the page until Ctrl+C, its networks on ``device``. gradio's own start-up lines are silenced: they
    advertise a share link this command does not offer. The thread policy is applied before torch loads
    (:func:`beatforge.runtime.configure_threads`), and a device that is asked for and missing stops the start with
    one line. The page's temp folders are removed when it stops."""
    runtime.configure_threads()  # before torch is imported (the models load while the page is built)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's start-up self-checks, one line per request
    where = runtime.resolve_device(device)  # --device cuda without a GPU: an error now, not at the first click
    _register_cleanup()
    app = build_app(device)
    app.queue(default_concurrency_limit=1)
    try:
        _, url, _ = app.launch(**launch_kwargs(host, port), prevent_thread_lock=True, quiet=True)
        print(f"beatforge ui: serving on {url}, networks on {where} (Ctrl+C stops it)", flush=True)
        app.block_thread()
    finally:
        app.close(verbose=False)
        cleanup_runs()


__all__ = ["build_app", "launch", "generation_request", "run_generation", "chart_prompt", "remap_request",
           "remap_file", "run_evaluation", "user_errors", "run_dir", "cleanup_runs", "generate_outputs",
           "prompt_outputs", "timing_outputs", "remap_outputs", "evaluate_outputs", "clear_status"]
