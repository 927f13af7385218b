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
