"""Flow figures of osu!standard maps (turn angles, near-stacks, overlaps) and their random-walk floor."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from beatforge.charts.beatmap import Beatmap, HitObject, OsuTimingPoint
from beatforge.cli import main
from beatforge.constants import PLAYFIELD
from beatforge.evaluation.standard_flow import flow_report, near_stacks, random_walk, turn_angles
from beatforge.formats.osu import parse_osu, write_osu
from tests.conftest import need_data


def _map(xy: np.ndarray, beat_ms: float = 500.0, step_beats: float = 0.5) -> Beatmap:
    """A synthetic circle map: one circle per ``step_beats``, at ``xy``."""
    bm = Beatmap(general={"Mode": "0"}, difficulty={"CircleSize": "4", "ApproachRate": "9"},
                 timing_points=[OsuTimingPoint(0.0, beat_ms)])
    bm.hit_objects = [HitObject(float(x), float(y), 1000.0 + i * beat_ms * step_beats, 1) for i, (x, y) in
                      enumerate(xy)]
    return bm


def _back_and_forth(n: int = 60) -> np.ndarray:
    return np.array([(156.0 if i % 2 else 356.0, 192.0 + 3.0 * (i % 3)) for i in range(n)])


def _circle(n: int = 60) -> np.ndarray:
    a = np.arange(n) * 0.35
    return np.stack([256 + 150 * np.cos(a), 192 + 150 * np.sin(a)], 1)


def test_turn_angles_of_known_shapes() -> None:
    back, _ = turn_angles(_back_and_forth())
    round_, _ = turn_angles(_circle())
    assert back.min() > 170 and round_.max() < 25  # straight back; a gentle circle
    assert near_stacks(_back_and_forth(), np.arange(60) * 250.0) > 0.9  # every object returns within 20 px


def test_the_random_walk_keeps_the_spacing_and_the_playfield() -> None:
    xy = _circle(200)
    walk = random_walk(xy, seed=3)
    want = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    got = np.linalg.norm(np.diff(walk, axis=0), axis=1)
    assert np.allclose(got, want, atol=1e-6)
    assert ((walk >= 0) & (walk <= np.array(PLAYFIELD))).all()
    assert not np.allclose(walk, random_walk(xy, seed=4))


def test_a_map_against_itself_and_against_another_flow() -> None:
    human = _map(_back_and_forth())
    same = flow_report(human, human)
    assert same["generated"]["turn_tv"] == 0.0 and same["generated"]["near_stacks"] == same["human"]["near_stacks"]
    assert same["random_walk"]["turn_tv"] > 0.5  # a back-and-forth map is far from random turns
    other = flow_report(_map(_circle()), human)
    assert other["generated"]["turn_tv"] > same["random_walk"]["turn_tv"]  # circling is further still
    assert set(other["generated"]["turn_tv_by_gap"]) == {"1/1+", "1/2", "1/4", "stream"}
    assert other["generated"]["turn_tv_by_gap"]["1/2"] == pytest.approx(other["generated"]["turn_tv"])
    with pytest.raises(ValueError, match="same rhythm"):
        flow_report(_map(_circle(59)), human)


def test_a_real_map_has_a_floor(tmp_path: Path, capsys) -> None:
    path = need_data("standard", "kimi_no_bouken.osu")
    mirrored = copy.deepcopy(parse_osu(path))
    for o in mirrored.hit_objects:  # a point mirror turns exactly as the map does
        o.x, o.y = 512 - o.x, 384 - o.y
    (tmp_path / "mirrored.osu").write_text(write_osu(mirrored), encoding="utf-8")
    assert main(["evaluate", "--mode", "standard", "--generated", str(tmp_path / "mirrored.osu"), "--reference",
                 str(path), "-o", str(tmp_path / "report"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated"]["turn_tv"] == pytest.approx(0.0, abs=1e-9)
    assert 0.1 < report["random_walk"]["turn_tv"] < 0.6
    assert (tmp_path / "report" / "flow.png").stat().st_size > 0 and (tmp_path / "report" / "flow.json").exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a.osu", tmp_path / "b.osu"
    a.write_text(write_osu(_map(_circle(10))), encoding="utf-8")
    b.write_text(write_osu(_map(_circle(12))), encoding="utf-8")
    for gen, ref in ((a, b), (tmp_path, b), (tmp_path / "missing.osu", b)):
        assert main(["evaluate", "--mode", "standard", "--generated", str(gen), "--reference", str(ref),
                     "-o", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("beatforge: error: "), err
