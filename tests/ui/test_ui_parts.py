"""``beatforge ui`` without a browser: the command line (no share link, gradio imported only by ``ui``, a busy
port is one error line), and how the page's controls map onto ``generate_mania``'s arguments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from beatforge.cli import build_parser
from beatforge.errors import BeatforgeError

BIN = Path(sys.executable).parent


def test_ui_flags_and_no_share() -> None:
    args = build_parser().parse_args(["ui", "--host", "0.0.0.0", "--port", "8000"])
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert build_parser().parse_args(["ui"]).port == 7860
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ui", "--share"])


def test_cli_does_not_import_gradio() -> None:
    code = "import sys, beatforge.cli as c; c.build_parser(); assert 'gradio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow
def test_busy_port_is_one_error_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([str(BIN / "beatforge"), "ui", "--port", str(port)], capture_output=True, text=True,
                              timeout=180, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert proc.returncode == 2
    assert f"beatforge: error: cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def _controls(**over) -> dict:
    from beatforge.constants import SKILLSETS
    from beatforge.ui.app import TIMING_DETECT

    v = {"keys": 4, "sr": 3.5, "count": 2, "steps": 10, "cfg": 5.0, "seed": -1, "use_overall": False, "overall": 20,
         "use_ln_ratio": False, "ln_ratio": 0.2, "map_type": "any", "timing": TIMING_DETECT, "bpm": 120, "offset": 0,
         "min_jack_ms": 90, "snap": True, "title": "", "artist": " "}
    for s in SKILLSETS:
        v.update({f"{s}_way": "none", f"use_{s}_msd": False, f"{s}_msd": 20})
    return {**v, **over}


def test_controls_map_onto_the_request_like_the_cli() -> None:
    from beatforge.generation.request import ManiaRequest
    from beatforge.ui.app import TIMING_GIVEN, generation_request

    r = generation_request(_controls())
    assert isinstance(r, ManiaRequest)
    assert r.star_ratings == (3.5,) and r.count == 2 and r.seed is None and r.guidance == 5.0
    assert r.msd == {} and r.patterns == {} and r.ln_ratio is None and r.map_type is None
    assert r.style is None
    assert r.bpm is None and r.offset is None and r.title is None and r.artist is None
    r = generation_request(_controls(use_overall=True, overall=24, jumpstream_way="more", jackspeed_way="less",
                                     use_stream_msd=True, stream_msd=21.5, use_ln_ratio=True, ln_ratio=0.3,
                                     map_type="hybrid", style="loved", timing=TIMING_GIVEN, bpm=174, offset=35,
                                     seed=7))
    assert r.style == "loved"
    assert r.msd == {"overall": 24.0, "stream": 21.5}  # as `--msd overall=24 --msd stream=21.5`
    assert r.patterns == {"jumpstream": "more", "jackspeed": "less"}
    assert (r.ln_ratio, r.map_type, r.bpm, r.offset, r.seed) == (0.3, "hybrid", 174, 35, 7)
    with pytest.raises(BeatforgeError, match="BPM"):
        generation_request(_controls(timing=TIMING_GIVEN, bpm=0))
    with pytest.raises(BeatforgeError, match="--sr 9"):  # the request's own range check, as the CLI's
        generation_request(_controls(sr=9.0))


def test_the_cli_builds_the_same_request() -> None:
    import argparse

    from beatforge.cli import _add_generate, mania_request_from_args
    from beatforge.ui.app import generation_request

    parser = argparse.ArgumentParser()
    _add_generate(parser.add_subparsers())
    args = parser.parse_args(["generate", "song.mp3", "-o", "out", "--sr", "3.5", "--count", "2", "--steps", "10"])
    assert mania_request_from_args(args) == generation_request(_controls())


def test_errors_become_one_line_messages_with_short_paths(tmp_path) -> None:
    import gradio as gr

    from beatforge.ui.app import user_errors

    upload = tmp_path / "abc123" / "my song.mp3"
    with pytest.raises(gr.Error) as err, user_errors("Generate", [upload]):
        raise BeatforgeError(f"{upload}: the file is empty (0 bytes)")
    assert err.value.message == "my song.mp3: the file is empty (0 bytes)"
    with pytest.raises(gr.Error) as err, user_errors("Generate"):
        raise ValueError("boom\nsecond line")
    assert err.value.message == "unexpected ValueError: boom"
