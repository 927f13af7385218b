"""The audio a generated set carries (:mod:`beatforge.generation.audio_export` through ``write_set``): mp3 and Ogg
Vorbis are copied byte for byte; flac, wav, m4a and Opus in .ogg become Ogg Vorbis that stays in sync with the notes,
at least at the source's bitrate; a Frets on Fire song's stems are mixed in stereo at >= 128 kbps, not clipped;
without ffmpeg, libsndfile does the same for what it reads. All audio is synthetic (clicks and noise, made here), a
few seconds long."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beatforge import audio_export
from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import EXPORT_VORBIS_QUALITY
from beatforge.formats.fretsonfire import audio_stems
from beatforge.generation.output import write_set

FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not FFMPEG, reason="ffmpeg/ffprobe not on PATH (Debian package ffmpeg)")
RATE = 44100
CLICKS_S = (0.5, 1.25, 2.0, 3.1)


def _stereo(seconds: float = 4.0, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """Noise (so the encoder has something to spend bits on) with loud clicks at CLICKS_S, different per channel."""
    rng = np.random.default_rng(seed)
    y = level * 0.1 * rng.standard_normal((int(RATE * seconds), 2))
    for t in CLICKS_S:
        i = min(int(t * RATE), len(y) - 200)
        y[i : i + 200] += level * 2.5 * np.hanning(200)[:, None] * np.array([1.0, -0.8])
    return y.astype(np.float32)


def _chart() -> ManiaChart:
    return ManiaChart(4, np.array([500.0, 1250.0, 2000.0]), np.full(3, np.nan), np.array([0, 1, 2]),
                      [TimingPoint(500.0, 750.0)], meta=ChartMeta(title="t", version="Test"))


def _write(song: Path, out: Path) -> tuple[Path, str, bytes, str]:
    """write_set with one chart: (the audio beside the .osu, the .osz's audio member name, its bytes, the .osu)."""
    files = write_set([_chart()], song, out, previews=False)
    osz = next(f for f in files if f.suffix == ".osz")
    with zipfile.ZipFile(osz) as zf:
        member = next(n for n in zf.namelist() if not n.endswith(".osu"))
        data = zf.read(member)
        osu = next(zf.read(n).decode("utf-8") for n in zf.namelist() if n.endswith(".osu"))
    beside = out / member
    assert beside.read_bytes() == data and f"AudioFilename: {member}" in osu
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    return beside, member, data, osu


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "stream=codec_name,channels,sample_rate,bit_rate", "-of", "json", str(path)],
                         capture_output=True, check=True, timeout=60)
    return json.loads(out.stdout)["streams"][0]


