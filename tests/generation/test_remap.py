"""``beatforge.remap_standard(path, RemapRequest(...))``: golden outputs with the shipped DiT (the restructuring of
issue 12 changed no byte: these hashes were recorded with the code before it), and one-line errors for bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import beatforge
from beatforge.errors import BeatforgeError
from beatforge.formats.osu import parse_osu, write_osu
from beatforge.generation.remap import remap_standard
from beatforge.generation.request import RemapRequest

# A few circles and one Bezier slider at 120 BPM
GOLDEN_OSU = ("osu file format v14\n\n[General]\nMode: 0\n\n[Metadata]\nTitle:golden remap\nArtist:synthetic\n"
              "Version:Test\nBeatmapID:42\n\n[Difficulty]\nHPDrainRate:5\nCircleSize:4\nOverallDifficulty:5\n"
              "ApproachRate:8\nSliderMultiplier:1.4\nSliderTickRate:1\n\n[TimingPoints]\n1000,500,4,2,0,100,1,0\n\n"
              "[HitObjects]\n"
              "100,100,1000,5,0\n"
              "200,120,1250,1,0\n"
              "300,160,1500,1,0\n"
              "320,260,1750,2,0,B|380:280|420:220,1,140\n"
              "200,300,2500,1,0\n"
              "120,220,2750,1,0\n"
              "256,192,3000,1,0\n")


@pytest.fixture
def golden_map(tmp_path: Path) -> Path:
    path = tmp_path / "golden.osu"
    path.write_text(GOLDEN_OSU, encoding="utf-8")
    return path


@pytest.fixture
def two_threads(monkeypatch):
    """torch on 2 threads, as the golden hashes were recorded (the 2-core CI machine's count): other counts round
    the float sums differently (a machine with more cores records other bytes); ``BEATFORGE_THREADS`` keeps CLI
    calls in the test at 2."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("BEATFORGE_THREADS", "2")
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize("request_,sha256", [
    (RemapRequest(seed=3, steps=4), "2e7463f58dff5848972b189fdd6ba5066c5798ee3229d72c5af20be0321ab0ba"),
    (RemapRequest(seed=5, steps=3, guidance=2.5, style_id="1851299"),
     "2c40bc39733616c23002a5d35953c7661043e2750533af919ff8aa4472f3da54"),
    (RemapRequest(seed=7, steps=3, spacing=False), "401b363f0754bb27bd070b1f5441061b069d312b67c5085bac74b3df3230af11"),
], ids=["plain", "styled-guided", "free-spacing"])
def test_golden_remap(golden_map: Path, request_: RemapRequest, sha256: str) -> None:
    text = write_osu(remap_standard(golden_map, request_))
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == sha256


def test_the_remap_keeps_the_rhythm_and_marks_the_map(golden_map: Path) -> None:
    steps = []
    new = beatforge.remap_standard(golden_map, beatforge.RemapRequest(seed=1, steps=2),
                                   progress=lambda i, n: steps.append((i, n)))
    ref = parse_osu(golden_map)
    assert steps == [(1, 2), (2, 2)]
    assert [o.time for o in new.hit_objects] == [o.time for o in ref.hit_objects]
    assert [o.length for o in new.hit_objects] == [o.length for o in ref.hit_objects]
    assert all(0 <= o.x <= 512 and 0 <= o.y <= 384 for o in new.hit_objects)
    assert new.metadata["Version"] == "Test (beatforge remap, no style)" and new.metadata["BeatmapID"] == "0"


@pytest.mark.parametrize("text,error", [
    ("osu file format v14\n[General]\nMode: 3\n[Difficulty]\nCircleSize:4\n[HitObjects]\n64,192,1000,1,0\n",
     "an osu!mania beatmap; remapping needs osu!standard"),
    ("osu file format v14\n[General]\nMode: 0\n[HitObjects]\n", "the beatmap has no hit objects"),
])
def test_bad_maps_fail_in_one_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.osu"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BeatforgeError, match=error) as info:
        remap_standard(path, RemapRequest(steps=1))
    assert "\n" not in str(info.value)


def test_bad_requests_fail_in_one_line(golden_map: Path, tmp_path: Path) -> None:
    with pytest.raises(BeatforgeError, match="--style-id 123456789: not a beatmap this model was trained on"):
        remap_standard(golden_map, RemapRequest(style_id=123456789, steps=1))
    with pytest.raises(BeatforgeError, match="not a beatforge DiT checkpoint"):
        remap_standard(golden_map, RemapRequest(model=tmp_path, steps=1))
    with pytest.raises(BeatforgeError, match="--cfg-scale -1: must be between 0 and 30"):
        RemapRequest(guidance=-1)


def test_device_cpu_is_the_default_here_and_a_preloaded_model_changes_nothing(golden_map: Path) -> None:
    """--device cpu gives this CPU-only machine's default map; a model loaded once (the page, benchmarks) gives the
    same map as one loaded by path, and samples on its own device."""
    import torch

    from beatforge.checkpoints import DEFAULT_STANDARD_MODEL
    from beatforge.generation.remap import RemapModel

    by_path = write_osu(remap_standard(golden_map, RemapRequest(seed=3, steps=2)))
    on_cpu = write_osu(remap_standard(golden_map, RemapRequest(seed=3, steps=2, device="cpu")))
    model = RemapModel.load(RemapRequest(device="cpu"))
    assert model.device == torch.device("cpu") and model.path == DEFAULT_STANDARD_MODEL
    preloaded = [write_osu(remap_standard(golden_map, req, model=model)) for req in
                 (RemapRequest(seed=3, steps=2), RemapRequest(seed=3, steps=2, model=DEFAULT_STANDARD_MODEL))]
    if not torch.cuda.is_available():
        assert on_cpu == by_path
    assert preloaded == [on_cpu, on_cpu]


def test_a_preloaded_model_must_be_the_requested_one(golden_map: Path, tmp_path: Path) -> None:
    from beatforge.generation.remap import RemapModel

    with pytest.raises(BeatforgeError, match="the preloaded model is"):
        remap_standard(golden_map, RemapRequest(model=tmp_path, steps=1), model=RemapModel.load())


@pytest.mark.usefixtures("two_threads")
def test_the_cli_remap_shows_progress_and_takes_device(golden_map: Path, tmp_path: Path, capsys) -> None:
    """``beatforge remap`` draws a bar of the sampler steps on stderr; ``--device cpu`` writes the default's map
    on a machine without a GPU."""
    import torch

    from beatforge.cli import main

    outs = []
    for extra in ([], ["--device", "cpu"]):
        out = tmp_path / f"r{len(outs)}.osu"
        assert main(["remap", str(golden_map), "-o", str(out), "--steps", "3", "--seed", "2", *extra]) == 0
        captured = capsys.readouterr()
        assert captured.out.strip() == str(out)
        assert "remap" in captured.err and "3/3" in captured.err, captured.err
        outs.append(out.read_text(encoding="utf-8"))
    if not torch.cuda.is_available():
        assert outs[0] == outs[1]


def test_progress_bar_starts_at_the_first_step(capsys) -> None:
    from beatforge.generation.remap import progress_bar

    with progress_bar("x"):
        pass
    assert capsys.readouterr().err == ""  # nothing sampled (an error before sampling): no bar
    with progress_bar("x") as progress:
        for i in range(1, 5):
            progress(i, 4)
    assert "4/4" in capsys.readouterr().err
