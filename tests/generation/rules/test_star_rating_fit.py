"""The star-rating fit: bisection on note density reaches the requested rating; past the densest chart the song
allows, chords are added instead; the closest chart seen is kept."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.generation.rules.star_rating_fit import Fit, bisect, fit_density


def _chart(density: float, extra_chords: float = 0.0, cap: float = 16.0) -> ManiaChart:
    """A 60 s 4K roll at ``density`` notes per second (capped at ``cap``, as a song with no more onsets), with a
    second note on a share ``extra_chords / 3`` of the times."""
    times = np.arange(0.0, 60000.0, 1000.0 / min(density, cap))
    cols = np.arange(len(times)) % 4
    n2 = int(len(times) * min(extra_chords / 3.0, 1.0))
    starts = np.r_[times, times[:n2]]
    columns = np.r_[cols, (cols[:n2] + 2) % 4]
    return ManiaChart(4, starts, np.full(len(starts), np.nan), columns, [TimingPoint(0.0, 500.0)])


def test_bisection_meets_the_requested_star_rating() -> None:
    for target in (1.5, 3.0):
        fit = fit_density(_chart, target, fit=True)
        assert abs(fit.star_rating - target) < 0.05
        assert fit.star_rating == pytest.approx(star_rating(fit.chart))
    first_guess = fit_density(_chart, 3.0, fit=False)  # no search: one chart at the typical density
    assert first_guess.density == pytest.approx(1.9 * 3.0)


def test_chords_are_added_where_the_song_has_no_more_onsets() -> None:
    def capped(density: float, extra: float = 0.0) -> ManiaChart:
        return _chart(density, extra, cap=3.0)

    plain = star_rating(capped(16.0))
    fit = fit_density(capped, plain + 0.5, fit=True)
    assert fit.star_rating > plain + 0.2 and fit.chart.n_notes > capped(16.0).n_notes


def test_bisect_keeps_the_closest_chart_seen() -> None:
    start = Fit(_chart(1.0), star_rating(_chart(1.0)), 1.0)
    best = bisect(lambda v: (_chart(v), v), 0.5, 2.0, 1, 100.0, start)  # one step, an unreachable target
    assert best.density == pytest.approx(1.25) and best.star_rating > start.star_rating
