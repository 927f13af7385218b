"""Hostile files at the file layer and the shared error boundary (issue 14): audio a chart names is resolved inside
the chart's folder only (no file from elsewhere on the user's disk ends up in an exported set), readers take
regular files only and read within a budget (FIFOs, devices), archives have a budget over their whole expanded
size and their charts, corrupt indexes and model folders give one line, and every entry point answers with one
line and the documented exit code (2 bad input, 130 Ctrl-C, 143 SIGTERM), leaving nothing half-written.

Every file here is made by the test in a temporary folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from beatforge.archive import chart_members, checked_infos
from beatforge.boundary import run_guarded
from beatforge.errors import ArchiveError, BeatforgeError, ChartError
from beatforge.fileio import file_in_folder, read_bounded

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"RIFF-private-recording-" + bytes(range(256)) * 8
OSU = ("osu file format v14\n[General]\nAudioFilename: {audio}\nMode: 3\n[Metadata]\nTitle:t\nVersion:v\n"
       "[Difficulty]\nCircleSize:4\n[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n"
       "64,192,1000,1,0,0:0:0:0:\n192,192,1500,1,0,0:0:0:0:\n")


def _cli(*argv: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beatforge.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _one_line(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _wav(path: Path, seconds: float = 3.0) -> None:
    t = np.arange(int(22050 * seconds)) / 22050
    y = (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes((y * 32767).astype("<i2").tobytes())


# ----------------------------------------------------------------------------------- audio stays in its folder
def _chart(folder: Path, name: str, text: str) -> Path:
    """``text`` written as ``folder/name`` (the folder made)."""
    folder.mkdir()
    (folder / name).write_text(text)
    return folder / name


def _leak_cases(tmp: Path) -> list[tuple[str, Path]]:
    """(name, chart path) of charts whose audio name points at ``tmp/secret/private.wav``."""
    secret = tmp / "secret" / "private.wav"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    cases = [(f".osu {name}", _chart(tmp / f"osu-{name.replace(' ', '-')}", "m.osu", OSU.format(audio=audio)))
             for name, audio in (("absolute", str(secret)), ("dotdot", "../secret/private.wav"),
                                 ("backslash dotdot", "..\\secret\\private.wav"))]
    chart = _chart(tmp / "osu-symlink", "m.osu", OSU.format(audio="audio.wav"))
    (chart.parent / "audio.wav").symlink_to(secret)
    cases.append((".osu symlink out", chart))
    cases.append((".sm #MUSIC ../", _chart(tmp / "sm", "s.sm", (
        "#TITLE:t;\n#MUSIC:../secret/private.wav;\n#OFFSET:0;\n#BPMS:0=120;\n#NOTES:\n dance-single:\n x:\n"
        " Beginner:\n 1:\n 0,0,0,0,0:\n1000\n0100\n0010\n0001\n;\n"))))
    cases.append(("tui song_path absolute", _chart(tmp / "tui", "c.json", json.dumps(
        {"bpm": 120, "song_path": str(secret), "lanes": 4,
         "notes": [{"beat": b, "lane": b % 4} for b in range(8)]}))))
    cases.append((".qua AudioFile ../", _chart(tmp / "qua", "q.qua", (
        "AudioFile: ../secret/private.wav\nMode: Keys4\nTitle: t\nDifficultyName: d\nTimingPoints:\n- Bpm: 120\n"
        "HitObjects:\n- StartTime: 500\n  Lane: 1\n- StartTime: 1000\n  Lane: 2\n"))))
    return cases


def test_no_chart_reaches_a_file_outside_its_folder(tmp_path: Path) -> None:
    for name, chart in _leak_cases(tmp_path):
        out = tmp_path / "out" / f"{chart.parent.name}.osz"
        proc = _cli("convert", str(chart), "-o", str(out))
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        if out.exists():
            with zipfile.ZipFile(out) as zf:
                assert all(zf.read(i) != SECRET for i in zf.infolist()), f"{name}: the private file was packaged"
        else:
            assert proc.returncode == 2, (name, proc.returncode, proc.stderr)
            _one_line(proc)


def test_file_in_folder_refuses_every_way_out(tmp_path: Path) -> None:
    (tmp_path / "song").mkdir()
    (tmp_path / "song" / "Audio.MP3").write_bytes(b"x")
    (tmp_path / "outside.mp3").write_bytes(b"x")
    (tmp_path / "song" / "link.mp3").symlink_to(tmp_path / "outside.mp3")
    os.mkfifo(tmp_path / "song" / "fifo.mp3")
    song = tmp_path / "song"
    assert file_in_folder(song, "audio.mp3") == song / "Audio.MP3"  # osu! maps are made on Windows
    for bad in (str(tmp_path / "outside.mp3"), "../outside.mp3", "..\\outside.mp3", "a/../../outside.mp3",
                "link.mp3", "fifo.mp3", "C:\\x.mp3", "\x00", "", ".", ".."):
        assert file_in_folder(song, bad) is None, bad


# --------------------------------------------------------------------------------------- bounded, regular reads
def test_fifo_and_device_charts_are_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.osu")
    (tmp_path / "zero.osu").symlink_to("/dev/zero")
    for name in ("pipe.osu", "zero.osu"):
        with pytest.raises(ChartError, match="not a regular file"):
            read_bounded(tmp_path / name, max_bytes=1 << 20, what="an .osu file")
        t0 = time.perf_counter()
        proc = _cli("analyze", str(tmp_path / name), timeout=30)
        assert proc.returncode == 2 and time.perf_counter() - t0 < 30, proc.stderr
        _one_line(proc)


def test_a_file_past_its_budget_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.osu").write_bytes(b"x" * 2048)
    with pytest.raises(ChartError, match="too large"):
        read_bounded(tmp_path / "big.osu", max_bytes=1024, what="an .osu file")
    assert read_bounded(tmp_path / "big.osu", max_bytes=2048, what="an .osu file") == b"x" * 2048


# ------------------------------------------------------------------------------------------------- archives
def test_many_small_bombs_do_not_pass_one_by_one(tmp_path: Path) -> None:
    """300 members of 1 MiB of zeros: each under the old 1 MiB threshold, 300 MiB together at ~1000:1."""
    bomb = tmp_path / "bomb.osz"
    block = b"\x00" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(300):
            zf.writestr(f"m{i:04d}.osu", block)
    with pytest.raises(ArchiveError, match="zip bomb"):
        checked_infos(bomb)
    proc = _cli("analyze", str(bomb), "--index", "0")
    assert proc.returncode == 2 and "zip bomb" in proc.stderr
    _one_line(proc)


def test_an_archive_of_too_many_charts_is_refused(tmp_path: Path) -> None:
    many = tmp_path / "many.osz"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(300):
            zf.writestr(f"d{i:03d}.osu", OSU.format(audio="a.mp3"))
    with pytest.raises(ArchiveError, match="charts"):
        chart_members(many, (".osu",))
    proc = _cli("analyze", str(many), "--index", "0")
    assert proc.returncode == 2
    _one_line(proc)


# ----------------------------------------------------------------------------------- indexes and model folders
def test_a_corrupt_index_line_is_one_clear_error(tmp_path: Path) -> None:
    from beatforge.data.build import INDEX_NAME, read_index

    (tmp_path / INDEX_NAME).write_text('{"mode": "mania"}\n{"mode": trunc\n', encoding="utf-8")
    with pytest.raises(BeatforgeError, match="line 2"):
        read_index(tmp_path)


@pytest.mark.parametrize("damage", ["model.json not JSON", "model.json nested", "model.json no config",
                                    "beatmap_idx.json a list", "beatmap_idx.json NaN", "styles.json a list",
                                    "model.safetensors garbage"])
def test_a_damaged_dit_folder_is_one_line(damage: str, tmp_path: Path) -> None:
    import shutil

    src = ROOT / "models" / "standard"
    if not (src / "model.json").is_file():
        pytest.skip("no shipped models/standard in this checkout")
    d = tmp_path / "dit"
    shutil.copytree(src, d)
    file, what = damage.split(" ", 1)
    target = d / file
    target.write_bytes({"not JSON": b"{oops", "nested": b"[" * 200000, "no config": b'{"format": 1}',
                        "a list": b"[1, 2]", "NaN": b'{"1": NaN}', "garbage": b"\x00" * 64}[what])
    if file.startswith("model"):
        std = tmp_path / "std.osu"
        std.write_text("osu file format v14\n[General]\nAudioFilename: a.mp3\nMode: 0\n[Metadata]\nTitle:t\n"
                       "Version:v\n[Difficulty]\nCircleSize:4\nSliderMultiplier:1.4\n[TimingPoints]\n"
                       "0,500,4,1,0,100,1,0\n[HitObjects]\n"
                       + "".join(f"{64 + 40 * i},{100 + 20 * i},{500 * (i + 1)},1,0,0:0:0:0:\n" for i in range(12)))
        proc = _cli("remap", str(std), "--ckpt", str(d), "-o", str(tmp_path / "out.osu"), "--steps", "2")
    else:
        proc = _cli("styles", "--ckpt", str(d))
    assert proc.returncode == 2, proc.stderr
    _one_line(proc)


# ------------------------------------------------------------------------------------------- the boundary
@pytest.mark.parametrize("exc, code", [(ValueError("bad number"), 2), (ZeroDivisionError("float division"), 2),
                                       (RecursionError("deep"), 2), (UnicodeEncodeError("utf-8", "x", 0, 1, "no"), 2),
                                       (MemoryError(), 2), (KeyboardInterrupt(), 130), (RuntimeError("bug"), 1),
                                       (PermissionError(13, "Permission denied", "/x"), 2)])
def test_the_boundary_gives_one_line_and_a_code(exc: BaseException, code: int, capsys, monkeypatch) -> None:
    monkeypatch.delenv("BEATFORGE_DEBUG", raising=False)

    def fail():
        raise exc

    assert run_guarded("prog", fail) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("prog: ")


@pytest.mark.parametrize("signalled, code", [("Terminated", 143), ("KeyboardInterrupt", 130)])
def test_a_signal_inside_a_librarys_cleanup_still_reads_as_the_signal(signalled: str, code: int, capsys,
                                                                        monkeypatch) -> None:
    """CI once saw SIGTERM land in omegaconf's flag restore, which then failed with an error of its own and dropped
    the chain (the error below is raised outside the handler, as omegaconf's is)."""
    monkeypatch.delenv("BEATFORGE_DEBUG", raising=False)
    signum = signal.SIGTERM if signalled == "Terminated" else signal.SIGINT

    def fail():
        try:
            signal.raise_signal(signum)
        except BaseException:
            pass
        raise AttributeError("'NoneType' object has no attribute '_invalidate_flags_cache'")

    assert run_guarded("prog", fail) == code
    err = capsys.readouterr().err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1, err


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    chart = tmp_path / "m.osu"
    chart.write_text(OSU.format(audio="a.mp3"))
    proc = subprocess.run(f"{sys.executable} -m beatforge.cli analyze {chart} | head -c 1", shell=True,
                          capture_output=True, text=True, timeout=60)
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("delay", [1.5, 4.0, 7.0])
def test_sigterm_leaves_nothing_half_written(delay: float, tmp_path: Path) -> None:
    _wav(tmp_path / "song.wav", 12.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "beatforge.cli", "generate", str(tmp_path / "song.wav"),
                             "-o", str(out), "--steps", "4", "--sr", "2", "--sr", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    # -15: the signal came while Python was still starting (before any handler exists, nothing is written yet)
    assert proc.returncode in (0, 143, -signal.SIGTERM), err
    assert "Traceback" not in err, err
    if proc.returncode == 143:
        assert "terminated" in err
    left = [p.name for p in out.rglob("*")] if out.exists() else []
    assert not [n for n in left if n.endswith(".part")], left
    osu = [n for n in left if n.endswith(".osu")]
    assert len(osu) in (0, 2) and (not osu or any(n.endswith(".osz") for n in left)), left  # a whole set or none


# ---------------------------------------------------------------------------------------------- injection
@pytest.mark.parametrize("evil", ["t\n[Events]\n0,0,\"x.png\",0,0", "t\r\n[HitObjects]", "t\u2028[Events]",
                                  "t\x85[Colours]", "t\x00\x1b[31m"])
def test_text_cannot_write_sections_into_a_chart(evil: str) -> None:
    from beatforge.charts.chart import ChartMeta, ManiaChart
    from beatforge.formats.osu import mania_to_beatmap, parse_osu, write_osu

    chart = ManiaChart(4, np.array([1000.0, 1500.0]), np.full(2, np.nan), np.array([0, 1]),
                       meta=ChartMeta(title=evil, artist=evil, version=evil, creator=evil))
    text = write_osu(mania_to_beatmap(chart, audio_filename=evil))
    sections = [line for line in text.split("\r\n") if line.startswith("[")]
    assert sections == ["[General]", "[Editor]", "[Metadata]", "[Difficulty]", "[Events]", "[TimingPoints]",
                        "[HitObjects]"], sections
    back = parse_osu(text.encode(), path="x.osu")
    assert "\n" not in back.metadata["Title"] and len(back.hit_objects) == 2


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def test_sigterm_stops_dataset_build_and_its_workers(tmp_path: Path) -> None:
    songs = ROOT.parent / "shared" / "data" / "songs"
    if not songs.is_dir():
        pytest.skip("../shared/data/songs is absent: no songs to build a dataset from")
    proc = subprocess.Popen([sys.executable, "-m", "beatforge.cli", "dataset", "build", "--songs", str(songs),
                             "--out", str(tmp_path / "ds"), "--workers", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(_descendants(proc.pid)) < 2:
        time.sleep(0.2)
    time.sleep(2.0)
    workers = _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 143), err
    assert "Traceback" not in err, err
    time.sleep(1.0)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()
             and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"workers still running after SIGTERM: {alive}"
    assert not [p.name for p in (tmp_path / "ds").rglob("*.part")]


@pytest.mark.parametrize("argv, needle", [
    (["beatforge", "train", "--train", "-b", "configs/mug/tiny.yaml", "--precision", "bogus"], "--precision"),
    (["beatforge", "train", "--train", "-b", "configs/mug/tiny.yaml", "--devices", "-1"], "--devices"),
    (["beatforge", "train", "--train", "-b", "configs/mug/tiny.yaml", "--max-steps", "0"], "--max-steps"),
    (["beatforge", "train", "--train", "-b", "configs/mug/tiny.yaml", "--gpus", "x,"], "--gpus"),
    (["beatforge", "rhythm", "train", "--dataset", "nowhere", "-o", "out", "--batch-size", "0"], "--batch-size"),
    (["beatforge", "rhythm", "train", "--dataset", "nowhere", "-o", "out", "--steps", "0"], "--steps"),
    (["beatforge", "rhythm", "train", "--dataset", "nowhere", "-o", "out", "--lr", "nan"], "--lr"),
    (["train.py", "--data-path", "nowhere", "--log-every", "0"], "--log-every"),
    (["train.py", "--data-path", "nowhere", "--ckpt-every", "0"], "--ckpt-every"),
    (["train.py", "--data-path", "nowhere", "--stride", "0"], "--stride"),
    (["train.py", "--data-path", "nowhere", "--global-batch-size", "0"], "--global-batch-size"),
    (["train.py", "--data-path", "nowhere", "--lr", "nan"], "--lr"),
    (["train.py", "--data-path", "nowhere", "--num-classes", "0"], "--num-classes"),
])
def test_training_flags_are_refused_before_anything_starts(argv: list[str], needle: str, tmp_path: Path) -> None:
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    cmd = [sys.executable, "-m", "beatforge.cli", *argv[1:]] if argv[0] == "beatforge" else \
        [sys.executable, str(ROOT / argv[0]), *argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    _one_line(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs"], "a failed run left files behind"


@pytest.mark.parametrize("slider, needle", [
    ("64,192,1000,2,0,B|100:100|200:200,1,1e300", "length"),
    ("64,192,1000,2,0,B|100:100,1,nan", "slider"),
    ("64,192,1000,2,0,B|" + "|".join(f"{i % 500}:{i % 380}" for i in range(100_000)) + ",1,100", "control points"),
    ("64,192,1000,2,0,B|100:100,99999999,100", "repeats"),
    ("64,192,1000,2,0,B|1e300:1e300,1,100", "absurd"),
])
def test_absurd_sliders_are_refused_with_their_limit(slider: str, needle: str, tmp_path: Path) -> None:
    (tmp_path / "s.osu").write_text("osu file format v14\n[General]\nAudioFilename: a.mp3\nMode: 0\n[Difficulty]\n"
                                    "CircleSize:4\nSliderMultiplier:1.4\n[TimingPoints]\n0,500,4,1,0,100,1,0\n"
                                    f"[HitObjects]\n{slider}\n")
    proc = _cli("remap", str(tmp_path / "s.osu"), "-o", str(tmp_path / "out.osu"), "--steps", "2")
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    _one_line(proc)
    assert not (tmp_path / "out.osu").exists()


def test_a_huge_standard_map_is_refused_before_sampling(tmp_path: Path) -> None:
    objects = "".join(f"{i % 512},{i % 384},{1000 + 10 * i},1,0,0:0:0:0:\n" for i in range(200_000))
    (tmp_path / "h.osu").write_text("osu file format v14\n[General]\nAudioFilename: a.mp3\nMode: 0\n[Difficulty]\n"
                                    "CircleSize:4\n[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n" + objects)
    t0 = time.perf_counter()
    proc = _cli("remap", str(tmp_path / "h.osu"), "-o", str(tmp_path / "out.osu"))
    assert proc.returncode == 2 and "at most" in proc.stderr and time.perf_counter() - t0 < 30, proc.stderr


def test_dataset_arrays_are_checked_before_they_are_read(tmp_path: Path) -> None:
    """A forged .npy header (shape of a terabyte) or an index naming a file outside the dataset is one error."""
    from beatforge.data.build import load_array, load_notes

    (tmp_path / "charts").mkdir()
    np.save(tmp_path / "charts" / "ok.npy", np.zeros((5, 3)))
    assert load_notes(tmp_path, {"chart_file": "charts/ok.npy"}).shape == (5, 3)
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 3), }"
    header += b" " * (118 - len(header)) + b"\n"
    (tmp_path / "charts" / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    (tmp_path / "outside.npy").write_bytes((tmp_path / "charts" / "ok.npy").read_bytes())
    ds = tmp_path / "charts"
    for rel, needle in (("huge.npy", "shape"), ("../outside.npy", "not a file inside"), ("/etc/passwd", "not a file"),
                        ("missing.npy", "not a file")):
        with pytest.raises(BeatforgeError, match=needle):
            load_array(ds, rel)


@pytest.mark.parametrize("code", [0, 2, 143])
def test_the_fast_exit_still_does_what_an_exit_must(code: int, tmp_path: Path) -> None:
    """exit_process skips the interpreter's teardown, not the atexit handlers, the flush or the exit code."""
    marker = tmp_path / "atexit-ran"
    script = (f"import atexit, pathlib, sys\nfrom beatforge.boundary import exit_process\n"
              f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
              f"print('no newline at the end', end='')\nprint('to stderr', file=sys.stderr, end='')\n"
              f"exit_process({code})\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == code
    assert proc.stdout == "no newline at the end" and proc.stderr == "to stderr"
    assert marker.read_text() == "yes"


def test_the_fast_exit_waits_for_a_running_thread(tmp_path: Path) -> None:
    marker = tmp_path / "thread-done"
    script = (f"import pathlib, threading, time\nfrom beatforge.boundary import exit_process\n"
              f"def work():\n    time.sleep(0.5)\n    pathlib.Path({str(marker)!r}).write_text('done')\n"
              f"threading.Thread(target=work).start()\nexit_process(0)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and marker.read_text() == "done"
