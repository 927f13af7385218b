"""The spacing rules of a remap: every conditioned distance kept exactly, inside the playfield, in the network's
directions; sliders fitted and the object after a slider placed from where the fitted path ends."""

from __future__ import annotations

import numpy as np

from beatforge.charts.standard_sequence import CURVE, KIND, LENGTH, SLIDES, TIME, X, Y
from beatforge.data.standard_dataset import spacing
from beatforge.generation.rules.spacing import CENTRE, after_slider, keep_spacing, keep_spacing_with_sliders


def test_keep_spacing_walks_the_given_distances_inside_the_field() -> None:
    """The projection keeps every conditioned distance exactly, stays in 512x384, and follows the model's
    headings where the field allows (points already at the right spacing come back unchanged)."""
    rng = np.random.default_rng(3)
    pos = rng.uniform([0, 0], [512, 384], size=(400, 2))
    dist = rng.uniform(0, 300, size=400)
    out = keep_spacing(pos, dist)
    steps = np.hypot(*np.diff(np.vstack([[256.0, 192.0], out]), axis=0).T)
    assert np.allclose(steps, dist, atol=1e-6)
    assert (out >= 0).all() and (out[:, 0] <= 512).all() and (out[:, 1] <= 384).all()
    walk = np.cumsum(np.vstack([[256.0, 192.0], np.tile([[30.0, 0.0], [0.0, 20.0], [-30.0, 0.0], [0.0, -20.0]],
                                                         (10, 1))]), axis=0)[1:]
    same = keep_spacing(walk, np.hypot(*np.diff(np.vstack([[256.0, 192.0], walk]), axis=0).T))
    assert np.allclose(same, walk)
    assert CENTRE == (256.0, 192.0)


def test_after_slider_keeps_both_reference_distances() -> None:
    head, end = np.array([100.0, 100.0]), np.array([200.0, 100.0])
    p = after_slider(head, end, 80.0, 150.0, aim=np.array([230.0, 200.0]))
    assert np.isclose(np.hypot(*(p - end)), 80.0) and np.isclose(np.hypot(*(p - head)), 150.0)
    assert p[1] > 100.0  # of the two mirror points, the one nearer the network's position
    assert after_slider(head, head, 80.0, 150.0, aim=end) is None  # no slider length: no line to mirror about


def test_keep_spacing_with_sliders_fits_the_slider_and_keeps_circle_spacing() -> None:
    # circle, slider head + two anchors + end token, circle
    seq = np.zeros((6, 8))
    seq[:, TIME] = [0, 500, 500, 500, 1000, 1500]
    seq[:, [X, Y]] = [[100, 100], [200, 100], [250, 150], [300, 100], [300, 100], [380, 200]]
    seq[:, KIND] = [0, 4, 6, 6, 11, 0]
    seq[1, LENGTH], seq[1, CURVE] = 180.0, 0
    seq[2:4, SLIDES] = 1
    dist = spacing(seq)
    rng = np.random.default_rng(0)
    pos = seq[:, [X, Y]] + rng.normal(0, 20, (6, 2))
    out = keep_spacing_with_sliders(pos, seq, dist)
    assert (out >= 0).all() and (out[:, 0] <= 512).all() and (out[:, 1] <= 384).all()
    assert np.isclose(np.hypot(*(out[0] - CENTRE)), dist[0]) and np.isclose(np.hypot(*(out[1] - out[0])), dist[1])
    assert np.isclose(np.hypot(*(out[5] - out[4])), dist[5])  # the next object: from where the fitted slider ends
