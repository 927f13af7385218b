"""The page's handlers without a browser: chart to prompt leaves the timing alone unless asked, each run's status
box is emptied when it starts and on success, the run folders are cleaned up (and only those), the page's device
reaches the requests and the model cache, and a generated chart's notes (``chart.meta.extra``) are shown."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from beatforge.errors import BeatforgeError

gr = pytest.importorskip("gradio", reason="the web page needs gradio (pip install -e .)")
app = pytest.importorskip("beatforge.ui.app")


def _controls(**over) -> dict:
    from beatforge.constants import SKILLSETS

    v = {"keys": 4, "sr": 3.5, "count": 2, "steps": 10, "cfg": 5.0, "seed": -1, "use_overall": False, "overall": 20,
         "use_ln_ratio": False, "ln_ratio": 0.2, "map_type": "any", "timing": app.TIMING_DETECT, "bpm": 120,
         "offset": 0, "min_jack_ms": 90, "snap": True, "title": "", "artist": " "}
    for s in SKILLSETS:
        v.update({f"{s}_way": "none", f"use_{s}_msd": False, f"{s}_msd": 20})
    return {**v, **over}


def _chart(timing_ms: float = 1000.0, beat_ms: float = 500.0, extra: dict | None = None):
    """A small 4K chart: taps every 1/2 beat at 120 BPM from 1 s, every fifth a long note."""
    from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint

    starts = np.arange(1000.0, 21000.0, 250.0)
    idx = np.arange(len(starts))
    ends = np.where(idx % 5 == 0, starts + 180.0, np.nan)
    return ManiaChart(4, starts, ends, idx % 4, timing=[TimingPoint(timing_ms, beat_ms, 4)],
                      meta=ChartMeta(title="prompt test", artist="synthetic", version="Test", extra=extra or {}))


@pytest.fixture(scope="module")
def mania_osu(tmp_path_factory) -> Path:
    from beatforge.formats.export import osu_texts

    path = tmp_path_factory.mktemp("prompt") / "prompt.osu"
    path.write_text(next(iter(osu_texts([_chart()], "audio.mp3").values())), encoding="utf-8")
    return path


def _apply(controls: dict, values: dict) -> dict:
    """What the page does with chart to prompt's values: the named Generate controls take them."""
    return {**controls, **{k: v for k, v in values.items() if k in controls}}


# ------------------------------------------------------------------------------------------ 1. chart to prompt
def test_chart_to_prompt_copies_the_prompt_not_the_timing(mania_osu) -> None:
    out = app.prompt_outputs(str(mania_osu), None, False, keys=[4, 7])
    assert out["status"] == "" and "star rating" in out["report"]
    assert not {"timing", "bpm", "offset"} & out.keys()
    assert "not copied" in out["timing_note"]
    assert out["use_ln_ratio"] and out["keys"] == 4
    request = app.generation_request(_apply(_controls(), out))
    assert request.bpm is None and request.offset is None  # the next song is timed from its own audio
    assert request.ln_ratio == out["ln_ratio"] and request.star_ratings == (out["sr"],)

    # a timing the user set themselves stays as it was
    mine = _apply(_controls(timing=app.TIMING_GIVEN, bpm=170, offset=12), out)
    assert (app.generation_request(mine).bpm, app.generation_request(mine).offset) == (170, 12)


def test_chart_to_prompt_copies_the_timing_when_asked_and_says_so(mania_osu) -> None:
    out = app.prompt_outputs(str(mania_osu), None, True, keys=[4])
    assert (out["timing"], out["bpm"], out["offset"]) == (app.TIMING_GIVEN, 120.0, 1000.0)
    assert "Timing copied" in out["timing_note"] and "120" in out["timing_note"]
    request = app.generation_request(_apply(_controls(), out))
    assert (request.bpm, request.offset) == (120.0, 1000.0)

    # the box ticked after the chart was read: only the timing controls change; unticked: back to detection
    ticked = app.timing_outputs(str(mania_osu), None, True)
    assert (ticked["timing"], ticked["bpm"], ticked["offset"]) == (app.TIMING_GIVEN, 120.0, 1000.0)
    assert "sr" not in ticked and ticked["status"] == "" and "Timing copied" in ticked["timing_note"]
    unticked = app.timing_outputs(str(mania_osu), None, False)
    assert unticked["timing"] == app.TIMING_DETECT and set(unticked) == {"timing", "timing_note", "status"}
    assert app.generation_request(_apply(_apply(_controls(), out), unticked)).bpm is None


def test_the_copy_timing_box_is_off_by_default() -> None:
    assert "only for the same song" in app.COPY_TIMING_LABEL
    import inspect

    assert inspect.signature(app.chart_prompt).parameters["copy_timing"].default is False


