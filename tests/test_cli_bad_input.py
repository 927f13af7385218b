"""Bad input: each case ends with one clear error line (naming the file and the problem), exit code 2, no
traceback, and no half-written output."""

from __future__ import annotations

import io
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import pytest

from beatforge.cli import main

OSU_HEAD = "osu file format v14\n[General]\nAudioFilename: audio.mp3\nMode: 3\n[Difficulty]\nCircleSize:{cs}\n"
OSU_NOTES = "[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n64,192,1000,1,0,0:0:0:0:\n192,192,1500,1,0,0:0:0:0:\n"


def _osu(cs: int = 4, notes: str = OSU_NOTES) -> str:
    return OSU_HEAD.format(cs=cs) + notes


def _wav(path: Path, frames: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(b"\x00\x10" * frames)


def _midi_without_notes(path: Path) -> None:
    import mido

    mid = mido.MidiFile()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.MetaMessage("end_of_track", time=10))
    mid.tracks.append(track)
    mid.save(str(path))


def make_case(name: str, tmp: Path) -> tuple[list[str], str]:
    """(command line, text the error must contain) for one bad input, built in ``tmp``."""
    if name == "missing file":
        return ["analyze", str(tmp / "nope.osu")], "no such file"
    if name == "unknown format":
        (tmp / "notes.txt").write_text("hello")
        return ["analyze", str(tmp / "notes.txt")], "unknown chart format"
    if name == "binary garbage":
        (tmp / "g.osu").write_bytes(bytes(range(256)) * 40)
        return ["analyze", str(tmp / "g.osu")], "binary"
    if name == "truncated .osu":
        text = _osu()
        (tmp / "t.osu").write_text(text[: text.index("64,192,1000") + 5])  # cut inside the first hit object
        return ["analyze", str(tmp / "t.osu")], "bad hit object"
    if name == "truncated .osz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("a.osu", _osu() * 50)
        (tmp / "t.osz").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        return ["analyze", str(tmp / "t.osz")], "not a readable zip"
    if name == "zero hit objects":
        (tmp / "z.osu").write_text(_osu(notes="[HitObjects]\n"))
        return ["analyze", str(tmp / "z.osu")], "no notes"
    if name == "key count 0":
        (tmp / "k0.osu").write_text(_osu(cs=0))
        return ["analyze", str(tmp / "k0.osu")], "unsupported key count 0"
    if name == "key count 19":
        (tmp / "k19.osu").write_text(_osu(cs=19))
        return ["analyze", str(tmp / "k19.osu")], "unsupported key count 19"
    if name == "huge coordinates":
        (tmp / "h.osu").write_text(_osu(notes="[HitObjects]\n99999999999,192,1000,1,0,0:0:0:0:\n"))
        return ["analyze", str(tmp / "h.osu")], "absurd coordinates"
    if name == "missing audio":
        (tmp / "m.osu").write_text(_osu())
        return ["convert", str(tmp / "m.osu"), "-o", str(tmp / "out" / "m.osu")], "missing"
    if name == "zip-slip .osz":
        with zipfile.ZipFile(tmp / "slip.osz", "w") as zf:
            zf.writestr("../../escape.osu", _osu())
        return ["analyze", str(tmp / "slip.osz")], "zip slip"
    if name == "zip bomb":
        with zipfile.ZipFile(tmp / "bomb.osz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("a.osu", b"\0" * (32 << 20))
        return ["analyze", str(tmp / "bomb.osz")], "zip bomb"
    if name == ".sm without a playable chart":
        (tmp / "x.sm").write_text(
            "#TITLE:x;\n#BPMS:0.000=120.000;\n#NOTES:\n     lights-cabinet:\n     :\n     Easy:\n"
            "     1:\n     0,0,0,0,0:\n1000\n0000\n0000\n0000\n;\n"
        )
        return ["analyze", str(tmp / "x.sm")], "dance-single"
    if name == "MIDI with no note track":
        song = tmp / "fof"
        song.mkdir()
        (song / "song.ini").write_text("[song]\nname = x\nartist = y\n")
        _midi_without_notes(song / "notes.mid")
        return ["analyze", str(song)], "no note track"
    if name == "0-second audio":
        (tmp / "s.osu").write_text(_osu())
        _wav(tmp / "audio.mp3", 0)  # the name the chart gives; the content is an empty WAV
        return ["convert", str(tmp / "s.osu"), "-o", str(tmp / "out" / "s.osu")], "0 seconds"
    if name == "bad --rate":
        (tmp / "r.osu").write_text(_osu())
        return ["analyze", str(tmp / "r.osu"), "--rate", "50"], "--rate"
    raise KeyError(name)


CASES = [
    "missing file",
    "unknown format",
    "binary garbage",
    "truncated .osu",
    "truncated .osz",
    "zero hit objects",
    "key count 0",
    "key count 19",
    "huge coordinates",
    "missing audio",
    "zip-slip .osz",
    "zip bomb",
    ".sm without a playable chart",
    "MIDI with no note track",
    "0-second audio",
    "bad --rate",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_clear_line(case: str, tmp_path: Path, capsys) -> None:
    argv, needle = make_case(case, tmp_path)
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("beatforge: error: "), err
    assert needle.lower() in err.lower(), err
    assert "Traceback" not in err
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), "a failed command left output behind"


@pytest.mark.parametrize("case", ["binary garbage", "zip bomb"])
def test_bad_input_in_a_real_process(case: str, tmp_path: Path) -> None:
    argv, needle = make_case(case, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "beatforge.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr and "Traceback" not in proc.stderr


STD_OSU = ("osu file format v14\n[General]\nMode: 0\n[Difficulty]\nSliderMultiplier:1.4\n[TimingPoints]\n"
           "1000,500,4,2,0,100,1,0\n[HitObjects]\n100,100,1000,1,0\n200,120,1250,1,0\n300,160,1500,1,0\n")


def test_remap_on_a_missing_gpu_is_one_line(tmp_path: Path, capsys) -> None:
    """``--device cuda`` where torch sees no CUDA: one line naming the flag and the way out, exit 2, no output (not
    a silent fall back to the CPU)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "m.osu").write_text(STD_OSU)
    out = tmp_path / "out" / "m.osu"
    rc = main(["remap", str(tmp_path / "m.osu"), "-o", str(out), "--device", "cuda", "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("beatforge: error: --device cuda:"), err
    assert "--device cpu" in err and not out.exists()


def test_sample_py_on_a_missing_gpu_is_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "m.osu").write_text(STD_OSU)
    proc = subprocess.run([sys.executable, str(repo / "sample.py"), "--beatmap", str(tmp_path / "m.osu"), "--ckpt",
                           str(repo / "models" / "standard"), "--device", "cuda", "-o", str(tmp_path / "o.osu")],
                          capture_output=True, text=True, timeout=120, cwd=repo)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("sample.py: error: --device cuda:") and not (tmp_path / "o.osu").exists()


def _osz_case(name: str, tmp: Path) -> tuple[Path, str]:
    """(an .osz given to ``beatforge generate`` as the song, text the error must contain)."""
    path = tmp / f"{name.replace(' ', '_')}.osz"
    if name == "not a zip":
        path.write_bytes(b"PK\x03\x04 this is no archive" * 40)
        return path, "not a readable zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if name == "no audio":  # the .osu names audio.mp3, which the archive lacks
            zf.writestr("a.osu", _osu())
            return path, "no audio file its .osu files name (they name: audio.mp3)"
        if name == "no .osu":
            zf.writestr("audio.mp3", b"\xff\xfb" * 1000)
            return path, "no .osu beatmap"
        if name == "traversal member":
            zf.writestr("a.osu", _osu().replace("audio.mp3", "../../escape.mp3"))
            zf.writestr("../../escape.mp3", b"\xff\xfb" * 1000)
            return path, "zip slip"
        if name == "traversal AudioFilename":  # names a file outside the archive: nothing is read from there
            zf.writestr("a.osu", _osu().replace("audio.mp3", "../../../etc/passwd"))
            return path, "no audio file its .osu files name"
        if name == "zip bomb":
            zf.writestr("a.osu", _osu())
            zf.writestr("audio.mp3", b"\0" * (32 << 20))
            return path, "zip bomb"
    raise KeyError(name)


@pytest.mark.parametrize("case", ["not a zip", "no audio", "no .osu", "traversal member", "traversal AudioFilename",
                                  "zip bomb"])
def test_generate_from_a_bad_osz_is_one_line(case: str, tmp_path: Path, capsys) -> None:
    osz, needle = _osz_case(case, tmp_path)
    out = tmp_path / "out"
    rc = main(["generate", str(osz), "--steps", "2", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("beatforge: error: "), err
    assert needle in err and str(osz) in err and "Traceback" not in err, err
    assert not out.exists() or not any(out.iterdir()), "a failed command left output behind"
    assert not (tmp_path.parent / "escape.mp3").exists() and not (tmp_path / "escape.mp3").exists()


# `beatforge check`: every chart-reading case above, and the inputs only a checker of several paths meets
CHECK_ONLY_CASES = ["folder without charts", "FIFO", "--level bogus", ".osz without osu!mania"]
CHECK_CASES = [c for c in CASES if c not in ("missing audio", "0-second audio", "bad --rate")] + CHECK_ONLY_CASES


def _check_case(name: str, tmp: Path) -> tuple[list[str], str]:
    if name in CASES:
        argv, needle = make_case(name, tmp)
        return ["check", *argv[1:]], needle
    if name == "folder without charts":
        (tmp / "empty").mkdir()
        (tmp / "empty" / "readme.txt").write_text("no charts here")
        return ["check", str(tmp / "empty")], "no chart beatforge reads"
    if name == "FIFO":
        import os

        os.mkfifo(tmp / "pipe.osu")
        return ["check", str(tmp / "pipe.osu")], "not a regular file"
    if name == "--level bogus":
        (tmp / "l.osu").write_text(_osu())
        return ["check", str(tmp / "l.osu"), "--level", "bogus"], "--level bogus: one of easy"
    if name == ".osz without osu!mania":
        with zipfile.ZipFile(tmp / "std.osz", "w") as zf:
            zf.writestr("a.osu", STD_OSU)
        return ["check", str(tmp / "std.osz")], "no osu!mania beatmap"
    raise KeyError(name)


@pytest.mark.parametrize("case", CHECK_CASES)
def test_check_bad_input_gives_one_clear_line(case: str, tmp_path: Path, capsys) -> None:
    argv, needle = _check_case(case, tmp_path)
    rc = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("beatforge: error: "), err
    assert needle.lower() in err.lower() and "Traceback" not in err, err
    assert captured.out == ""  # nothing is reported before every path has been read
