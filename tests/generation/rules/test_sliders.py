"""The slider rules of a remap: every slider drawn at exactly its required length, inside the playfield."""

from __future__ import annotations

import numpy as np

from beatforge.charts.slider_path import path_length, polyline
from beatforge.charts.standard_sequence import CURVE, KIND, LENGTH, SLIDES, X, Y, encode
from beatforge.formats.osu import parse_osu
from beatforge.generation.rules.sliders import fit_sliders, slider_end
from tests.conftest import need_data


def test_a_slider_is_scaled_to_its_length_and_turned_inside_the_field() -> None:
    seq = np.zeros((4, 8))
    seq[:, [X, Y]] = [[500, 200], [530, 200], [560, 230], [0, 0]]  # drawn off the right edge, too short
    seq[:, KIND] = [4, 6, 6, 0]
    seq[0, LENGTH], seq[0, CURVE] = 150.0, 0
    seq[1:3, SLIDES] = 1
    assert slider_end(seq[:, KIND].astype(int), 0) == 3
    out = fit_sliders(seq)
    pts = out[0:3, [X, Y]]
    assert (pts >= 0).all() and (pts[:, 0] <= 512).all() and (pts[:, 1] <= 384).all()
    assert abs(path_length(polyline("B", pts)) - 150.0) < 1e-3
    assert np.array_equal(out[0, [X, Y]], seq[0, [X, Y]])  # the head stays; the shape turns about it
    assert np.array_equal(out[3], seq[3])


def test_a_slider_larger_than_the_field_keeps_its_length_and_stays_inside() -> None:
    """ppy-801165's 1050 px slider: its control points span 423 px in y (they leave the field in the map itself),
    so it fits in no rotation; it is squashed and rescaled to its exact length, never clipped short."""
    seq = encode(parse_osu(need_data("standard", "ppy-801165.osu")))
    h = int(np.flatnonzero(seq[:, LENGTH] > 1000)[0])
    j = h + 1
    while 6 <= seq[j, KIND] <= 10:
        j += 1
    out = fit_sliders(seq)
    pts = out[h:j, [X, Y]]
    assert (pts >= 0).all() and (pts[:, 0] <= 512).all() and (pts[:, 1] <= 384).all()
    reps = np.r_[1, np.maximum(seq[h + 1:j, 4].astype(int), 1)]
    assert abs(path_length(polyline("B", np.repeat(pts, reps, axis=0))) - seq[h, LENGTH]) < 1e-3
