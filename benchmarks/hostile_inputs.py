"""How every entry point handles bad or hostile input: one fresh process per case, classified, counted in a table.

    python benchmarks/hostile_inputs.py [--only NAME] [--jobs N] [--json PATH]

Every hostile file is built here, inside a tempfile.TemporaryDirectory (nothing is written into the repository):
missing files, folders, FIFOs, symlinks to /dev/zero, empty files, binary garbage, truncated files, huge numbers
(1e300, inf, nan, 2**70) in flags and files, zip bombs, zip-slip members, charts whose audio is a `../` or absolute
path to a secret file, newlines in titles, corrupt model folders (a copy of models/standard or models/mania with
model.json / model.yaml / model.safetensors / beatmap_idx.json damaged), corrupt dataset index.jsonl lines, pickles
that run code when loaded, and bad numeric flags (0, negative, nan, inf, 2**70). On top of that, 30+ mutations of a
valid chart per format (.osu, .qua, .sm/.ssc, tui .json, Frets on Fire notes.mid + song.ini) go through
``beatforge analyze``.

Each case runs as ``prlimit --as=1073741824 --fsize=1073741824 -- timeout -s KILL 10 PYTHON -m beatforge.cli ...``
(or a root script: main.py, train.py, sample.py, generate_beatmap_idx.py) with its own temporary working folder
(the repository's configs/ and models/ symlinked in, so relative default paths resolve), OMP/MKL limited to one
thread and no GPU visible. --fsize only keeps a runaway writer (a copy of /dev/zero) from filling the disk.
Recorded: wall time, exit code, stderr, and every file the run left in its case folder. Outcomes:

* clean: exit 2, one stderr line (an argparse usage block before an ``error:`` line is not counted), nothing left;
* ok-accepted: exit 0 where exit 0 is the right answer (a valid control, a valid-but-odd file);
* accepted: exit 0 on a hostile input (listed: not always wrong, but worth a look);
* traceback: "Traceback" on stderr;
* hang/DoS: killed by the 10 s timeout or the 1 GiB memory limit (rc 137/-9, a signal, out-of-memory text), or >= 10 s;
* left files: a clean message, but files (or *.part) left behind in the case's folders;
* leak: the secret file's bytes appear in stdout/stderr or any written file (zip members included);
* injection: a title with a newline put an extra ``[Injected]`` section into a written .osu, raw HTML reached a
  report, or a pickle ran code (it creates a marker file);
* other: anything else (a valid control rejected, exit 1, several stderr lines, ...): shown with its first line.

Cases that cannot mean anything on this machine (chmod 0o500 as root) are skipped and named. The whole run takes
about 6-9 minutes on 2 cores with --jobs 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
TIMEOUT_S = 10
MEM_BYTES = 1 << 30
CATEGORIES = ["clean", "ok-accepted", "accepted", "traceback", "hang/DoS", "left files", "leak", "injection", "other"]
MEMORY_TEXT = ("MemoryError", "out of memory", "Cannot allocate memory", "can't allocate memory", "bad_alloc",
               "Thread creation failed", "Resource temporarily unavailable")
SECRET = b"BFSECRET-" + bytes(random.Random(7).getrandbits(8) for _ in range(12)).hex().encode()
HUGE = str(2 ** 70)
INJECT_TITLE = "Pwn\n[Injected]\nTitle:evil"
XSS = "<script>BFXSS</script>"


# ============================================================================================ cases
@dataclass
class Spec:
    """What one case runs: argv after the python executable; ``ok``: exit 0 is the right answer."""

    argv: list[str]
    ok: bool = False
    check_secret: bool = False
    check_inject: bool = False
    marker: Path | None = None  # a file whose existence means a pickle ran code
    skip: str = ""


@dataclass
class Case:
    entry: str
    name: str
    build: Callable[[Path, Assets], Spec]


@dataclass
class Result:
    entry: str
    name: str
    category: str
    rc: int | None
    wall_s: float
    first_line: str
    stderr_lines: int
    left: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Assets:
    root: Path
    wav: Path
    std_osu: str
    mania_osu: str
    ds_std: Path
    ds_mania: Path
    bomb_big: Path
    bomb_many: Path


def cli(*args: object) -> list[str]:
    return ["-m", "beatforge.cli", *map(str, args)]


def script(name: str, *args: object) -> list[str]:
    return [str(REPO / name), *map(str, args)]


# ---------------------------------------------------------------------------------- builders
def osu_mania(audio: str = "audio.wav", title: str = "T", notes: int = 24, keys: int = 4, extra: str = "") -> str:
    cols = [int((c + 0.5) * 512 / keys) for c in range(keys)]
    objs = []
    for k in range(notes):
        t = 500 + 250 * k
        if k % 5 == 4:
            objs.append(f"{cols[k % keys]},192,{t},128,0,{t + 200}:0:0:0:0:")
        else:
            objs.append(f"{cols[k % keys]},192,{t},1,0,0:0:0:0:")
    return (f"osu file format v14\n\n[General]\nAudioFilename: {audio}\nPreviewTime: -1\nMode: 3\n\n"
            f"[Metadata]\nTitle:{title}\nArtist:A\nCreator:C\nVersion:Hard\nBeatmapID:1\nBeatmapSetID:1\n\n"
            f"[Difficulty]\nHPDrainRate:8\nCircleSize:{keys}\nOverallDifficulty:8\nApproachRate:5\n"
            f"SliderMultiplier:1.4\nSliderTickRate:1\n{extra}\n[TimingPoints]\n500,500,4,1,0,70,1,0\n\n"
            "[HitObjects]\n" + "\n".join(objs) + "\n")


def osu_standard(n: int = 40, audio: str = "audio.wav", bid: int = 1000, title: str = "T") -> str:
    objs = "".join(f"{int(256 + 150 * math.cos(k * 0.7))},{int(192 + 100 * math.sin(k * 0.7))},{500 + 250 * k},"
                   "1,0,0:0:0:0:\n" for k in range(n))
    return (f"osu file format v14\n\n[General]\nAudioFilename: {audio}\nMode: 0\n\n[Metadata]\nTitle:{title}\n"
            f"Artist:A\nCreator:C\nVersion:V{bid}\nBeatmapID:{bid}\nBeatmapSetID:500\n\n[Difficulty]\n"
            "HPDrainRate:5\nCircleSize:4\nOverallDifficulty:5\nApproachRate:9\nSliderMultiplier:1.4\n"
            "SliderTickRate:1\n\n[TimingPoints]\n0,500,4,1,0,70,1,0\n\n[HitObjects]\n" + objs)


def write_wav(path: Path, seconds: float = 8.0, sr: int = 22050) -> None:
    import numpy as np

    n = int(seconds * sr)
    x = np.zeros(n)
    click = np.sin(2 * np.pi * 880 * np.arange(500) / sr) * np.exp(-np.arange(500) / 100)
    for b in np.arange(0.5, seconds - 0.1, 0.5):
        i = int(b * sr)
        x[i:i + 500] += click[: max(0, min(500, n - i))]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((x * 20000).astype("<i2").tobytes())


def bad(path: Path, kind: str) -> Path:
    """``path`` made into one hostile kind of file: missing, dir, fifo, devzero, empty, garbage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(random.Random(path.name).getrandbits(8) for _ in range(4096)))
    elif kind != "missing":
        raise ValueError(kind)
    return path


BAD_KINDS = ["missing", "dir", "fifo", "devzero", "empty", "garbage"]