# ------------------------------------------------------------------------------------------ 3. status box
def test_each_run_clears_the_status_box(monkeypatch, tmp_path, mania_osu) -> None:
    monkeypatch.setattr(app, "run_dir", lambda kind: tmp_path)
    assert app.clear_status() == ""  # what a run puts in the status box when it starts

    # Generate: an error goes into the status box (the outputs stay); a success empties it
    *kept, status = app.generate_outputs(_controls(audio=None))
    assert "upload a song first" in status and "Generate" in status
    assert all(k == gr.skip() for k in kept)
    png, osz, osu = tmp_path / "a.png", tmp_path / "a.osz", tmp_path / "a.osu"
    monkeypatch.setattr(app, "run_generation", lambda audio, request, out: app.GenerationResult(
        osz, [osu], [(png, "AI v1")], "summary"))
    gallery, osz_out, osu_out, pngs, summary, status = app.generate_outputs(_controls(audio="song.wav"))
    assert status == "" and gallery == [(str(png), "AI v1")] and pngs == [str(png)] and summary == "summary"

    # Remap
    result, status = app.remap_outputs(None, "", 5.0, 3, 0)
    assert "upload an osu!standard" in status and result == gr.skip()
    monkeypatch.setattr(app, "remap_file", lambda path, request, out: tmp_path / "r.osu")
    assert app.remap_outputs("x.osu", "", 5.0, 3, 0) == (str(tmp_path / "r.osu"), "")

    # Evaluate
    *kept, status = app.evaluate_outputs(None, None, None)
    assert "upload generated charts" in status and all(k == gr.skip() for k in kept)
    monkeypatch.setattr(app, "run_evaluation", lambda g, r, a, out: ({"rhythm_f1_10ms": 1.0}, [png], None))
    *_, status = app.evaluate_outputs(["g.osu"], ["r.osu"], None)
    assert status == ""

    # Chart to prompt: a corrupt chart's error, then a good chart empties it
    bad = tmp_path / "corrupt.osu"
    bad.write_bytes(b"\x00\x01\x02garbage" * 40)
    out = app.prompt_outputs(str(bad), None, False, keys=[4])
    assert set(out) == {"status"} and "corrupt.osu" in out["status"] and str(tmp_path) not in out["status"]
    assert app.prompt_outputs(str(mania_osu), None, False, keys=[4])["status"] == ""


def test_error_status_escapes_markdown() -> None:
    text = app.error_status(gr.Error("my_song*.mp3: empty", title="Generate: error"))
    assert text == "**Generate: error**: my\\_song\\*.mp3: empty"


def test_the_page_empties_the_status_box_when_a_run_starts(monkeypatch) -> None:
    """Every button's click first runs clear_status into its tab's status box (unqueued), then the run, whose
    outputs end with the same box."""
    monkeypatch.setattr(app, "model_keys", lambda device="auto": [4, 7])
    monkeypatch.setattr(app, "standard_styles", lambda: [(app.NO_STYLE, "")])
    page = app.build_app("cpu")
    deps = list(page.fns.values())
    ids = {b._id: getattr(b, "elem_id", None) for b in page.blocks.values()}
    for button, status in (("generate", "generate_status"), ("remap", "remap_status"),
                           ("evaluate", "eval_status")):
        first = [d for d in deps if any(ids.get(t[0]) == button for t in d.targets)]
        assert len(first) == 1 and first[0].fn is app.clear_status and not first[0].queue
        assert [ids[o._id] for o in first[0].outputs] == [status]
        then = [d for d in deps if d.trigger_after == first[0]._id]
        assert len(then) == 1 and ids[then[0].outputs[-1]._id] == status


