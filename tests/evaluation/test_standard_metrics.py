"""Remap quality metrics on a real map against itself and against a moved copy."""

from __future__ import annotations

import copy

import pytest

from beatforge.evaluation.standard_metrics import remap_metrics
from beatforge.formats.osu import parse_osu
from tests.conftest import need_data


def test_metrics_on_a_real_map() -> None:
    bm = parse_osu(need_data("standard", "kimi_no_bouken.osu"))
    same = remap_metrics(bm, bm)
    assert same["spacing_tv"] == 0.0 and same["copied"] == 1.0
    assert same["in_bounds"] > 0.95 and same["slider_length_error_mean"] < 5.0
    moved = copy.deepcopy(bm)
    for o in moved.hit_objects:
        o.x, o.y = 512 - o.x, 384 - o.y  # a point mirror: same spacing, nothing copied
        o.curve_points = [(512 - x, 384 - y) for x, y in o.curve_points]
    m = remap_metrics(moved, bm)
    assert m["spacing_tv"] == pytest.approx(0.0, abs=1e-9) and m["copied"] < 0.05