def zip_with(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def evil_pickle(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded (``open(marker, 'w')``)."""
    return (b"\x80\x02cio\nopen\nq\x00X" + struct.pack("<I", len(str(marker).encode())) + str(marker).encode()
            + b"X\x01\x00\x00\x00w\x86R.")


def secret_file(d: Path) -> Path:
    p = d / "secret" / "secret.wav"
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(SECRET * 64)
    return p


def copy_model(src: str, d: Path) -> Path:
    dst = d / "in" / f"model_{src}"
    shutil.copytree(REPO / "models" / src, dst)
    return dst


def copy_ds(a: Assets, d: Path, which: str = "std") -> Path:
    dst = d / "in" / f"ds_{which}"
    shutil.copytree(a.ds_std if which == "std" else a.ds_mania, dst)
    return dst


def damage_index(ds: Path, how: str) -> None:
    idx = ds / "index.jsonl"
    lines = idx.read_text().splitlines()
    if how == "garbage":
        idx.write_bytes(bytes(random.Random(1).getrandbits(8) for _ in range(2000)))
    elif how == "truncated-line":
        idx.write_text("\n".join(lines[:-1] + [lines[-1][: len(lines[-1]) // 2]]) + "\n")
    elif how == "devzero":
        idx.unlink()
        idx.symlink_to("/dev/zero")
    elif how == "fifo":
        idx.unlink()
        os.mkfifo(idx)
    elif how == "deep":
        idx.write_text("[" * 200_000 + "\n")
    else:  # a field replaced in every record: "field=json value"
        key, value = how.split("=", 1)
        out = []
        for line in lines:
            rec = json.loads(line)
            rec[key] = json.loads(value) if value[:1] in "[{\"-0123456789tfn" else value
            out.append(json.dumps(rec))
        idx.write_text("\n".join(out) + "\n")


def damage_safetensors(p: Path, how: str) -> None:
    if how == "truncated":
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    elif how == "huge-header":
        data = bytearray(p.read_bytes()[:4096])
        data[:8] = struct.pack("<Q", 2 ** 62)
        p.write_bytes(bytes(data))
    elif how == "devzero":
        p.unlink()
        p.symlink_to("/dev/zero")
    elif how == "missing":
        p.unlink()
    elif how == "shape-lie":
        data = p.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        for k, v in header.items():
            if k != "__metadata__":
                v["shape"] = [2 ** 40, 2 ** 20]
                break
        h = json.dumps(header).encode()
        p.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n:])


# ---------------------------------------------------------------------------------- generic file cases
def file_cases(entry: str, fname: str, make: Callable[[Path, Assets, Path], Spec],
               kinds: tuple[str, ...] = tuple(BAD_KINDS)) -> list[Case]:
    """Hostile kinds of file at the main input path; ``make(d, a, path)`` gives the command."""
    def builder(kind: str) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            return make(d, a, bad(d / "in" / fname, kind))
        return b
    return [Case(entry, f"input {kind}", builder(kind)) for kind in kinds]


def C(entry: str, name: str) -> Callable[[Callable[[Path, Assets], Spec]], Case]:
    def deco(fn: Callable[[Path, Assets], Spec]) -> Case:
        return Case(entry, name, fn)
    return deco


def flag_cases(entry: str, base: Callable[[Path, Assets], list[str]], flags: list[tuple[str, str]]) -> list[Case]:
    def builder(flag: str, value: str) -> Callable[[Path, Assets], Spec]:
        return lambda d, a: Spec(base(d, a) + [flag, value])
    return [Case(entry, f"{f} {v[:12]}", builder(f, v)) for f, v in flags]


def write(p: Path, data: str | bytes) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------- analyze
def analyze_cases() -> list[Case]:
    e = "analyze"
    cs = file_cases(e, "chart.osu", lambda d, a, p: Spec(cli("analyze", p)))

    def valid(d: Path, a: Assets) -> Path:
        return write(d / "in" / "v.osu", a.mania_osu)

    cs += flag_cases(e, lambda d, a: cli("analyze", valid(d, a)),
                     [("--rate", "0"), ("--rate", "nan"), ("--rate", "inf"), ("--rate", "-1"), ("--rate", "1e300"),
                      ("--index", HUGE), ("--index", "-1"), ("--difficulty", "\x1b[31mnope")])
    cs.append(Case(e, "valid control", lambda d, a: Spec(cli("analyze", valid(d, a), "--json"), ok=True)))
    cs.append(Case(e, "osz bomb 600MB member", lambda d, a: Spec(cli("analyze", a.bomb_big))))
    cs.append(Case(e, "osz 3000 x 1MB members --all", lambda d, a: Spec(cli("analyze", a.bomb_many, "--all"))))
    cs.append(Case(e, "osz zip-slip member", lambda d, a: Spec(cli("analyze", zip_with(
        d / "in" / "slip.osz", {"../../../slip.osu": a.mania_osu}), "--all"))))
    cs.append(Case(e, "absolute secret audio", lambda d, a: Spec(cli("analyze", write(
        d / "in" / "s.osu", osu_mania(audio=str(secret_file(d)))), "--json"), ok=True, check_secret=True)))
    cs.append(Case(e, "osz of 5000 valid charts --all", lambda d, a: Spec(cli("analyze", zip_with(
        d / "in" / "many.osz", {f"c{i}.osu": a.mania_osu for i in range(5000)}), "--all", "--json"))))
    return cs


# ---------------------------------------------------------------------------------- convert
def convert_cases() -> list[Case]:
    e = "convert"
    cs = file_cases(e, "chart.osu", lambda d, a, p: Spec(cli("convert", p, "-o", d / "out" / "x.osu")))

    def with_audio(d: Path, a: Assets, text: str | None = None, name: str = "v.osu") -> Path:
        shutil.copy(a.wav, d / "in" / "audio.wav")
        return write(d / "in" / name, text or a.mania_osu)

    cs += [
        Case(e, "valid control", lambda d, a: Spec(cli("convert", with_audio(d, a), "-o", d / "out" / "x.osu"),
                                                   ok=True)),
        Case(e, "-o unknown extension", lambda d, a: Spec(cli("convert", with_audio(d, a), "-o", d / "out" / "x.txt"))),
        Case(e, "-o existing folder", lambda d, a: Spec(cli("convert", with_audio(d, a), "-o", d / "out"))),
        Case(e, "-o the input itself", lambda d, a: Spec(cli("convert", p := with_audio(d, a), "-o", p))),
        Case(e, "--index 2**70", lambda d, a: Spec(cli("convert", with_audio(d, a), "-o", d / "out" / "x.osu",
                                                        "--index", HUGE))),
        Case(e, "audio ../secret", lambda d, a: Spec(cli("convert", write(
            (secret_file(d), d / "in" / "r.osu")[1], osu_mania(audio="../secret/secret.wav")), "-o",
            d / "out" / "x.osz"), check_secret=True)),
        Case(e, "audio absolute secret", lambda d, a: Spec(cli("convert", write(
            d / "in" / "r.osu", osu_mania(audio=str(secret_file(d)))), "-o", d / "out" / "x.osu"),
            check_secret=True)),
        Case(e, "osz zip-slip + ../ audio", lambda d, a: Spec(cli("convert", zip_with(
            (secret_file(d), d / "in" / "slip.osz")[1],
            {"../../../evil.osu": osu_mania(audio="../secret/secret.wav"), "../../evil.wav": b"RIFF"}),
            "-o", d / "out" / "x.osz"), check_secret=True)),
        Case(e, "osz bomb -> osz", lambda d, a: Spec(cli("convert", a.bomb_big, "-o", d / "out" / "x.osz"))),
        Case(e, "audio is a FIFO", lambda d, a: Spec(cli("convert", write(
            (bad(d / "in" / "audio.wav", "fifo"), d / "in" / "f.osu")[1], a.mania_osu), "-o", d / "out" / "x.osu"))),
        Case(e, "audio is /dev/zero", lambda d, a: Spec(cli("convert", write(
            (bad(d / "in" / "audio.wav", "devzero"), d / "in" / "z.osu")[1], a.mania_osu),
            "-o", d / "out" / "x.osz"))),
        Case(e, "tui title newline", lambda d, a: Spec(cli("convert", write(d / "in" / "t.json", json.dumps(
            {"title": INJECT_TITLE, "artist": "A\n[Injected]", "bpm": 120, "offset": 0, "lanes": 4,
             "notes": [{"beat": b, "lane": b % 4} for b in range(16)]})), "-o", d / "out" / "x.osu", "--no-audio"),
            ok=True, check_inject=True)),
        Case(e, "qua title newline", lambda d, a: Spec(cli("convert", write(d / "in" / "t.qua", QUA_VALID.replace(
            "Title: T", 'Title: "Pwn\\n[Injected]\\nTitle:evil"').replace(
            "DifficultyName: Hard", 'DifficultyName: "H\\r[Injected]"')), "-o", d / "out" / "x.osu", "--no-audio"),
            ok=True, check_inject=True)),
        Case(e, "unwritable out folder", unwritable(lambda d, a: cli("convert", with_audio(d, a),
                                                                     "-o", d / "out" / "x.osu"))),
    ]
    return cs


def unwritable(base: Callable[[Path, Assets], list[str]]) -> Callable[[Path, Assets], Spec]:
    def b(d: Path, a: Assets) -> Spec:
        argv = base(d, a)
        (d / "out").chmod(0o500)
        if os.geteuid() == 0:
            return Spec(argv, skip="running as root: chmod 0o500 does not block writes")
        return Spec(argv)
    return b


# ---------------------------------------------------------------------------------- dataset build
def dataset_cases() -> list[Case]:
    e = "dataset build"

    def songs(d: Path, a: Assets) -> Path:
        s = d / "in" / "songs"
        s.mkdir(parents=True, exist_ok=True)
        write(s / "a" / "m.osu", a.std_osu)
        return s

    def build(d: Path, songs_dir: Path, *extra: object) -> list[str]:
        return cli("dataset", "build", "--songs", songs_dir, "--mode", "standard", "--out", d / "out" / "ds",
                   "--quiet", "--workers", "1", *extra)

    def in_songs(kind: str) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            s = songs(d, a)
            bad(s / "b" / "x.osu", kind)
            return Spec(build(d, s), ok=True)  # the bad chart is skipped, the good one kept
        return b

    cs = file_cases(e, "songs", lambda d, a, p: Spec(build(d, p)))
    cs += [Case(e, f"song folder holds {k} .osu", in_songs(k)) for k in ("fifo", "devzero", "garbage")]
    cs += flag_cases(e, lambda d, a: build(d, songs(d, a)),
                     [("--val-fraction", "nan"), ("--val-fraction", "2"), ("--val-fraction", "-1"),
                      ("--workers", "-1"), ("--workers", HUGE), ("--min-id", HUGE), ("--keys", "0")])
    cs += [
        Case(e, "valid control", lambda d, a: Spec(build(d, songs(d, a)), ok=True)),
        Case(e, "zip bomb .osz in songs", lambda d, a: Spec(build(d, (s := songs(d, a)),
                                                                  (shutil.copy(a.bomb_many, s / "b.osz"), "")[1]))),
        Case(e, "zip-slip .osz in songs", lambda d, a: Spec(build(d, (s := songs(d, a)), (zip_with(
            s / "slip.osz", {"../../../../slip.osu": a.std_osu, "../../../../slip.wav": b"RIFF"}), "")[1]))),
        Case(e, "--ids /dev/zero", lambda d, a: Spec(build(d, songs(d, a), "--ids", bad(d / "in" / "ids", "devzero")))),
        Case(e, "--ids FIFO", lambda d, a: Spec(build(d, songs(d, a), "--ids", bad(d / "in" / "ids", "fifo")))),
        Case(e, "--status-file garbage", lambda d, a: Spec(build(d, songs(d, a), "--status", "ranked",
                                                                "--status-file", bad(d / "in" / "st", "garbage")))),
        Case(e, "--out is a file", lambda d, a: Spec(cli("dataset", "build", "--songs", songs(d, a), "--mode",
                                                          "standard", "--out", write(d / "out" / "f", "x"),
                                                          "--quiet", "--workers", "1"))),
        Case(e, "absolute audio secret (mania)", lambda d, a: Spec(cli(
            "dataset", "build", "--songs", (s := d / "in" / "songs", write(
                s / "a" / "m.osu", osu_mania(audio=str(secret_file(d)))))[0], "--out", d / "out" / "ds", "--quiet",
            "--workers", "1"), check_secret=True)),
    ]
    return cs


# ---------------------------------------------------------------------------------- generate
def generate_cases() -> list[Case]:
    e = "generate"

    def wav(d: Path, a: Assets) -> Path:
        return Path(shutil.copy(a.wav, d / "in" / "song.wav"))

    def gen(d: Path, a: Assets) -> list[str]:
        return cli("generate", wav(d, a), "-o", d / "out" / "gen", "--steps", "2", "--no-preview", "--seed", "1")

    cs = file_cases(e, "song.wav", lambda d, a, p: Spec(cli("generate", p, "-o", d / "out" / "gen", "--steps", "2",
                                                            "--no-preview")),
                    ("missing", "fifo", "devzero", "garbage"))
    cs += flag_cases(e, gen, [("--keys", HUGE), ("--sr", "nan"), ("--count", HUGE), ("--steps", "0"),
                              ("--cfg", "nan"), ("--bpm", "1e300"), ("--msd", "overall=inf")])
    cs += [
        Case(e, "--timing-from FIFO", lambda d, a: Spec(gen(d, a) + ["--timing-from", bad(d / "in" / "t.osu",
                                                                                          "fifo")])),
        Case(e, "wav claims 2**31 frames", lambda d, a: Spec(cli("generate", write(d / "in" / "lie.wav", (
            b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000,
                                                                                 2, 16)
            + b"data" + struct.pack("<I", 0xFFFFFFE0) + b"\x00\x10" * 1000)), "-o", d / "out" / "gen",
            "--steps", "2", "--no-preview"))),
        Case(e, "--ckpt model.yaml garbage", lambda d, a: Spec(gen(d, a) + ["--ckpt", (
            m := copy_model("mania", d), write(m / "model.yaml", "{[: &"))[0]])),
        Case(e, "--ckpt safetensors huge header", lambda d, a: Spec(gen(d, a) + ["--ckpt", (
            m := copy_model("mania", d), damage_safetensors(m / "model.safetensors", "huge-header"))[0]])),
        Case(e, "-o is a file", lambda d, a: Spec(cli("generate", wav(d, a), "-o", write(d / "out" / "f", "x"),
                                                      "--steps", "2", "--no-preview"))),
        Case(e, "--title newline (gets far)", lambda d, a: Spec(gen(d, a) + ["--title", INJECT_TITLE,
                                                                             "--bpm", "120", "--offset", "500"],
                                                                ok=True, check_inject=True)),
    ]
    return cs


# ---------------------------------------------------------------------------------- remap / sample.py / styles
def std_map(d: Path, a: Assets, name: str = "map.osu") -> Path:
    return write(d / "in" / name, a.std_osu)


def ckpt_damages(entry: str, run: Callable[[Path, Assets, Path], Spec]) -> list[Case]:
    """Corrupt copies of models/standard."""
    def with_damage(fn: Callable[[Path], None]) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            m = copy_model("standard", d)
            fn(m)
            return run(d, a, m)
        return b

    def model_json(**over: object) -> Callable[[Path], None]:
        def f(m: Path) -> None:
            cfg = json.loads((m / "model.json").read_text())
            for k, v in over.items():
                if k in cfg["config"]:
                    cfg["config"][k] = v
                else:
                    cfg[k] = v
            (m / "model.json").write_text(json.dumps(cfg))
        return f

    return [
        Case(entry, "ckpt model.json garbage", with_damage(lambda m: write(m / "model.json", b"\x00\xff{"))),
        Case(entry, "ckpt model.json depth 2**31", with_damage(model_json(depth=2 ** 31))),
        Case(entry, "ckpt model.json hidden 1e300", with_damage(model_json(hidden=1e300))),
        Case(entry, "ckpt num_classes 2**40", with_damage(model_json(num_classes=2 ** 40))),
        Case(entry, "ckpt safetensors truncated", with_damage(lambda m: damage_safetensors(m / "model.safetensors",
                                                                                           "truncated"))),
        Case(entry, "ckpt safetensors huge header", with_damage(lambda m: damage_safetensors(
            m / "model.safetensors", "huge-header"))),
        Case(entry, "ckpt safetensors shape lie", with_damage(lambda m: damage_safetensors(
            m / "model.safetensors", "shape-lie"))),
        Case(entry, "ckpt safetensors -> /dev/zero", with_damage(lambda m: damage_safetensors(
            m / "model.safetensors", "devzero"))),
        Case(entry, "ckpt beatmap_idx.json garbage", with_damage(lambda m: write(m / "beatmap_idx.json", "[[[{"))),
        Case(entry, "ckpt beatmap_idx.json deep", with_damage(lambda m: write(m / "beatmap_idx.json",
                                                                              "[" * 100_000 + "]" * 100_000))),
        Case(entry, "ckpt beatmap_idx.json FIFO", with_damage(lambda m: ((m / "beatmap_idx.json").unlink(),
                                                                         os.mkfifo(m / "beatmap_idx.json")))),
    ]


def remap_cases() -> list[Case]:
    e = "remap"

    def rm(d: Path, a: Assets, *extra: object) -> list[str]:
        return cli("remap", std_map(d, a), "-o", d / "out" / "r.osu", "--steps", "2", *extra)

    cs = file_cases(e, "map.osu", lambda d, a, p: Spec(cli("remap", p, "-o", d / "out" / "r.osu", "--steps", "2")),
                    ("missing", "fifo", "devzero", "garbage"))
    cs += flag_cases(e, lambda d, a: rm(d, a), [("--steps", "0"), ("--steps", HUGE), ("--cfg-scale", "nan"),
                                                ("--style-id", "../../etc/passwd")])
    cs += [c for c in ckpt_damages(e, lambda d, a, m: Spec(rm(d, a, "--ckpt", m))) if c.name in (
        "ckpt model.json garbage", "ckpt model.json depth 2**31", "ckpt safetensors truncated",
        "ckpt safetensors huge header", "ckpt beatmap_idx.json FIFO")]
    cs += [
        Case(e, "mania map", lambda d, a: Spec(cli("remap", write(d / "in" / "m.osu", a.mania_osu), "-o",
                                                   d / "out" / "r.osu", "--steps", "2"))),
        Case(e, "coords 1e300", lambda d, a: Spec(cli("remap", write(d / "in" / "c.osu", a.std_osu.replace(
            "1,0,0:0:0:0:\n", "1,0,0:0:0:0:\n1e300,1e300,900,1,0,0:0:0:0:\n", 1)), "-o", d / "out" / "r.osu",
            "--steps", "2"))),
        Case(e, "200k circles", lambda d, a: Spec(cli("remap", write(d / "in" / "big.osu", osu_standard(200_000)),
                                                      "-o", d / "out" / "r.osu", "--steps", "2"))),
        Case(e, "valid control (gets far)", lambda d, a: Spec(rm(d, a), ok=True)),
    ]
    return cs


def sample_cases() -> list[Case]:
    e = "sample.py"
    std = str(REPO / "models" / "standard")

    def sp(d: Path, a: Assets, *extra: object, ckpt: object = std) -> list[str]:
        return script("sample.py", "--beatmap", std_map(d, a), "--ckpt", ckpt, "-o", d / "out" / "s.osu",
                      "--num-sampling-steps", "2", *extra)

    cs = file_cases(e, "map.osu", lambda d, a, p: Spec(script("sample.py", "--beatmap", p, "--ckpt", std, "-o",
                                                              d / "out" / "s.osu", "--num-sampling-steps", "2")),
                    ("missing", "fifo", "devzero", "garbage"))
    cs += flag_cases(e, lambda d, a: sp(d, a), [("--num-sampling-steps", HUGE), ("--cfg-scale", "nan"),
                                                ("--num-classes", "0")])
    cs += [c for c in ckpt_damages(e, lambda d, a, m: Spec(sp(d, a, ckpt=m))) if c.name in (
        "ckpt num_classes 2**40", "ckpt model.json hidden 1e300", "ckpt safetensors shape lie",
        "ckpt safetensors -> /dev/zero", "ckpt beatmap_idx.json deep", "ckpt beatmap_idx.json garbage")]
    cs += [
        Case(e, "--beatmap-idx /dev/zero", lambda d, a: Spec(sp(d, a, "--beatmap-idx", bad(d / "in" / "i.json",
                                                                                           "devzero")))),
        Case(e, "--ckpt state.pt pickle RCE", lambda d, a: Spec(sp(d, a, ckpt=write(
            d / "in" / "ck" / "state.pt", evil_pickle(d / "PWNED_sample"))), marker=d / "PWNED_sample")),
        Case(e, "default -o (relative results/)", lambda d, a: Spec(script(
            "sample.py", "--beatmap", std_map(d, a), "--ckpt", std, "--num-sampling-steps", "2"), ok=True)),
    ]
    return cs


def styles_cases() -> list[Case]:
    e = "styles"
    cs = [
        Case(e, "valid control", lambda d, a: Spec(cli("styles"), ok=True)),
        Case(e, "--ckpt missing", lambda d, a: Spec(cli("styles", "--ckpt", d / "in" / "nope"))),
        Case(e, "--ckpt is a file", lambda d, a: Spec(cli("styles", "--ckpt", write(d / "in" / "f", "x")))),
        Case(e, "--ckpt empty folder", lambda d, a: Spec(cli("styles", "--ckpt", bad(d / "in" / "e", "dir")))),
        Case(e, "--ckpt /dev/zero", lambda d, a: Spec(cli("styles", "--ckpt", bad(d / "in" / "z", "devzero")))),
        Case(e, "styles.json garbage", lambda d, a: Spec(cli("styles", "--ckpt", (
            m := copy_model("standard", d), write(m / "styles.json", b"\xff\xfe{{"))[0]))),
        Case(e, "styles.json ANSI/newline names", lambda d, a: Spec(cli("styles", "--ckpt", (
            m := copy_model("standard", d), write(m / "styles.json", json.dumps(
                {k: "\x1b[2J\x1b[31mEVIL\nINJECT" for k in json.loads((m / "beatmap_idx.json").read_text())})))[0]),
            ok=True)),
        Case(e, "beatmap_idx.json 1M entries", lambda d, a: Spec(cli("styles", "--ckpt", (
            m := copy_model("standard", d), write(m / "beatmap_idx.json", json.dumps(
                {str(i): i for i in range(1_000_000)})))[0]))),
        Case(e, "beatmap_idx.json -> /dev/zero", lambda d, a: Spec(cli("styles", "--ckpt", (
            m := copy_model("standard", d), (m / "beatmap_idx.json").unlink(),
            (m / "beatmap_idx.json").symlink_to("/dev/zero"))[0]))),
        Case(e, "beatmap_idx.json values nan/neg", lambda d, a: Spec(cli("styles", "--ckpt", (
            m := copy_model("standard", d), write(m / "beatmap_idx.json", '{"1": NaN, "2": -5, "3": 1e300}'))[0]))),
    ]
    cs += [c for c in ckpt_damages(e, lambda d, a, m: Spec(cli("styles", "--ckpt", m)))
           if "beatmap_idx" in c.name or "model.json garbage" in c.name or "num_classes" in c.name]
    return cs


# ---------------------------------------------------------------------------------- evaluate
def evaluate_cases() -> list[Case]:
    e = "evaluate"

    def folders(d: Path, a: Assets, gen_extra: dict[str, object] | None = None) -> tuple[Path, Path]:
        g, r = d / "in" / "gen", d / "in" / "ref"
        write(g / "song" / "g.osu", osu_mania(audio="audio.wav", notes=30))
        write(r / "song" / "r.osu", osu_mania(audio="audio.wav", notes=40))
        for name, kind in (gen_extra or {}).items():
            if isinstance(kind, str) and kind in BAD_KINDS:
                bad(g / "song" / name, kind)
            else:
                write(g / "song" / name, kind)
        return g, r

    def ev(d: Path, a: Assets, extra: dict[str, object] | None = None, *flags: object) -> list[str]:
        g, r = folders(d, a, extra)
        return cli("evaluate", "--generated", g, "--reference", r, "-o", d / "out" / "report", *flags)

    cs = [
        Case(e, "--generated missing", lambda d, a: Spec(cli("evaluate", "--generated", d / "in" / "nope",
                                                             "--reference", folders(d, a)[1], "-o", d / "out" / "r"))),
        Case(e, "--reference missing", lambda d, a: Spec(cli("evaluate", "--generated", folders(d, a)[0],
                                                             "--reference", d / "in" / "nope", "-o", d / "out" / "r"))),
        Case(e, "--generated is a file", lambda d, a: Spec(cli(
            "evaluate", "--generated", write(d / "in" / "f", "x"), "--reference", folders(d, a)[1],
            "-o", d / "out" / "r"))),
        Case(e, "both empty folders", lambda d, a: Spec(cli("evaluate", "--generated", bad(d / "in" / "g", "dir"),
                                                            "--reference", bad(d / "in" / "r", "dir"),
                                                            "-o", d / "out" / "r"))),
        Case(e, "valid control (no audio)", lambda d, a: Spec(ev(d, a), ok=True)),
        Case(e, "-o is a file", lambda d, a: Spec(cli("evaluate", "--generated", (f := folders(d, a))[0],
                                                      "--reference", f[1], "-o", write(d / "out" / "f", "x")))),
        Case(e, "--audio FIFO", lambda d, a: Spec(ev(d, a, None, "--audio", bad(d / "in" / "audio.wav", "fifo")))),
        Case(e, "--audio /dev/zero", lambda d, a: Spec(ev(d, a, None, "--audio", bad(d / "in" / "audio.wav",
                                                                                      "devzero")))),
        Case(e, "--audio garbage", lambda d, a: Spec(ev(d, a, None, "--audio", bad(d / "in" / "audio.wav",
                                                                                    "garbage")))),
        Case(e, "generated chart title <script>", lambda d, a: Spec(
            ev(d, a, {"x.osu": osu_mania(title=XSS, notes=20)}), ok=True, check_inject=True)),
        Case(e, "chart audio ../secret", lambda d, a: Spec(ev(d, a, {"s.osu": osu_mania(
            audio=str(Path("..") / ".." / ".." / "secret" / "secret.wav"), notes=20)}) if secret_file(d) else [],
            check_secret=True)),
        Case(e, "zip bomb .osz in generated", lambda d, a: Spec(ev(d, a, {"b.osz": a.bomb_many.read_bytes()}))),
    ]
    for kind in ("fifo", "devzero", "garbage"):
        cs.append(Case(e, f"generated holds {kind} .osu", (lambda k: lambda d, a: Spec(ev(d, a, {"x.osu": k})))(kind)))
    return cs


# ---------------------------------------------------------------------------------- preview
def preview_cases() -> list[Case]:
    e = "preview"
    cs = file_cases(e, "chart.osu", lambda d, a, p: Spec(cli("preview", p, "-o", d / "out" / "p.png")),
                    ("missing", "fifo", "devzero", "garbage"))

    def pv(d: Path, a: Assets, text: str | None = None, *extra: object) -> list[str]:
        return cli("preview", write(d / "in" / "v.osu", text or a.mania_osu), "-o", d / "out" / "p.png", *extra)

    cs += [
        Case(e, "valid control", lambda d, a: Spec(pv(d, a), ok=True)),
        Case(e, "-o unknown extension", lambda d, a: Spec(cli("preview", write(d / "in" / "v.osu", a.mania_osu),
                                                              "-o", d / "out" / "p.txt"))),
        Case(e, "-o existing folder", lambda d, a: Spec(cli("preview", write(d / "in" / "v.osu", a.mania_osu),
                                                            "-o", d / "out"))),
        Case(e, "--index 2**70", lambda d, a: Spec(pv(d, a, None, "--index", HUGE))),
        Case(e, "--audio FIFO", lambda d, a: Spec(pv(d, a, None, "--audio", bad(d / "in" / "a.wav", "fifo")))),
        Case(e, "--audio /dev/zero", lambda d, a: Spec(pv(d, a, None, "--audio", bad(d / "in" / "a.wav",
                                                                                      "devzero")))),
        Case(e, "--audio garbage", lambda d, a: Spec(pv(d, a, None, "--audio", bad(d / "in" / "a.wav", "garbage")))),
        Case(e, "24 h long chart", lambda d, a: Spec(pv(d, a, a.mania_osu + "64,192,86000000,1,0,0:0:0:0:\n"))),
        Case(e, "osz bomb", lambda d, a: Spec(cli("preview", a.bomb_big, "-o", d / "out" / "p.png"))),
        Case(e, "unwritable out folder", unwritable(lambda d, a: pv(d, a))),
    ]
    return cs


# ---------------------------------------------------------------------------------- rhythm train
def rhythm_cases() -> list[Case]:
    e = "rhythm train"

    def rt(d: Path, a: Assets, ds: Path | None = None, *extra: object) -> list[str]:
        return cli("rhythm", "train", "--dataset", ds or copy_ds(a, d, "mania"), "-o", d / "out" / "rm",
                   "--steps", "2", "--selector-steps", "0", "--batch-size", "2", *extra)

    def damaged(how: str) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            ds = copy_ds(a, d, "mania")
            damage_index(ds, how)
            return Spec(rt(d, a, ds))
        return b

    cs = file_cases(e, "ds", lambda d, a, p: Spec(rt(d, a, p)), ("missing", "garbage"))
    cs += [Case(e, f"index.jsonl {h}", damaged(h)) for h in
           ("garbage", "truncated-line", "devzero", "fifo", "chart_file=/dev/zero",
            "mel_file=../../../secret/secret.wav")]
    cs += flag_cases(e, lambda d, a: rt(d, a), [("--steps", "0"), ("--batch-size", HUGE), ("--lr", "nan"),
                                                ("--selector-steps", "-1")])
    cs += [
        Case(e, "chart .npy huge shape header", lambda d, a: Spec(rt(d, a, (ds := copy_ds(a, d, "mania"), [
            write(p, b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 64), }"
                  .ljust(128 - 1, b" ") + b"\n") for p in ds.glob("charts/*/*.npy")])[0]))),
        Case(e, "-o is a file", lambda d, a: Spec(cli("rhythm", "train", "--dataset", copy_ds(a, d, "mania"), "-o",
                                                      write(d / "out" / "f", "x"), "--steps", "2",
                                                      "--selector-steps", "0"))),
        Case(e, "valid control (gets far)", lambda d, a: Spec(rt(d, a), ok=True)),
    ]
    return cs


# ---------------------------------------------------------------------------------- train (beatforge train / main.py)
def train_cases() -> list[Case]:
    e = "train"
    tiny = str(REPO / "configs" / "mug" / "tiny.yaml")

    def bt(d: Path, *args: object, main_py: bool = False) -> list[str]:
        tail = [*map(str, args), "-l", str(d / "out" / "logs"), "--quiet"]
        return script("main.py", "--train", *tail) if main_py else cli("train", *tail)

    def yaml_case(name: str, data: str | bytes | None, kind: str = "", main_py: bool = False) -> Case:
        def b(d: Path, a: Assets) -> Spec:
            p = bad(d / "in" / "c.yaml", kind) if kind else write(d / "in" / "c.yaml", data or b"")
            return Spec(bt(d, "-b", p, main_py=main_py))
        return Case(e, name + (" (main.py)" if main_py else ""), b)

    laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    cs = [
        yaml_case("-b missing", None, "missing"),
        yaml_case("-b FIFO", None, "fifo", main_py=True),
        yaml_case("-b /dev/zero", None, "devzero"),
        yaml_case("-b garbage", bytes(random.Random(3).getrandbits(8) for _ in range(3000)), main_py=True),
        yaml_case("-b billion laughs", laughs),
        yaml_case("-b deep nesting", "a: " + "[" * 50_000 + "]" * 50_000 + "\n"),
    ]
    cs.append(Case(e, "-b python object tag", lambda d, a: Spec(bt(d, "-b", write(
        d / "in" / "c.yaml", f"!!python/object/apply:builtins.open ['{d / 'PWNED_yaml'}', 'w']\n")),
        marker=d / "PWNED_yaml")))

    def tiny_with(*over: str, ds_how: str = "", main_py: bool = False) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            ds = copy_ds(a, d, "mania")
            if ds_how:
                damage_index(ds, ds_how)
            return Spec(bt(d, "-b", tiny, f"data.dataset=[{ds}]", "--max_steps", "2", *over, main_py=main_py))
        return b

    cs += [
        Case(e, "dataset missing", lambda d, a: Spec(bt(d, "-b", tiny, f"data.dataset=[{d / 'in' / 'nope'}]",
                                                        "--max_steps", "2"))),
        Case(e, "index.jsonl truncated line", tiny_with(ds_how="truncated-line")),
        Case(e, "index.jsonl /dev/zero", tiny_with(ds_how="devzero", main_py=True)),
        Case(e, "--max_steps -1", tiny_with("--max_steps", "-1")),
        Case(e, "--precision garbage", tiny_with("--precision", "banana")),
        Case(e, "lr nan override", tiny_with("model.base_learning_rate=nan")),
        Case(e, "batch_size 0 override", tiny_with("data.batch_size=0", main_py=True)),
        Case(e, "-n ../../escape", tiny_with("-n", "../../../escape")),
        Case(e, "-r pickle RCE", lambda d, a: Spec(bt(d, "-b", tiny, f"data.dataset=[{copy_ds(a, d, 'mania')}]",
                                                      "--max_steps", "2", "-r",
                                                      write(d / "in" / "evil.ckpt", evil_pickle(d / "PWNED_train"))),
                                                   marker=d / "PWNED_train")),
        Case(e, "-r truncated model.ckpt", lambda d, a: Spec(bt(
            d, "-b", tiny, f"data.dataset=[{copy_ds(a, d, 'mania')}]", "--max_steps", "2", "-r",
            write(d / "in" / "t.ckpt", (REPO / "models" / "ckpt" / "model.ckpt").read_bytes()[:100_000]))))
    ]
    return cs


# ---------------------------------------------------------------------------------- train.py
def trainpy_cases() -> list[Case]:
    e = "train.py"

    def tp(d: Path, a: Assets, ds: Path | None = None, *extra: object) -> list[str]:
        return script("train.py", "--data-path", ds or copy_ds(a, d), "--model", "DiT-T", "--max-steps", "2",
                      "--global-batch-size", "2", "--num-workers", "0", "--results-dir", d / "out" / "res", *extra)

    def damaged(how: str) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            ds = copy_ds(a, d)
            damage_index(ds, how)
            return Spec(tp(d, a, ds))
        return b

    cs = file_cases(e, "ds", lambda d, a, p: Spec(tp(d, a, p)), ("missing", "fifo", "garbage"))
    cs += [Case(e, f"index.jsonl {h}", damaged(h)) for h in
           ("garbage", "truncated-line", "devzero", "fifo", "chart_file=/dev/zero")]
    cs += flag_cases(e, lambda d, a: tp(d, a), [
        ("--model", "DiT-ZZ"), ("--global-batch-size", "0"), ("--seq-len", HUGE), ("--lr", "nan"),
        ("--num-classes", HUGE)])
    cs += [
        Case(e, "--ckpt state.pt pickle RCE", lambda d, a: Spec(tp(d, a, None, "--ckpt", write(
            d / "in" / "ck" / "state.pt", evil_pickle(d / "PWNED_trainpy"))), marker=d / "PWNED_trainpy")),
        Case(e, "valid control (gets far)", lambda d, a: Spec(tp(d, a), ok=True)),
    ]
    return cs


# ---------------------------------------------------------------------------------- generate_beatmap_idx.py
def gbi_cases() -> list[Case]:
    e = "generate_beatmap_idx.py"

    def g(d: Path, ds: Path, *extra: object) -> list[str]:
        return script("generate_beatmap_idx.py", "--data-path", ds, "--out", d / "out" / "idx.json", *extra)

    def damaged(how: str) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            ds = copy_ds(a, d)
            damage_index(ds, how)
            return Spec(g(d, ds))
        return b

    cs = file_cases(e, "ds", lambda d, a, p: Spec(g(d, p)), ("missing", "dir", "fifo", "garbage"))
    cs += [Case(e, f"index.jsonl {h}", damaged(h)) for h in
           ("garbage", "truncated-line", "devzero", "fifo", "deep", "map_id=1e300", "id=[1]")]
    cs += [
        Case(e, "mania dataset", lambda d, a: Spec(g(d, copy_ds(a, d, "mania")))),
        Case(e, "--out existing folder", lambda d, a: Spec(script("generate_beatmap_idx.py", "--data-path",
                                                                  copy_ds(a, d), "--out", d / "out"))),
        Case(e, "valid control", lambda d, a: Spec(g(d, copy_ds(a, d)), ok=True)),
    ]
    return cs


# ============================================================================================ chart formats
QUA_VALID = """AudioFile: audio.mp3
SongPreviewTime: 1000
MapId: 5
MapSetId: 7
Mode: Keys4
Title: T
Artist: A
DifficultyName: Hard
TimingPoints:
- StartTime: 0
  Bpm: 120
HitObjects:
- StartTime: 100
  Lane: 1
- StartTime: 200
  Lane: 2
  EndTime: 400
- StartTime: 300
  Lane: 4
- StartTime: 500
  Lane: 3
"""
SM_VALID = ("#TITLE:T;\n#ARTIST:A;\n#MUSIC:song.ogg;\n#OFFSET:0;\n#BPMS:0=120;\n#STOPS:;\n"
            "#NOTES:\n     dance-single:\n     someone:\n     Hard:\n     9:\n     0,0,0,0,0:\n"
            "1000\n0100\n0010\n0001\n,\n2000\n0000\n3000\n1001\n;\n")
SSC_VALID = ("#VERSION:0.83;\n#TITLE:T;\n#MUSIC:song.ogg;\n#OFFSET:0;\n#BPMS:0=120;\n"
             "#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#DIFFICULTY:Hard;\n#METER:9;\n"
             "#NOTES:\n1000\n0100\n0010\n0001\n,\n1100\n0000\n0011\n0000\n;\n")
TUI_VALID = ('{"title": "T", "bpm": 120, "offset": 0, "lanes": 4, "notes": '
             '[{"beat": 0, "lane": 0}, {"beat": 1, "lane": 1, "duration": 1}, {"beat": 2.5, "lane": 3}, '
             '{"beat": 3, "lane": 2}]}')
INI_VALID = "[song]\nname = T\nartist = A\ndelay = 0\n"
HOSTILE_NUMBERS = ["1e300", "-1e300", "inf", "nan", "1e999", HUGE, "9" * 5000, "-1", "0", "4.9e-324"]


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, bytes]], declared: int | None = None, end: bool = True) -> bytes:
    body = b"".join(_vlq(delta) + ev for delta, ev in events) + (b"\x00\xff\x2f\x00" if end else b"")
    return b"MTrk" + struct.pack(">I", len(body) if declared is None else declared) + body


def midi(notes: list[tuple[int, int, int]] | None = None, tempo: int = 500000, tpb: int = 480, fmt: int = 1,
         ntracks: int | None = None, declared: int | None = None, end: bool = True, extra: bytes = b"") -> bytes:
    """A notes.mid: tempo track + one track of (delta_on, pitch, length) notes (96-100: expert frets)."""
    if notes is None:
        notes = [(240, 96 + i % 5, 120 if i % 4 else 480) for i in range(24)]
    evs: list[tuple[int, bytes]] = [(0, b"\xff\x03\x0bPART GUITAR")]
    if extra:
        evs.append((0, extra))
    for delta, pitch, length in notes:
        evs += [(delta, bytes([0x90, pitch, 100])), (length, bytes([0x80, pitch, 0]))]
    tracks = [_track([(0, b"\xff\x51\x03" + tempo.to_bytes(3, "big"))]), _track(evs, declared, end)]
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks) if ntracks is None else ntracks, tpb) + b"".join(tracks)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(b) + 1)
        op = rng.random()
        if op < 0.3 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op < 0.55:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.8 and b:
            del b[pos:pos + rng.randint(1, 24)]
        else:
            start = rng.randrange(len(b) + 1)
            b[pos:pos] = b[start:start + rng.randint(1, 64)] * rng.randint(1, 4)
    return bytes(b)


def generic_mutations(valid: bytes) -> list[tuple[str, bytes, bool]]:
    """(name, bytes, ok) common to every format."""
    out: list[tuple[str, bytes, bool]] = [("valid", valid, True)]
    out += [(f"truncated {p}%", valid[: len(valid) * p // 100], False) for p in (1, 10, 25, 50, 75, 90, 99)]
    out.append(("empty", b"", False))
    out += [(f"random bytes {s}", bytes(random.Random(s).getrandbits(8) for _ in range(2000)), False)
            for s in range(3)]
    out += [(f"mutation {s}", _mutate(valid, random.Random(f"m{s}")), False) for s in range(3)]
    out.append(("NUL bytes", valid.replace(b"\n", b"\n\x00", 3), False))
    out.append(("5 MB line", valid + b"x" * 5_000_000 + b"\n", False))
    out.append(("utf-16", valid.decode("latin-1").encode("utf-16"), False))
    return out


def text_format_cases(fmt: str, fname: str, valid: str, fields: list[tuple[str, str, str]], dup: str,
                      deep: str, many: Callable[[int], str]) -> list[Case]:
    """``fields``: (label, the valid text's substring, a template with {} for the hostile number)."""
    muts = generic_mutations(valid.encode())
    muts.append(("BOM + CRLF", b"\xef\xbb\xbf" + valid.replace("\n", "\r\n").encode(), True))
    for i, (label, old, template) in enumerate(fields):
        for num in (["1e300", "inf", "nan", HUGE, "-1"] if i == 0 else ["1e300", "nan"]):
            muts.append((f"{label}={num[:10]}", valid.replace(old, template.format(num), 1).encode(), False))
    muts.append(("duplicated section x2000", (valid + dup * 2000).encode(), False))
    muts.append(("deep nesting", deep.encode(), False))
    muts.append(("200k notes", many(200_000).encode(), False))
    muts.append(("note at 24 h", valid.replace(fields[0][1], fields[0][2].format("86400000"), 1).encode(), False))

    def builder(data: bytes) -> Callable[[Path, Assets], Spec]:
        return lambda d, a: Spec(cli("analyze", write(d / "in" / fname, data), "--all"))

    return [Case(fmt, name, builder(data)) if not ok else
            Case(fmt, name, (lambda dd: lambda d, a: Spec(cli("analyze", write(d / "in" / fname, dd), "--all"),
                                                          ok=True))(data))
            for name, data, ok in muts]


def osu_format_cases() -> list[Case]:
    valid = osu_mania(notes=16)

    def many(n: int) -> str:
        return valid + "".join(f"64,192,{10000 + i},1,0,0:0:0:0:\n" for i in range(n))
    return text_format_cases(
        ".osu", "c.osu", valid,
        [("note time", "64,192,500,1", "64,192,{},1"), ("beat length", "500,500,4", "500,{},4"),
         ("CircleSize", "CircleSize:4", "CircleSize:{}"), ("LN end", f"{500 + 250 * 4}:0:0:0:0:",
                                                           "{}:0:0:0:0:"), ("Mode", "Mode: 3", "Mode: {}")],
        "\n[HitObjects]\n64,192,9000,1,0,0:0:0:0:\n", "[" * 200_000 + "\n", many)


def qua_format_cases() -> list[Case]:
    def many(n: int) -> str:
        return QUA_VALID + "".join(f"- StartTime: {600 + i}\n  Lane: {1 + i % 4}\n" for i in range(n))
    return text_format_cases(
        ".qua", "c.qua", QUA_VALID,
        [("StartTime", "StartTime: 100", "StartTime: {}"), ("Bpm", "Bpm: 120", "Bpm: {}"),
         ("EndTime", "EndTime: 400", "EndTime: {}"), ("Lane", "Lane: 1", "Lane: {}"),
         ("SongPreviewTime", "SongPreviewTime: 1000", "SongPreviewTime: {}")],
        "HitObjects:\n- StartTime: 9000\n  Lane: 1\n", "HitObjects: " + "[" * 100_000 + "\n", many)


def sm_format_cases() -> list[Case]:
    def many(n: int) -> str:
        return SM_VALID.replace("1001\n;", "1001\n," + "\n".join(["1000\n0100\n0010\n0001"] * (n // 4)) + "\n;")
    cs = text_format_cases(
        ".sm/.ssc", "c.sm", SM_VALID,
        [("BPMS", "#BPMS:0=120;", "#BPMS:0={};"), ("OFFSET", "#OFFSET:0;", "#OFFSET:{};"),
         ("STOPS", "#STOPS:;", "#STOPS:1={};"), ("BPM beat", "#BPMS:0=120;", "#BPMS:0=120,{}=60;")],
        "#NOTES:\n dance-single:\n x:\n Hard:\n 9:\n 0:\n1000\n;\n", "#NOTES:" + ":" * 200_000 + ";\n", many)
    ssc = [("ssc valid", SSC_VALID, True), ("ssc BPMS nan", SSC_VALID.replace("0=120", "0=nan"), False),
           ("ssc BPMS 1e300", SSC_VALID.replace("0=120", "0=1e300"), False),
           ("ssc chart BPMS 0", SSC_VALID.replace("#METER:9;", "#METER:9;\n#BPMS:0=0;"), False),
           ("ssc no NOTES end", SSC_VALID[:-3], False),
           ("ssc 10k NOTEDATA", SSC_VALID + SSC_VALID[SSC_VALID.index("#NOTEDATA"):] * 10_000, False)]
    def builder(text: str, ok: bool) -> Callable[[Path, Assets], Spec]:
        return lambda d, a: Spec(cli("analyze", write(d / "in" / "c.ssc", text), "--all"), ok=ok)

    cs += [Case(".sm/.ssc", n, builder(t, o)) for n, t, o in ssc]
    return cs


def tui_format_cases() -> list[Case]:
    def many(n: int) -> str:
        return json.dumps({"title": "T", "bpm": 120, "offset": 0, "lanes": 4,
                           "notes": [{"beat": i / 4, "lane": i % 4} for i in range(n)]})
    return text_format_cases(
        "tui .json", "c.json", TUI_VALID,
        [("beat", '"beat": 0,', '"beat": {},'), ("bpm", '"bpm": 120', '"bpm": {}'),
         ("lanes", '"lanes": 4', '"lanes": {}'), ("duration", '"duration": 1', '"duration": {}'),
         ("offset", '"offset": 0', '"offset": {}')],
        ', "notes": []', '{"notes": ' + "[" * 200_000 + "]" * 200_000 + "}", many)


def fof_format_cases() -> list[Case]:
    e = "FoF notes.mid"
    valid = midi()
    muts: list[tuple[str, bytes, str, bool]] = [(n, b, INI_VALID, ok) for n, b, ok in generic_mutations(valid)]
    muts += [(n, b, INI_VALID, False) for n, b in [
        ("tempo 0", midi(tempo=0)), ("tempo 0xFFFFFF", midi(tempo=0xFFFFFF)), ("tpb 0", midi(tpb=0)),
        ("tpb 1", midi(tpb=1)), ("SMPTE division", midi(tpb=0xE250)), ("delta 0x0FFFFFFF", midi(
            notes=[(0x0FFFFFFF, 96, 10), (10, 97, 10)])), ("5-byte VLQ delta", midi(notes=[(2 ** 35, 96, 10)])),
        ("track length 0xFFFFFFFF", midi(declared=0xFFFFFFFF)), ("ntracks 65535", midi(ntracks=65535)),
        ("no end of track", midi(end=False)), ("note on without off", midi()[:-12] + b"\x00\xff\x2f\x00"),
        ("sysex 2**28 length", midi(extra=b"\xf0" + _vlq(2 ** 28 - 1) + b"\xf7")),
        ("format 2", midi(fmt=2)), ("200k notes", midi(notes=[(1, 96 + i % 5, 1) for i in range(200_000)])),
        ("pitches out of range", midi(notes=[(100, p, 50) for p in (0, 127, 59, 101)])),
        ("running status garbage", midi(extra=b"\x90\x60")),
    ]]
    muts += [(n, valid, ini, ok) for n, ini, ok in [
        ("ini delay 1e300", INI_VALID.replace("delay = 0", "delay = 1e300"), False),
        ("ini delay nan", INI_VALID.replace("delay = 0", "delay = nan"), False),
        ("ini delay inf", INI_VALID.replace("delay = 0", "delay = inf"), False),
        ("ini delay 2**70", INI_VALID.replace("delay = 0", f"delay = {HUGE}"), False),
        ("ini garbage", "\x00\xff[[[=", False), ("ini empty", "", True),
        ("ini no section", "name = T\n", True), ("ini 10k sections", INI_VALID * 10_000, False),
        ("ini name with newline", "[song]\nname = a\\n[Injected]\ndelay=0\n", True),
    ]]

    def builder(mid: bytes, ini: str | None, ok: bool) -> Callable[[Path, Assets], Spec]:
        def b(d: Path, a: Assets) -> Spec:
            f = d / "in" / "song"
            write(f / "notes.mid", mid)
            if ini is not None:
                write(f / "song.ini", ini)
            return Spec(cli("analyze", f, "--all"), ok=ok)
        return b

    cs = [Case(e, n, builder(m, i, ok)) for n, m, i, ok in muts]
    cs += [Case(e, "song.ini missing", builder(valid, None, False)),
           Case(e, "notes.mid FIFO", lambda d, a: Spec(cli("analyze", (bad(d / "in" / "s" / "notes.mid", "fifo"),
                                                                       d / "in" / "s")[1]))),
           Case(e, "notes.mid -> /dev/zero", lambda d, a: Spec(cli("analyze", bad(d / "in" / "s" / "notes.mid",
                                                                                   "devzero"))))]
    return cs


ENTRY_POINTS: dict[str, Callable[[], list[Case]]] = {
    "analyze": analyze_cases, "convert": convert_cases, "dataset build": dataset_cases,
    "generate": generate_cases, "remap": remap_cases, "styles": styles_cases, "evaluate": evaluate_cases,
    "preview": preview_cases, "rhythm train": rhythm_cases, "train": train_cases, "train.py": trainpy_cases,
    "sample.py": sample_cases, "generate_beatmap_idx.py": gbi_cases,
    ".osu": osu_format_cases, ".qua": qua_format_cases, ".sm/.ssc": sm_format_cases,
    "tui .json": tui_format_cases, "FoF notes.mid": fof_format_cases,
}


# ============================================================================================ assets
def build_assets(root: Path) -> Assets:
    root.mkdir(parents=True)
    wav = root / "song.wav"
    write_wav(wav)
    std = osu_standard()
    mania = osu_mania()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    # the standard dataset: 3 maps of one song
    for i in range(3):
        write(root / "songs_std" / "s" / f"m{i}.osu", osu_standard(bid=1000 + i, title=f"T{i}"))
    # the mania dataset: 2 songs with audio, one of them held out for validation
    for i in range(2):
        write(root / "songs_mania" / f"s{i}" / "m.osu", osu_mania(title=f"Song{i}", notes=28))
        shutil.copy(wav, root / "songs_mania" / f"s{i}" / "audio.wav")
    for name, mode, extra in (("ds_std", "standard", []), ("ds_mania", "mania", ["--val-fraction", "0.5"])):
        src = root / ("songs_std" if mode == "standard" else "songs_mania")
        r = subprocess.run([PYTHON, *cli("dataset", "build", "--songs", src, "--mode", mode, "--out", root / name,
                                         "--quiet", "--workers", "1", *extra)],
                           cwd=root, env=env, capture_output=True, text=True, timeout=300)
        if r.returncode:
            sys.exit(f"could not build the {mode} dataset: {r.stderr.strip()[-500:]}")
    bomb_big = root / "bomb_big.osz"
    with zipfile.ZipFile(bomb_big, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, zf.open("a.osu", "w",
                                                                                              force_zip64=True) as f:
        f.write(b"osu file format v14\n[HitObjects]\n")
        chunk = b"\0" * (1 << 24)
        for _ in range(600 // 16):
            f.write(chunk)
    bomb_many = root / "bomb_many.osz"
    with zipfile.ZipFile(bomb_many, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zero = b"\0" * (1 << 20)
        for i in range(3000):
            zf.writestr(f"c{i}.osu", zero)
    return Assets(root, wav, std, mania, root / "ds_std", root / "ds_mania", bomb_big, bomb_many)


# ============================================================================================ running
def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        rel_dir = os.path.relpath(dirpath, d)
        if rel_dir == "_log" or rel_dir.startswith("_log" + os.sep):
            continue
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[os.path.relpath(p, d)] = (st.st_size, st.st_mtime_ns)
    return out


def _contains(path: Path, needle: bytes, limit: int = 256 << 20) -> bool:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist()[:5000]:
                    if info.file_size <= limit and needle in zf.read(info):
                        return True
        with open(path, "rb") as f:
            tail = b""
            read = 0
            while read < limit:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                if needle in tail + chunk:
                    return True
                tail = chunk[-len(needle):]
                read += len(chunk)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError, NotImplementedError):
        pass
    return False


def _osu_texts(path: Path) -> list[str]:
    texts = []
    try:
        if path.suffix in (".osz", ".zip"):
            with zipfile.ZipFile(path) as zf:
                texts += [zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".osu")]
        elif path.suffix in (".osu", ".html", ".htm", ".json"):
            texts.append(path.read_text("utf-8", "replace"))
    except (OSError, zipfile.BadZipFile):
        pass
    return texts


def _stderr_lines(text: str) -> list[str]:
    """stderr's lines, without an argparse usage block and without progress-bar redraws."""
    lines = [ln.split("\r")[-1].rstrip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if lines and lines[0].startswith("usage:"):
        i = 1
        while i < len(lines) and lines[i].startswith(" "):
            i += 1
        lines = lines[i:]
    return lines


def run_case(case: Case, assets: Assets, tmp_root: Path, idx: int) -> Result | None:
    d = tmp_root / f"case{idx:04d}"
    for sub in ("in", "out", "work", "_log"):
        (d / sub).mkdir(parents=True)
    (d / "work" / "configs").symlink_to(REPO / "configs")
    (d / "work" / "models").symlink_to(REPO / "models")
    try:
        spec = case.build(d, assets)
    except Exception as exc:  # noqa: BLE001  (a case that cannot be built is reported, not fatal)
        return Result(case.entry, case.name, "other", None, 0.0, f"benchmark could not build the case: {exc!r}",
                      0, note="build error")
    if spec.skip:
        return Result(case.entry, case.name, "skipped", None, 0.0, spec.skip, 0)
    before = snapshot(d)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": "", "MPLCONFIGDIR": str(assets.root / "mpl"), "TQDM_DISABLE": "1"}
    env.pop("BEATFORGE_DEBUG", None)
    cmd = ["prlimit", f"--as={MEM_BYTES}", f"--fsize={MEM_BYTES}", "--", "timeout", "-s", "KILL", str(TIMEOUT_S),
           PYTHON, *spec.argv]
    out_f, err_f = d / "_log" / "stdout", d / "_log" / "stderr"
    t0 = time.perf_counter()
    with open(out_f, "wb") as so, open(err_f, "wb") as se:
        proc = subprocess.Popen(cmd, cwd=d / "work", env=env, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT_S + 20)
        except subprocess.TimeoutExpired:
            rc = -9
        wall = time.perf_counter() - t0
        try:  # whatever this case's process group left running (worker processes)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    (d / "out").chmod(0o700)
    with open(err_f, "rb") as f:
        stderr = f.read(1 << 20).decode("utf-8", "replace")
    lines = _stderr_lines(stderr)
    after = snapshot(d)
    new = [p for p in after if p not in before]
    left = sorted(p for p in new if not ((d / p).is_dir() and any(q.startswith(p + os.sep) for q in new)))
    left += sorted(f"{p} (modified)" for p in before if p in after and after[p] != before[p]
                   and not (d / p).is_dir())
    first = lines[0][:200] if lines else ""
    note = ""

    def written_files() -> list[Path]:
        return [d / p for p in after if p not in before or after[p] != before[p]
                if (d / p).is_file() and not (d / p).is_symlink()]

    category = ""
    if spec.check_secret:
        hits = [str(p.relative_to(d)) for p in [out_f, err_f, *written_files()] if _contains(p, SECRET)]
        if hits:
            category, note = "leak", "secret bytes in " + ", ".join(hits[:4])
    if not category and spec.check_inject:
        for p in written_files():
            for text in _osu_texts(p):
                if re.search(r"^\s*\[Injected\]", text, re.M) or "<script>BFXSS" in text:
                    category, note = "injection", f"in {p.relative_to(d)}"
    if not category and spec.marker is not None and spec.marker.exists():
        category, note = "injection", "pickle ran code (marker file created)"
    if not category:
        if rc in (137, -9, 124) or rc < 0 or rc == 128 + 25 or any(t in stderr for t in MEMORY_TEXT) \
                or wall >= TIMEOUT_S:
            category = "hang/DoS"
            note = "killed" if rc in (137, -9) else ("memory" if any(t in stderr for t in MEMORY_TEXT)
                                                      else f"rc {rc}, {wall:.1f} s")
        elif "Traceback" in stderr:
            category = "traceback"
            first = [ln for ln in lines if ln and not ln.startswith(" ")][-1][:200] if lines else first
        elif rc == 0:
            category = "ok-accepted" if spec.ok else "accepted"
        elif spec.ok:
            category, note = "other", "valid control rejected"
        elif rc == 2 and len(lines) == 1:
            category = "left files" if left else "clean"
        else:
            category, note = "other", f"{len(lines)} stderr lines"
    escaped = [p for p in left if p.split(os.sep)[0] not in ("out", "work")]
    if escaped:
        note = (note + "; " if note else "") + "wrote outside its folders: " + ", ".join(escaped[:3])
    return Result(case.entry, case.name, category, rc, round(wall, 2), first, len(lines), left[:12], note)


# ============================================================================================ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(ENTRY_POINTS), help="run one entry point (or chart format)")
    ap.add_argument("--jobs", type=int, default=2, help="cases in parallel (default 2)")
    ap.add_argument("--json", type=Path, help="write every row to this JSON file")
    args = ap.parse_args()
    t_start = time.perf_counter()
    names = [args.only] if args.only else list(ENTRY_POINTS)
    cases = [c for n in names for c in ENTRY_POINTS[n]()]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bf-hostile-") as tmp:
        tmp_root = Path(tmp)
        print(f"building shared assets in {tmp_root} ...", flush=True)
        assets = build_assets(tmp_root / "assets")
        print(f"running {len(cases)} cases with {args.jobs} jobs ...", flush=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_case, c, assets, tmp_root, i): c for i, c in enumerate(cases)}
            for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                r = fut.result()
                if r is not None:
                    results.append(r)
                if n % 25 == 0:
                    print(f"  {n}/{len(cases)} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
        for dirpath, dirnames, _ in os.walk(tmp_root):  # chmod'ed folders: make sure cleanup can remove them
            for dn in dirnames:
                p = os.path.join(dirpath, dn)
                if not os.path.islink(p):
                    os.chmod(p, 0o700)
    key = {(c.entry, c.name): i for i, c in enumerate(cases)}
    results.sort(key=lambda r: key.get((r.entry, r.name), 0))
    print_report(results, names)
    print(f"\ntotal wall time: {time.perf_counter() - t_start:.0f} s for {len(results)} cases")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


def print_report(results: list[Result], names: list[str]) -> None:
    head = ["entry point", "cases", *CATEGORIES]
    rows = []
    for n in names:
        rs = [r for r in results if r.entry == n and r.category != "skipped"]
        rows.append([n, str(len(rs)), *(str(sum(r.category == c for r in rs)) for c in CATEGORIES)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print()
    print(fmt.format(*head))
    print(fmt.format(*("-" * w for w in widths)))
    for r in rows:
        print(fmt.format(*r))
    skipped = [r for r in results if r.category == "skipped"]
    if skipped:
        print("\nskipped: " + "; ".join(f"{r.entry} / {r.name} ({r.first_line})" for r in skipped))
    print("\nnon-clean cases (entry point | case | category | rc | wall s | first stderr line | note / left files):")
    for r in results:
        if r.category in ("clean", "ok-accepted", "skipped"):
            continue
        extra = r.note
        if r.left:
            extra = (extra + "; " if extra else "") + "left: " + ", ".join(r.left[:4])
        print(f"  {r.entry} | {r.name} | {r.category} | {r.rc} | {r.wall_s} | {r.first_line!r} | {extra}")


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = max(io.DEFAULT_BUFFER_SIZE, 1 << 16)
    main()