# ------------------------------------------------------------------------------------------ 4. run folders
@pytest.fixture
def temp_root(monkeypatch, tmp_path):
    """The page's run folders under a private temp folder; the module's bookkeeping restored afterwards."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(app, "_private_root", None)
    monkeypatch.setattr(app, "_made", set())
    return tmp_path


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_old_run_folders_go_at_the_next_run_and_only_those(temp_root) -> None:
    root = app._work_root()
    assert root.parent == temp_root / "tmp" and root.name.startswith("beatforge-ui")
    outside = temp_root / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the page's")

    old = root / f"{app.RUN_PREFIX}generate-old"
    old.mkdir()
    (old / "chart.osu").write_text("x")
    (old / "escape").symlink_to(outside, target_is_directory=True)  # a link inside: removed as a link only
    _age(old, app.KEEP_S + 60)
    fresh = root / f"{app.RUN_PREFIX}generate-fresh"
    fresh.mkdir()
    _age(fresh, app.KEEP_S - 600)
    foreign = root / "someone-elses-folder"  # not the page's name: never touched
    foreign.mkdir()
    _age(foreign, app.KEEP_S * 10)
    link = root / f"{app.RUN_PREFIX}evaluate-link"  # a symlink with the page's name: not followed, not removed
    link.symlink_to(outside, target_is_directory=True)
    _age(link, app.KEEP_S * 10)

    new = app.run_dir("generate")
    assert new.parent == root and new.name.startswith(f"{app.RUN_PREFIX}generate-") and new.is_dir()
    assert not old.exists()
    assert fresh.is_dir() and foreign.is_dir() and link.is_symlink()
    assert (outside / "keep.txt").read_text() == "not the page's"

    # shutdown: this process's folders go (and old ones); others' fresh folders stay
    app.cleanup_runs()
    assert not new.exists()
    assert fresh.is_dir() and foreign.is_dir() and link.is_symlink() and (outside / "keep.txt").exists()


def test_a_planted_root_is_not_used(temp_root) -> None:
    target = temp_root / "victim"
    target.mkdir()
    planted = temp_root / "tmp" / f"beatforge-ui-{os.getuid()}"
    planted.symlink_to(target, target_is_directory=True)
    root = app._work_root()
    assert root != planted and root.is_dir() and not root.is_symlink()
    run = app.run_dir("remap")
    assert run.parent == root and not any(target.iterdir())
    app.cleanup_runs()
    assert not root.exists() and target.is_dir()


def test_shutdown_cleanup_is_registered(temp_root) -> None:
    app.run_dir("generate")
    assert app._cleanup_registered


# ------------------------------------------------------------------------------------------ 5. device
def test_the_page_device_reaches_the_requests_and_the_model_cache(monkeypatch) -> None:
    assert app.generation_request(_controls()).device == "auto"
    assert app.generation_request(_controls(), device="cpu").device == "cpu"
    assert app.remap_request("", 5.0, 10, 0, device="cuda").device == "cuda"

    seen = []

    def generation(audio, request, out):
        seen.append(request.device)
        raise BeatforgeError("stop")

    monkeypatch.setattr(app, "run_generation", generation)
    monkeypatch.setattr(app, "run_dir", lambda kind: Path("."))
    app.generate_outputs(_controls(audio="song.wav"), device="cpu")
    monkeypatch.setattr(app, "remap_file", lambda path, request, out: seen.append(request.device) or Path("r.osu"))
    app.remap_outputs("x.osu", "", 5.0, 3, 0, device="mps")
    assert seen == ["cpu", "mps"]

    from beatforge.generation import mania

    loads = []
    monkeypatch.setattr(mania.ManiaModels, "load", classmethod(lambda cls, request=None: loads.append(
        request.device) or object()))
    app._mania_models.cache_clear()
    try:
        a, b, c = app._mania_models("cpu"), app._mania_models("cpu"), app._mania_models("cuda")
        assert a is b and a is not c and loads == ["cpu", "cuda"]  # once per device
    finally:
        app._mania_models.cache_clear()


def test_ui_device_flag_reaches_launch(monkeypatch) -> None:
    from beatforge.cli import _cmd_ui, build_parser

    assert build_parser().parse_args(["ui"]).device == "auto"
    args = build_parser().parse_args(["ui", "--device", "cpu", "--port", "8001"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ui", "--device", "tpu"])
    called = {}
    monkeypatch.setattr(app, "launch", lambda host, port, device="auto": called.update(host=host, port=port,
                                                                                       device=device))
    assert _cmd_ui(args) == 0
    assert called == {"host": "127.0.0.1", "port": 8001, "device": "cpu"}
    with pytest.raises(BeatforgeError, match="--device"):
        app.build_app("tpu")


@pytest.mark.slow
def test_launch_sets_the_thread_policy_before_torch() -> None:
    code = """
import sys
import beatforge.runtime as rt
import beatforge.ui.app as app
seen = []
original = rt.configure_threads
rt.configure_threads = lambda *a, **k: seen.append("torch" in sys.modules) or original(*a, **k)
class Stop(Exception):
    pass
def stop(device):
    raise Stop(device)
app.build_app = stop
try:
    app.launch(device="cpu")
except Stop as exc:
    assert exc.args == ("cpu",), exc.args
