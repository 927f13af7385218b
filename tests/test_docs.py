"""The commands and code that README.md and docs/ show are real: each one is run here, or by CI.

A reader copies these lines into a terminal, so a renamed flag, a config that no longer loads or an example that
raises is a bug in the docs. Every line of every ```bash block is one of the kinds below, each checked as closely
as a test can afford (a line of any other kind fails, so a new kind of command gets a check before it is shown):

* ``beatforge ...``: parsed, then run (``beatforge train`` is planned, as ``python main.py``);
* ``python main.py ...`` (Mug Diffusion's guide): parsed and planned (configs load, ``-r`` decides resume or
  fine-tune); a fine-tune also builds the model and loads the model file's weights, so a config that does not fit
  the model fails here, not after a user has started a run;
* ``python train.py`` / ``torchrun ... train.py``, ``python sample.py``, ``python generate_beatmap_idx.py``
  (osu-diffusion's guide): run for real on a tiny scale (2 steps of the tiny ``DiT-T``, 2 sampling steps). A dataset
  or checkpoint the line names that is not here (``datasets/standard`` in CI, the guide's ``results/...``) is
  replaced by a stand-in the module builds from ``../shared/data/standard`` in seconds;
* ``make TARGET``: the target exists (``make test`` is what CI runs, ``.ci/run``; ``make demo`` is the README's);
* ``cp SRC DST``: SRC exists. A config copied that way is read from SRC by the page's later lines (an unedited copy
  is the same file), so the guide's ``cp ... finetune_special_style.yaml`` step needs no file in the repository;
* ``mkdir``: nothing to check.

Lines that name a user's own files (``~/...``, ``<time>``, or a CAPITALS placeholder such as ``MAP.osu``) are only
parsed. ```python blocks are run in order, each in a fresh namespace. ```console blocks are illustrations
(``beatforge ui`` serves until Ctrl+C; ``docker`` needs a daemon, see tests/test_docker.py).

Everything runs in a scratch folder, never in the checkout: the lines write where a user's own would
(``datasets/my_style``, ``build/...``, ``results/...``), and in a checkout those git-ignored folders hold the user's
own data. The module's fixture ``docs_root`` makes ``TMP/work`` with copies of the repository's inputs that the lines
name (configs/, models/, examples/, the root scripts) and ``TMP/shared`` -> the real ``../shared`` (so
``../shared/data/...`` resolves as written), and works there; the root scripts themselves are loaded from the
checkout. The last tests check that the checkout's datasets/, build/, outputs/, logs/ and results/ are untouched.
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from beatforge.cli import build_parser, main
from tests.conftest import DATA, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BUILD = Path("build", "docs")  # relative: inside the scratch folder the tests work in (docs_root), never the checkout
SCRIPTS = ("train.py", "sample.py", "generate_beatmap_idx.py")
# What the documented lines read from the repository (copied into the scratch folder, so nothing a line does can
# change the checkout's), and the checkout's git-ignored folders where a user keeps their own data and runs.
INPUTS = ("configs", "models", "examples", "main.py", *SCRIPTS, "Makefile")
OUTPUTS = ("datasets", "build", "outputs", "logs", "results")


def _snapshot(names: tuple[str, ...]) -> dict[str, tuple[int, int, int]]:
    """(size, mtime_ns, inode) of every file and folder under the checkout's ``names``: any write, rename or new
    file changes it (a folder's mtime changes when an entry is added or removed)."""
    found = {}
    for name in names:
        top = REPO / name
        for path in [top, *top.rglob("*")] if top.exists() else []:
            st = path.lstat()
            found[path.relative_to(REPO).as_posix()] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _in_scratch() -> Path:
    """The folder the documented lines run in: never the checkout (their relative paths would land in it)."""
    here = Path.cwd().resolve()
    assert here != REPO and REPO not in here.parents, f"the docs tests must not run in the checkout ({here})"
    return here


@pytest.fixture(scope="module", autouse=True)
def checkout_before() -> dict:
    """The checkout's OUTPUTS before this module's first test (compared by the module's last test)."""
    return _snapshot(OUTPUTS)


@pytest.fixture(scope="module", autouse=True)
def docs_root(tmp_path_factory, checkout_before) -> Iterator[Path]:
    """A scratch folder laid out like the checkout (``TMP/work``: copies of INPUTS; ``TMP/shared`` -> ../shared), the
    working directory of every test here; removed afterwards (the lines write a few hundred MB)."""
    top = tmp_path_factory.mktemp("docs")
    root = top / "work"
    root.mkdir()
    for name in INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, root / name)
    (top / "shared").symlink_to(REPO.parent / "shared", target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        yield _in_scratch()
    shutil.rmtree(top, ignore_errors=True)


def _blocks(doc: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)


def _lines(block: str) -> list[str]:
    """The block's commands: backslash continuations joined, ``# comments`` and comment lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _commands() -> list[tuple[str, str]]:
    return [(doc.name, line) for doc in DOCS for block in _blocks(doc, "bash") for line in _lines(block)]


COMMANDS = _commands()
EXAMPLES = [(doc.name, blocks) for doc in DOCS if (blocks := _blocks(doc, "python"))]


def _copies(doc_name: str) -> dict[str, str]:
    """``cp SRC DST`` lines of one page, as {DST: SRC}: the page's later lines may name DST."""
    found = {}
    for doc, line in COMMANDS:
        argv = shlex.split(line)
        if doc == doc_name and argv[0] == "cp":
            paths = [a for a in argv[1:] if not a.startswith("-")]
            found[paths[-1]] = paths[0]
    return found


def _placeholder(argv: list[str]) -> bool:
    """Does the line name a user's own files (``~/osu/Songs``, ``logs/<time>_x``, ``MAP.osu``, ``BEATMAP_ID``)?"""
    for arg in argv:
        if "~" in arg or re.search(r"<[^<>]+>", arg):
            return True
        for part in re.split(r"[/=\[\],]", arg):
            if re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", part.split(".")[0]):
                return True
    return False


def _values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def _drop(argv: list[str], *flags: str) -> list[str]:
    """argv without ``flag value`` pairs (for flags the test replaces)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        elif a.split("=", 1)[0] not in flags:
            out.append(a)
    return out


def _replace(argv: list[str], flag: str, value: str) -> list[str]:
    return [*_drop(argv, flag), flag, value]


def _need_data(line: str) -> None:
    if "../shared/data" in line and not DATA.exists():
        pytest.skip("needs ../shared/data")


# ------------------------------------------------------------------------------------------ stand-ins (osu!standard)
@pytest.fixture(scope="module")
def standard_stand_in(docs_root: Path) -> dict:
    """A standard dataset and a 2-step DiT-T checkpoint trained on it, for guide lines that name a dataset or a
    checkpoint that is not here: the user's own ``datasets/standard``, the ``results/...`` their training writes.
    Built once for the module (a few seconds) in the scratch folder, like everything here."""
    if not DATA.exists():
        return {}
    _in_scratch()
    data = BUILD / "standard"
    if not (data / "index.jsonl").is_file():
        assert main(["dataset", "build", "--mode", "standard", "--songs", str(DATA / "standard"), "--out", str(data),
                     "--workers", "1"]) == 0
    root = BUILD / "stand-in-results"
    shutil.rmtree(root, ignore_errors=True)
    from beatforge.training.standard import main as train

    assert train(["--data-path", str(data), "--model", "DiT-T", "--global-batch-size", "4", "--num-workers", "0",
                  "--max-steps", "2", "--results-dir", str(root)]) == 0
    (ckpt,) = sorted(root.glob("*/checkpoints/*"))
    return {"data": data.resolve(), "ckpt": ckpt.resolve()}


def _stand_in(stand_in: dict, what: str, path: str) -> Path:
    if not stand_in:
        pytest.skip(f"{path} is not here and ../shared/data (to build a stand-in {what}) is absent")
    return stand_in[what]


def _data_path(argv: list[str], stand_in: dict) -> list[str]:
    """``--data-path`` as written when that dataset exists here, else the stand-in (whose map count then sets the
    style table: the line's ``--num-classes`` was for its own dataset)."""
    (path,) = _values(argv, "--data-path")
    if (Path(path) / "index.jsonl").is_file():
        return argv
    return _replace(_drop(argv, "--num-classes"), "--data-path", str(_stand_in(stand_in, "data", path)))


def _ckpt(argv: list[str], stand_in: dict, need: str) -> tuple[list[str], bool]:
    """``--ckpt`` as written when it holds ``need`` here, else the stand-in checkpoint; (argv, replaced?). The
    stand-in knows its own styles: a ``--style-id`` becomes its first one, and the line's style index and class
    count (for its own checkpoint) go."""
    paths = _values(argv, "--ckpt")
    if not paths or (Path(paths[0]) / need).is_file():
        return argv, False
    ckpt = _stand_in(stand_in, "ckpt", paths[0])
    argv = _replace(argv, "--ckpt", str(ckpt))
    if need == "model.safetensors":  # sampling: train.py's --num-classes is the new table's size, kept
        argv = _drop(argv, "--beatmap-idx", "--beatmap_idx", "--num-classes")
    if _values(argv, "--style-id"):
        from beatforge.checkpoints import list_styles

        argv = _replace(argv, "--style-id", list_styles(ckpt)[0][0])
    return argv, True


class _Parsed(Exception):
    """Raised right after a script has parsed its command line: the parse-only check of a placeholder line."""


def _parse_only(script_main, argv: list[str], monkeypatch) -> None:
    """Run a root script until its arguments are parsed (every flag must exist), then stop: the line names a user's
    own files, so running it further would only fail on them."""
    import argparse

    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, *args, **kwargs):
        parse(self, *args, **kwargs)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(_Parsed):
        script_main(argv)


def _script(name: str):
    """The guide's root script's ``main``, loaded from its file (the script itself is what is checked)."""
    return runpy.run_path(str(REPO / name), run_name="docs_" + name.removesuffix(".py"))["main"]


# ------------------------------------------------------------------------------------------ the checks, by kind
def _beatforge(doc: str, argv: list[str], line: str, stand_in: dict, capsys) -> None:
    if argv[0] == "train":
        _training(doc, argv[1:])
        return
    build_parser().parse_args(argv)  # every documented flag exists
    if _placeholder(argv):
        return  # a user's own files: parsed above, not run
    _need_data(line)
    if argv[:2] == ["rhythm", "train"]:
        # the recipe trains for minutes: run it for 3 steps into a scratch folder (the flags are the documented ones)
        if not all((Path(d) / "index.jsonl").is_file() for d in _values(argv, "--dataset")):
            pytest.skip("the recipe's dataset is not built here (docs/datasets.md builds it)")
        # (the note selector would first run madmom's networks over every song: minutes; tests/training covers it)
        argv = [*argv, "--steps", "3", "--selector-steps", "0", "-o", str(BUILD / "rhythm")]
    if argv[0] in ("styles", "remap"):  # the guide's results/... checkpoint: the stand-in's
        argv, _ = _ckpt(argv, stand_in, "model.safetensors")
    assert main(argv) == 0, capsys.readouterr().err


def _training(doc: str, argv: list[str]) -> None:
    """``beatforge train`` / ``python main.py``: parse and plan; a fine-tune also loads the model file into the
    model the config builds (cheap for the shipped model's size, and the step most likely to fail for a user)."""
    from beatforge.training.run import build_system, parse_train_args, plan_run

    copies = _copies(doc)
    argv = [copies.get(a, a) for a in argv]
    args, overrides = parse_train_args(argv)
    assert args.train
    if _placeholder(argv):
        return
    plan = plan_run(args, overrides)  # the configs and overrides load; the training itself is tests/training's job
    if plan.mode == "finetune":
        build_system(plan, args, 1)


def _train_py(argv: list[str], stand_in: dict, monkeypatch, capsys) -> None:
    """osu-diffusion's train.py line, for 2 steps of the tiny model (the line's own --model when it resumes a real
    checkpoint here). A stand-in checkpoint that is resumed (no --relearn-embeds) trains on the stand-in dataset,
    the one its style table was made for."""
    from beatforge.training.standard import build_parser as train_parser

    p = _script("train.py")
    if _placeholder(argv):
        _parse_only(p, argv, monkeypatch)
        return
    relearn = train_parser().parse_args(argv).relearn_embeds
    argv, replaced = _ckpt(argv, stand_in, "model.json")  # a train.py checkpoint or a shipped model folder
    if replaced and not relearn:
        argv = _replace(_drop(argv, "--num-classes"), "--data-path", str(stand_in["data"]))
    else:
        argv = _data_path(argv, stand_in)
    if replaced or not _values(argv, "--ckpt"):
        argv = _replace(argv, "--model", "DiT-T")
    for flag, value in (("--max-steps", "2"), ("--global-batch-size", "4"), ("--num-workers", "0"),
                        ("--results-dir", str(BUILD / "results"))):
        argv = _replace(argv, flag, value)
    assert p(argv) == 0
    assert "saved " in capsys.readouterr().out


def _sample_py(argv: list[str], stand_in: dict, monkeypatch) -> None:
    p = _script("sample.py")
    if _placeholder(argv):
        _parse_only(p, argv, monkeypatch)
        return
    (beatmap,) = _values(argv, "--beatmap")
    _need_data(beatmap)
    argv, _ = _ckpt(argv, stand_in, "model.safetensors")
    out = BUILD / "sample" / "remap.osu"
    assert p([*argv, "--num-sampling-steps", "2", "-o", str(out)]) == 0
    assert "[HitObjects]" in out.read_text(encoding="utf-8")


def _generate_beatmap_idx_py(argv: list[str], stand_in: dict, monkeypatch) -> None:
    p = _script("generate_beatmap_idx.py")
    if _placeholder(argv):
        _parse_only(p, argv, monkeypatch)
        return
    out = BUILD / "beatmap_idx.json"  # never into the user's dataset, whatever --out says
    assert p(_replace(_data_path(argv, stand_in), "--out", str(out))) == 0
    assert json.loads(out.read_text(encoding="utf-8"))


def _make(argv: list[str]) -> None:
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", (REPO / "Makefile").read_text(encoding="utf-8"), flags=re.M))
    for target in [a for a in argv[1:] if not a.startswith("-") and "=" not in a]:
        assert target in targets, f"make {target}: no such target in the Makefile"
        if target == "test":  # the README's test command is exactly what CI runs
            assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_docs_have_commands() -> None:
    assert len(COMMANDS) >= 8
    kinds = {shlex.split(line)[0] for _, line in COMMANDS}
    assert {"beatforge", "make", "python"} <= kinds


@pytest.mark.parametrize("doc,line", COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_documented_command(doc: str, line: str, docs_root: Path, standard_stand_in, monkeypatch, capsys) -> None:
    _run_line(doc, line, docs_root, standard_stand_in, monkeypatch, capsys)


def _run_line(doc: str, line: str, root: Path, standard_stand_in: dict, monkeypatch, capsys) -> None:
    """One documented line, checked by its kind, in the scratch folder ``root``."""
    argv = shlex.split(line)
    monkeypatch.chdir(root)
    _in_scratch()
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # the guide's torchrun lines run here as one process
    BUILD.mkdir(parents=True, exist_ok=True)
    if argv[0] == "torchrun":
        argv = ["python", *argv[next(i for i, a in enumerate(argv) if a.endswith(".py")):]]
    if argv[0] == "beatforge":
        _beatforge(doc, argv[1:], line, standard_stand_in, capsys)
    elif argv[:2] == ["python", "main.py"]:
        _training(doc, argv[2:])
    elif argv[:2] == ["python", "train.py"]:
        _train_py(argv[2:], standard_stand_in, monkeypatch, capsys)
    elif argv[:2] == ["python", "sample.py"]:
        _sample_py(argv[2:], standard_stand_in, monkeypatch)
    elif argv[:2] == ["python", "generate_beatmap_idx.py"]:
        _generate_beatmap_idx_py(argv[2:], standard_stand_in, monkeypatch)
    elif argv[0] == "make":
        _make(argv)
    elif argv[0] == "cp":
        src = [a for a in argv[1:] if not a.startswith("-")][0]
        assert Path(src).exists(), f"cp {src}: no such file"
    elif argv[0] == "mkdir":
        pass
    else:
        pytest.fail(f"no check for this kind of command; add one to tests/test_docs.py, or show it in a ```console "
                    f"block if it cannot run in a test: {line}")


def test_docs_have_python_examples() -> None:
    assert len(dict(EXAMPLES).get("api.md", [])) >= 4


@pytest.mark.parametrize("doc,blocks", EXAMPLES, ids=[d for d, _ in EXAMPLES])
def test_python_examples(doc: str, blocks: list[str], docs_root: Path, monkeypatch) -> None:
    """A page's ```python blocks in order, as a reader runs them (a block may use a file an earlier one wrote),
    each in a fresh namespace, from the scratch folder. Blocks that read ../shared/data are skipped where it is
    absent, after the others have run."""
    monkeypatch.chdir(docs_root)
    _in_scratch()
    BUILD.mkdir(parents=True, exist_ok=True)
    skipped = []
    for i, code in enumerate(blocks, 1):
        if "../shared/data" in code and not DATA.exists():
            skipped.append(i)
            continue
        exec(compile(code, f"{doc}, python block {i}", "exec"), {"__name__": f"docs_{doc}_{i}"})
    if skipped:
        pytest.skip(f"{doc}: python blocks {skipped} need ../shared/data")


def test_placeholders_are_recognised() -> None:
    """The parse-only rule: a user's own paths and names, not real ones that happen to have capitals."""
    assert _placeholder(shlex.split("beatforge remap MAP.osu -o OUT.osu"))
    assert _placeholder(shlex.split("python sample.py --beatmap x.osu --ckpt c --style-id BEATMAP_ID"))
    assert _placeholder(shlex.split("python main.py --train -r logs/<time>_small"))
    assert _placeholder(shlex.split("beatforge dataset build --songs ~/osu/Songs --out d"))
    assert not _placeholder(shlex.split('beatforge analyze "../shared/data/x/Mecha-Tribe Assault.ssc" --difficulty '
                                        '"Hard 10"'))
    assert not _placeholder(shlex.split("python train.py --data-path datasets/standard --model DiT-XS"))


# ------------------------------------------------------------------------------------------ the checkout is left alone
def test_docs_run_in_a_scratch_folder(docs_root: Path) -> None:
    """The lines' relative paths (datasets/..., build/..., results/...) resolve inside the scratch folder, and
    ../shared/data resolves to the real data, as it does beside a checkout."""
    assert Path.cwd().resolve() == docs_root.resolve() and REPO not in docs_root.resolve().parents
    for path in ("datasets/my_style", BUILD, "results", "logs", "outputs"):
        assert docs_root.resolve() in Path(path).resolve().parents
    if DATA.exists():
        assert Path("../shared/data").resolve() == DATA.resolve()


def test_a_documented_dataset_build_leaves_the_checkout_alone(docs_root: Path, standard_stand_in, monkeypatch,
                                                              capsys) -> None:
    """The issue's case: a documented ``beatforge dataset build ... --out datasets/NAME`` run through the same checks
    as above writes the scratch folder's datasets/NAME, and the checkout's datasets/ (a user's own datasets) and the
    other output folders stay exactly as they were."""
    doc, line = next((d, c) for d, c in COMMANDS if c.startswith("beatforge dataset build") and " --out datasets/" in c
                     and not _placeholder(shlex.split(c)))
    before = _snapshot(OUTPUTS + INPUTS)
    _run_line(doc, line, docs_root, standard_stand_in, monkeypatch, capsys)
    out = _values(shlex.split(line), "--out")[0]
    assert (docs_root / out / "index.jsonl").is_file()
    assert not _changed(before, _snapshot(OUTPUTS + INPUTS)), "a documented line wrote into the checkout"


def test_the_checkout_is_untouched(checkout_before: dict) -> None:
    """Last in the module: after every documented line and example above, the checkout's datasets/, build/,
    outputs/, logs/ and results/ are as they were before the first (nothing created, written or removed)."""
    changed = _changed(checkout_before, _snapshot(OUTPUTS))
    assert not changed, f"the docs tests changed the checkout: {changed[:10]}"
