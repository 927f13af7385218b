"""The commands the README and docs/ show are real: every ``beatforge ...`` line in their bash blocks runs and
succeeds (lines that point at a user's own library, ``~/...``, are only parsed)."""

from __future__ import annotations

import os
import re
import shlex

import pytest

from beatforge.cli import build_parser, main
from tests.conftest import DATA, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S):
            for line in block.splitlines():
                line = line.split("  #", 1)[0].strip()
                if line.startswith("beatforge "):
                    found.append((doc.name, line))
    return found


COMMANDS = _commands()


def _values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_docs_have_commands() -> None:
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize("doc,line", COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_documented_command(doc: str, line: str, monkeypatch, capsys) -> None:
    argv = shlex.split(line)[1:]
    if argv[0] == "train":
        from beatforge.training.run import parse_train_args, plan_run

        args, overrides = parse_train_args(argv[1:])
        monkeypatch.chdir(REPO)
        plan_run(args, overrides)  # the configs and overrides load; the training itself is tests/training's job
        return
    build_parser().parse_args(argv)  # every documented flag exists
    if argv[:2] == ["rhythm", "train"]:
        # the recipe trains for minutes: run it for 3 steps into a scratch folder (the flags are the documented ones)
        if not all((REPO / d / "index.jsonl").is_file() for d in _values(argv, "--dataset")):
            pytest.skip("the recipe's dataset is not built here (docs/datasets.md builds it)")
        argv = [*argv, "--steps", "3", "-o", str(REPO / "build" / "docs" / "rhythm")]
    if "~" in line:
        return  # a user's own library: parsed above, not run
    if "../shared/data" in line and not DATA.exists():
        pytest.skip("needs ../shared/data")
    monkeypatch.chdir(REPO)
    os.makedirs(REPO / "build" / "docs", exist_ok=True)
    assert main(argv) == 0, capsys.readouterr().err
