"""The star-rating fit: bisection on note density reaches the requested rating; past the densest chart the song
allows, or across a jump in the rating, chords are added instead; the closest chart seen is kept; a chart that misses
the request says why (a ceiling, a jump, a floor, no fit, long notes)."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.constants import STAR_RATING_TOLERANCE
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


# ------------------------------------------------------------------------------------------------ misses, and why
def test_a_met_rating_reports_no_miss() -> None:
    fit = fit_density(_chart, 3.0, fit=True)
    assert not fit.missed and fit.reason == "" and fit.note() == ""
    assert fit.target == 3.0 and fit.trials and all(t.notes > 0 for t in fit.trials)


def test_a_ceiling_names_the_onsets_and_what_chords_gave() -> None:
    def capped(density: float, extra: float = 0.0) -> ManiaChart:
        return _chart(density, extra, cap=3.0)

    fit = fit_density(capped, 9.0, fit=True)
    assert fit.missed and fit.star_rating < 9.0 - STAR_RATING_TOLERANCE
    assert fit.note().startswith("asked 9.00: the song's onsets allow at most ")
    assert "at 4K" in fit.reason and "180 note times" in fit.reason and "chords added" in fit.reason
    assert f"{fit.star_rating:.2f}" in fit.reason  # the best the song allows is what the chart reached
    assert "\n" not in fit.note()


def test_a_jump_in_the_rating_is_named_and_chords_close_it_where_they_can() -> None:
    def stepped(density: float, extra: float = 0.0, chords: bool = True) -> ManiaChart:
        # the rating is a step function of density (as where the beat-grid rules change): 2 notes a second below
        # 5, 8 above
        return _chart(2.0 if density < 5.0 else 8.0, extra if chords else 0.0)

    low, high = star_rating(_chart(2.0)), star_rating(_chart(8.0))
    target = (low + high) / 2
    fit = fit_density(lambda d, x=0.0: stepped(d, x, chords=False), target, fit=True)
    assert fit.missed and "the star rating jumps from" in fit.reason and f"{low:.2f} to {high:.2f}" in fit.reason
    assert "chords added give at most" in fit.reason
    # with chords that do add notes, the chart below the jump is given chords until it meets the target
    met = fit_density(stepped, target, fit=True)
    assert not met.missed and met.extra_chords > 0 and met.density < 5.0


def test_a_floor_names_the_sparsest_chart() -> None:
    def dense(density: float, extra: float = 0.0) -> ManiaChart:
        return _chart(max(density, 6.0))  # never sparser than 6 notes a second

    fit = fit_density(dense, 0.5, fit=True)
    assert fit.missed and fit.star_rating > 0.5
    assert fit.reason.startswith("even the sparsest chart the search builds") and "at 4K" in fit.reason


def test_no_fit_says_so_and_long_notes_are_named() -> None:
    fit = fit_density(_chart, 7.0, fit=False)
    assert fit.missed and "fit is off" in fit.reason and len(fit.trials) == 1

    def held(density: float, extra: float = 0.0) -> ManiaChart:
        c = _chart(density, extra, cap=2.0)
        c.ends = c.starts + 200.0
        return c

    fit = fit_density(held, 9.0, fit=True)
    assert fit.missed and "100% long notes" in fit.reason


def _jacked(density: float, extra: float = 0.0, min_jack_ms: float | None = 400.0) -> ManiaChart:
    """A 60 s 4K chart at up to 9 notes a second, random columns; with ``min_jack_ms``, each note goes to a column
    free for that long (none free: dropped), as the playability rules' minimum jack gap moves and drops notes."""
    rng = np.random.default_rng(0)
    times = np.arange(0.0, 60000.0, 1000.0 / min(density, 9.0))
    last = np.full(4, -np.inf)
    starts, columns = [], []
    for t in times:
        free = np.flatnonzero(t - last >= min_jack_ms) if min_jack_ms is not None else np.arange(4)
        if len(free):
            c = int(rng.choice(free))
            last[c] = t
            starts.append(t)
            columns.append(c)
    return ManiaChart(4, np.array(starts), np.full(len(starts), np.nan), np.array(columns), [TimingPoint(0.0, 500.0)])


def test_the_minimum_jack_gap_is_named_where_it_limits_the_chart() -> None:
    fit = fit_density(_jacked, 9.0, fit=True)
    assert fit.missed and fit.reason.startswith("the minimum jack gap allows at most "), fit.reason
    assert "(--min-jack-ms)" in fit.reason and "at most 4 notes fit in any" in fit.reason
    free = fit_density(lambda d, x=0.0: _jacked(min(d, 4.0), x, min_jack_ms=None), 9.0, fit=True)
    assert free.missed and "min-jack" not in free.reason and "the song's onsets allow" in free.reason, free.reason
