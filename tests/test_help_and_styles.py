"""What a new user reads first: ``python main.py --help`` / ``beatforge train --help`` (the command's own name, every
flag explained with its default, no reStructuredText backticks, which argparse prints as they are) and
``beatforge styles`` (a name, or a reason, for every style)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from beatforge.checkpoints import DEFAULT_STANDARD_MODEL, NO_STYLE_NAME, list_styles
from beatforge.cli import main
from beatforge.training.run import add_train_arguments
from tests.conftest import REPO


def test_main_py_help_names_main_py_and_has_no_backticks() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: main.py ") and "beatforge train [" not in proc.stdout
    assert "`" not in proc.stdout
    bad = subprocess.run([sys.executable, str(REPO / "main.py"), "--no-such-flag"], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert bad.returncode == 2 and "main.py: error: unrecognized arguments: --no-such-flag" in bad.stderr


def test_beatforge_train_help(capsys) -> None:
    try:
        main(["train", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: beatforge train ") and "`" not in out


def test_every_train_flag_says_what_it_does_and_its_default() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help and "default" in action.help and "`" not in action.help, action.option_strings


def _checkpoint(tmp_path: Path, names: dict | None) -> Path:
    d = tmp_path / "ckpt"
    d.mkdir(parents=True)
    (d / "beatmap_idx.json").write_text(json.dumps({"123": 0, "0123456789abcdef": 1, "456": 2, "789": 3}))
    if names is not None:
        (d / "styles.json").write_text(json.dumps(names))
    return d


def test_styles_without_a_recorded_name_say_so(tmp_path: Path, capsys) -> None:
    # what train.py records for maps whose .osu has no Artist/Title/Version, and for one it had no name for
    d = _checkpoint(tmp_path, {"123": "Artist - Title (Mapper) [Hard]", "0123456789abcdef": " -  () []",
                               "456": "None - None (None) [None]"})
    assert [name for _, _, name in list_styles(d)] == ["Artist - Title (Mapper) [Hard]", NO_STYLE_NAME,
                                                       NO_STYLE_NAME, NO_STYLE_NAME]
    assert main(["styles", "--ckpt", str(d)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1] == f"0123456789abcdef\t1\t{NO_STYLE_NAME}"
    assert "3 of 4 styles have no name recorded" in captured.err
    e = _checkpoint(tmp_path / "no-styles-json", None)
    assert {name for _, _, name in list_styles(e)} == {NO_STYLE_NAME}


def test_the_shipped_model_names_every_style(capsys) -> None:
    styles = list_styles(DEFAULT_STANDARD_MODEL)
    assert len(styles) == 74 and all(name != NO_STYLE_NAME and name.strip(" -()[]") for _, _, name in styles)
    assert main(["styles"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 74 and "no name recorded" not in captured.out + captured.err
