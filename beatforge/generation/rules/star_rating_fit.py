"""The star-rating fit: the note density (and, past the song's onsets, the chord share) at which a chart meets the
requested osu! star rating, by bisection.

osu!'s star rating (rosu-pp) grows with note density but has no inverse, so the chart is rebuilt and rated at each
trial density; nine rebuilds bring it within 0.05 stars where the song allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart

# Typical onsets per second at a star rating, from the human 4K/7K charts in shared/data/songs: the first guess
ONSETS_PER_SECOND_PER_STAR = 1.9
# The note densities (onsets per second) the search covers
DENSITY_SEARCH_RANGE = (0.2, 16.0)


@dataclass
class Fit:
    """The chart kept, its star rating, and the onset density it was built at."""

    chart: ManiaChart
    star_rating: float
    density: float


def _rate(chart: ManiaChart) -> float:
    return star_rating(chart) if chart.n_notes else 0.0


def fit_density(build: Callable[..., ManiaChart], target: float, fit: bool, iters: int = 9) -> Fit:
    """Bisection on log note density for the ``target`` star rating; ``build(density, extra_chords=0.0)`` makes
    the chart. The closest chart seen is kept. Without ``fit``, one chart at the density the star rating implies
    for typical charts."""
    lo, hi = DENSITY_SEARCH_RANGE
    guess = float(np.clip(ONSETS_PER_SECOND_PER_STAR * target, 0.3, hi))
    chart = build(guess)
    best = Fit(chart, _rate(chart), guess)
    if not fit:
        return best
    best = bisect(lambda v: (build(float(np.exp(v))), float(np.exp(v))), np.log(lo), np.log(hi), iters, target,
                  best, stop_within=0.05)
    if best.star_rating < target - 0.2:
        # the song has no more onsets to give: add notes to chords instead (a dense chart of a slow song is chordy)
        best = bisect(lambda x: (build(hi, x), hi), 0.0, 3.0, 6, target, best)
    return best


def bisect(make: Callable[[float], tuple[ManiaChart, float]], lo: float, hi: float, iters: int, target: float,
           best: Fit, stop_within: float | None = None) -> Fit:
    """Bisection of a parameter the star rating grows with; ``make(v)`` -> (chart, density). The chart closest to
    ``target`` seen (``best`` included) is returned."""
    for _ in range(iters):
        if stop_within is not None and abs(best.star_rating - target) < stop_within:
            break
        mid = (lo + hi) / 2.0
        chart, density = make(mid)
        rating = _rate(chart)
        if abs(rating - target) < abs(best.star_rating - target):
            best = Fit(chart, rating, density)
        if rating < target:
            lo = mid
        else:
            hi = mid
    return best


__all__ = ["Fit", "fit_density", "bisect", "DENSITY_SEARCH_RANGE", "ONSETS_PER_SECOND_PER_STAR"]