def _click_lag(original: np.ndarray, path: Path) -> int:
    """Samples by which the decoded file's first click lies after the original's."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == RATE
    first = int(CLICKS_S[0] * RATE)
    window = slice(first - 2000, first + 2000)
    return int(np.argmax(np.abs(y[window, 0])) - np.argmax(np.abs(original[window, 0])))


@needs_ffmpeg
def test_flac_becomes_stereo_ogg_vorbis_in_sync(tmp_path: Path) -> None:
    y = _stereo()
    sf.write(tmp_path / "song.flac", y, RATE)
    beside, member, data, _ = _write(tmp_path / "song.flac", tmp_path / "out")
    assert member == "audio.ogg" and data[:4] == b"OggS"
    info = _probe(beside)
    assert info["codec_name"] == "vorbis" and info["channels"] == 2 and int(info["sample_rate"]) == RATE
    assert int(info["bit_rate"]) >= 160_000
    decoded = sf.read(beside, dtype="float32")[0]
    assert abs(len(decoded) - len(y)) <= 1  # Vorbis adds no padding: the notes stay where they were
    assert abs(_click_lag(y, beside)) <= 2


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_wav_and_m4a_become_ogg(tmp_path: Path, suffix: str) -> None:
    y = _stereo(3.0)
    sf.write(tmp_path / "x.wav", y, RATE)
    song = tmp_path / f"song{suffix}"
    if suffix == ".m4a":
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "x.wav"), "-c:a", "aac", "-b:a",
                        "256k", str(song)], check=True, timeout=120)
    else:
        (tmp_path / "x.wav").rename(song)
    beside, member, _, _ = _write(song, tmp_path / "out")
    assert member == "audio.ogg" and _probe(beside)["codec_name"] == "vorbis"
    assert sf.info(beside).channels == 2 and sf.info(beside).duration == pytest.approx(3.0, abs=0.05)
    # q6 (~192 kbps nominal) at most for both, the 256 kbps AAC too: the criteria allow at most 208 kbps for .ogg,
    # and a file over it is encoded again lower (this synthetic signal: q5); never under the criteria's 128
    assert 128_000 <= int(_probe(beside)["bit_rate"]) <= 192_000
    assert beside.stat().st_size * 8 / sf.info(beside).duration / 1000 <= 208.0


def test_vorbis_quality_stays_within_the_criteria() -> None:
    assert audio_export.vorbis_quality(0) == EXPORT_VORBIS_QUALITY
    assert audio_export.vorbis_quality(160) == EXPORT_VORBIS_QUALITY
    assert audio_export.vorbis_quality(256) == 6 and audio_export.vorbis_quality(999) == 6


@needs_ffmpeg
def test_an_mp3_over_the_criterias_bit_rate_is_transcoded(tmp_path: Path) -> None:
    """A 256 kbps mp3 cannot be submitted (192 kbps at most): the set gets Ogg Vorbis; a 128 kbps one is copied."""
    sf.write(tmp_path / "x.wav", _stereo(4.0), RATE)
    for kbps, copied in ((256, False), (128, True)):
        song = tmp_path / f"song{kbps}.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "x.wav"), "-c:a", "libmp3lame",
                        "-b:a", f"{kbps}k", str(song)], check=True, timeout=120)
        beside, member, data, _ = _write(song, tmp_path / f"out{kbps}")
        assert (member == "audio.mp3" and data == song.read_bytes()) if copied else \
            (member == "audio.ogg" and _probe(beside)["codec_name"] == "vorbis")


def test_opus_in_ogg_is_transcoded_to_vorbis(tmp_path: Path) -> None:
    song = tmp_path / "song.ogg"
    sf.write(song, _stereo(3.0), 48000, format="OGG", subtype="OPUS")  # Opus runs at 48 kHz
    assert sf.info(song).subtype == "OPUS"
    beside, member, data, _ = _write(song, tmp_path / "out")
    assert member == "audio.ogg" and data != song.read_bytes() and sf.info(beside).subtype == "VORBIS"


@pytest.mark.parametrize("fmt", ["MP3", "OGG"])
def test_mp3_and_ogg_are_copied_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    song = tmp_path / f"song.{fmt.lower()}"
    sf.write(song, _stereo(3.0), RATE, format=fmt, subtype="MPEG_LAYER_III" if fmt == "MP3" else "VORBIS")
    _, member, data, _ = _write(song, tmp_path / "out")
    assert member == f"audio.{fmt.lower()}" and data == song.read_bytes()


def _fof(folder: Path, level: float = 0.3) -> Path:
    folder.mkdir()
    (folder / "song.ini").write_text("[song]\nname = Stems\nartist = beatforge synthetic\n")
    sf.write(folder / "song.ogg", _stereo(4.0, seed=1, level=level), RATE, format="OGG", subtype="VORBIS")
    sf.write(folder / "guitar.ogg", _stereo(4.0, seed=2, level=level), RATE, format="OGG", subtype="VORBIS")
    return folder


@needs_ffmpeg
def test_frets_on_fire_stems_are_mixed_in_stereo_at_full_bitrate(tmp_path: Path) -> None:
    # loud stems whose clicks add up past full scale: the mix is scaled down, not clipped
    beside, member, _, osu = _write(_fof(tmp_path / "fof", level=0.6), tmp_path / "out")
    assert member == "audio.ogg" and "Title:t" in osu
    info = _probe(beside)
    assert info["codec_name"] == "vorbis" and info["channels"] == 2 and int(info["bit_rate"]) >= 128_000
    y = sf.read(beside, dtype="float32")[0]
    assert y.shape[1] == 2 and not np.allclose(y[:, 0], y[:, 1])  # stereo indeed
    assert np.abs(y).max() <= 1.0 and np.abs(y).max() > 0.8


@needs_ffmpeg
@pytest.mark.slow
def test_a_real_frets_on_fire_song_keeps_its_stereo_and_bitrate(tmp_path: Path) -> None:
    folder = Path("/usr/share/games/fretsonfire/data/songs/muldjord/chaos_god")
    if not (folder / "song.ini").is_file():
        pytest.skip(f"{folder}: not installed (Debian package fretsonfire-songs-muldjord)")
    beside = audio_export.export_audio(audio_stems(folder), tmp_path)
    source, info = _probe(folder / "song.ogg"), _probe(beside)
    assert info["channels"] == source["channels"] == 2
    assert int(info["bit_rate"]) >= int(source["bit_rate"])  # 192 kbps nominal for the stems' 160


def test_without_ffmpeg_libsndfile_converts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audio_export, "_ffmpeg_tools", lambda: None)
    y = _stereo()
    sf.write(tmp_path / "song.flac", y, RATE)
    beside, member, _, _ = _write(tmp_path / "song.flac", tmp_path / "out")
    info = sf.info(beside)
    assert member == "audio.ogg" and info.format == "OGG" and info.channels == 2
    assert abs(info.frames - len(y)) <= 1 and abs(_click_lag(y, beside)) <= 2
    if FFMPEG:
        assert int(_probe(beside)["bit_rate"]) >= 160_000
    # stems: mixed by the audio frontend, mono
    beside, member, _, _ = _write(_fof(tmp_path / "fof"), tmp_path / "out2")
    assert member == "audio.ogg" and sf.info(beside).channels == 1


@needs_ffmpeg
def test_a_vorbis_file_over_the_criterias_bit_rate_is_encoded_again_lower(tmp_path: Path) -> None:
    """White noise (synthetic) at q6 is ~268 kbps, over the 208 kbps the criteria allow an .ogg: the set's file is
    re-encoded at lower qualities until it fits."""
    noise = (np.random.default_rng(0).standard_normal((RATE * 5, 2)) * 0.3).astype(np.float32)
    sf.write(tmp_path / "noise.wav", noise, RATE)
    beside, member, _, _ = _write(tmp_path / "noise.wav", tmp_path / "out")
    assert member == "audio.ogg"
    assert beside.stat().st_size * 8 / sf.info(beside).duration / 1000 <= 208.0