assert seen == [False], seen
import os
assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
"""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=env)


# ------------------------------------------------------------------------------------------ 6. chart notes
def test_generated_charts_show_their_notes(monkeypatch, tmp_path) -> None:
    from beatforge.analysis import star_rating as sr_module
    from beatforge.generation import mania, output

    # the star-rating note's key is generation's own (where this checkout has it yet)
    miss_key = getattr(output, "STAR_RATING_MISS", "StarRatingMiss")
    assert miss_key in app.NOTE_LABELS
    chart = _chart(extra={"AIPrompt": "sr=3.5, keys=4", "Timing": "the onsets follow no single tempo",
                          miss_key: "asked 6.00: the song has too few onsets", "SomethingNew": "a new note"})
    chart.meta.version = "AI v1 4K 4.10*"
    assert app.chart_notes(chart) == ["Timing: the onsets follow no single tempo",
                                      "Star rating missed: asked 6.00: the song has too few onsets",
                                      "SomethingNew: a new note"]

    class Song:
        title, artist = "t", "a"

    monkeypatch.setattr(app, "resolve_song", lambda audio, title=None, artist=None: Song())
    monkeypatch.setattr(app, "_mania_models", lambda device="auto": None)
    monkeypatch.setattr(mania, "generate_mania", lambda song, request, models=None, progress=False: [chart])
    monkeypatch.setattr(output, "write_set", lambda charts, song, out, previews=True: [
        tmp_path / "s.osz", tmp_path / "c.osu", tmp_path / "c.png"])
    monkeypatch.setattr(sr_module, "star_rating", lambda c: 4.1)
    result = app.run_generation("song.wav", app.generation_request(_controls()), tmp_path)
    (png, caption), = result.previews
    assert "Timing: the onsets follow no single tempo" in caption and "Star rating missed: asked 6.00" in caption
    assert "Star rating missed: asked 6.00: the song has too few onsets" in result.summary
    assert "SomethingNew: a new note" in result.summary and "AIPrompt" not in result.summary
    assert "120 BPM (detected from the audio)" in result.summary


# ------------------------------------------------------------------------------------------ 7. ranking criteria
@pytest.fixture(autouse=True)
def _report_loaded_before_patches() -> None:
    """run_generation imports beatforge.evaluation.report (and the Ranking Criteria modules) lazily: imported first
    inside a test that patches ``star_rating``, they would bind the stand-in for good and every later test of the
    session would get it; imported here, they hold the real one."""
    import beatforge.evaluation.report  # noqa: F401


def test_generated_charts_show_their_ranking_criteria(monkeypatch, tmp_path) -> None:
    """Each generated chart's summary line and caption say "ranking criteria at <level>: N problems, M warnings"
    (check_chart's counts, at the level of its star rating) and list its first issues in the editor's time."""
    from beatforge.analysis import star_rating as sr_module
    from beatforge.analysis.ranking_criteria import check_chart
    from beatforge.charts.chart import ManiaChart
    from beatforge.generation import mania, output

    clean = _chart()
    clean.meta.version = "AI v1 4K 4.10*"
    base = _chart()
    at = int(np.flatnonzero(base.starts == 3000.0)[0])  # a tap (not a long note's head): a second note on it
    broken = ManiaChart(4, np.insert(base.starts, at, base.starts[at]), np.insert(base.ends, at, np.nan),
                        np.insert(base.columns, at, base.columns[at]), timing=base.timing, meta=base.meta)
    broken.meta.version = "AI v2 4K 4.10*"

    class Song:
        title, artist = "t", "a"

    monkeypatch.setattr(app, "resolve_song", lambda audio, title=None, artist=None: Song())
    monkeypatch.setattr(app, "_mania_models", lambda device="auto": None)
    monkeypatch.setattr(mania, "generate_mania", lambda song, request, models=None, progress=False: [clean, broken])
    monkeypatch.setattr(output, "write_set", lambda charts, song, out, previews=True: [
        tmp_path / "s.osz", tmp_path / "a.osu", tmp_path / "b.osu", tmp_path / "a.png", tmp_path / "b.png"])
    monkeypatch.setattr(sr_module, "star_rating", lambda c: 4.1)  # Insane's band (4.0-5.29)
    result = app.run_generation("song.wav", app.generation_request(_controls()), tmp_path)

    def criteria(chart) -> tuple[str, int]:
        issues = check_chart(chart, "insane")
        n, m = sum(i.severity == "problem" for i in issues), sum(i.severity == "warning" for i in issues)
        return f"ranking criteria at insane: {n} problem{'' if n == 1 else 's'}, {m} warning{'' if m == 1 else 's'}", n

    (_, clean_caption), (_, broken_caption) = result.previews
    (clean_line, clean_n), (broken_line, broken_n) = criteria(clean), criteria(broken)
    assert broken_n == clean_n + 1  # the note on another: Auto cannot reach 1,000,000
    assert f"  - {clean_line}\n" in result.summary and clean_line in clean_caption
    assert f"  - {broken_line}\n" in result.summary and broken_line in broken_caption
    # its first problem, as `beatforge check` prints it: the editor's time (which osu!'s editor jumps to) first
    assert "`problem 00:03:000 (3000|0,3000|0) - two notes at once in column 0" in result.summary
    assert "problem 00:03:000 (3000|0,3000|0)" in broken_caption
