"""The Dockerfile and docs/docker.md, checked without a Docker daemon (CI has none): a CUDA base, the README's
install step, the web page as the default command, and every in-container command of the docs parses with
beatforge's own entry points against the files the image holds."""

from __future__ import annotations

import re
import shlex

import pytest

from beatforge.cli import build_parser
from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
DOC = (REPO / "docs" / "docker.md").read_text(encoding="utf-8")
IMAGE = "mug-diffusion-gpu"


def _docker_commands() -> list[list[str]]:
    """Each `docker run ...` of the doc as argv, continuation lines joined."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", DOC, flags=re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("$ docker run"):
                out.append(shlex.split(line[2:]))
    return out


def test_dockerfile_is_cuda_and_installs_like_the_readme() -> None:
    assert re.search(r"^FROM nvidia/cuda:\S+", DOCKERFILE, flags=re.M)
    run = " ".join(re.findall(r"^RUN (.*)$", DOCKERFILE, flags=re.M))
    assert "make install" in run  # the README's install (Makefile), which CI runs for real
    assert "make install" in (REPO / "README.md").read_text(encoding="utf-8") or "make demo" in (
        REPO / "README.md").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, flags=re.M)
    import json

    argv = json.loads(cmd.group(1))
    assert argv[:2] == ["beatforge", "ui"] and "0.0.0.0" in argv and "7860" in argv
    build_parser().parse_args(argv[1:])  # the default command exists with these flags
    assert "EXPOSE 7860" in DOCKERFILE and "/app/logs" in DOCKERFILE
    assert f"docker build -t {IMAGE} ." in DOC


DOCKER_RUNS = _docker_commands()


def test_doc_shows_the_guides_commands() -> None:
    joined = [" ".join(c) for c in DOCKER_RUNS]
    assert any("python main.py --train -b" in c and "-r models/ckpt/model.ckpt" not in c for c in joined)
    assert any("-r models/ckpt/model.ckpt" in c for c in joined)
    assert any("/app/logs" in c for c in joined)


@pytest.mark.parametrize("argv", DOCKER_RUNS, ids=[" ".join(c[c.index(IMAGE) + 1:])[:50] if IMAGE in c else "page"
                                                    for c in DOCKER_RUNS])
def test_in_container_command_parses(argv: list[str], monkeypatch) -> None:
    assert IMAGE in argv
    inner = argv[argv.index(IMAGE) + 1:]
    if not inner:
        return  # the default command, checked above
    monkeypatch.chdir(REPO)  # the image's WORKDIR is the repository (/app)
    if inner[:2] == ["python", "main.py"]:
        from beatforge.training.run import parse_train_args, plan_run

        # the user's own configs stand in as the file they copy: mug_diffusion.yaml for a new model (the guide's),
        # small.yaml for a fine-tune of the shipped model (a copy of mug_diffusion.yaml would not fit its weights)
        copied = "configs/mug/small.yaml" if "-r" in inner else "configs/mug/mug_diffusion.yaml"
        inner = [(copied if a.startswith("configs/") and not (REPO / a).is_file() else a) for a in inner]
        args, overrides = parse_train_args(inner[2:])
        assert args.train
        plan_run(args, overrides)
        if "-r" in inner:
            assert (REPO / inner[inner.index("-r") + 1]).is_file()  # the shipped model the guide fine-tunes
    elif inner[0] == "torchrun":
        from beatforge.training.standard import build_parser as train_parser

        script = next(i for i, a in enumerate(inner) if a.endswith(".py"))
        assert (REPO / inner[script]).is_file()
        train_parser().parse_args(inner[script + 1:])
    else:
        assert inner[0] == "beatforge"
        build_parser().parse_args(inner[1:])
