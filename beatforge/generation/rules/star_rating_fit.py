"""The star-rating fit: the note density (and, where density alone cannot meet it, the chord share) at which a chart
meets the requested osu! star rating, by bisection; and, where no chart the search built comes within
STAR_RATING_TOLERANCE of the request, why not.

osu!'s star rating (rosu-pp) grows with note density but has no inverse, so the chart is rebuilt and rated at each
trial density; nine rebuilds bring it within 0.05 stars where the song allows it. It does not always allow it:

* a ceiling: past some density the song has no more onsets to give (the note times stop growing however many are
  asked for), and chords on top of them stop adding stars too; or the playability rules' minimum jack gap
  (--min-jack-ms) leaves no free column for more notes (told from the chart: no column reused faster than the
  notes take to fill all of them); long notes, which keep their columns, leave fewer notes still;
* a jump: the rating is a step function of density where the note rules change (a slow chart's notes on half
  beats, a denser one's on quarter beats: measured on a 3-minute 169 BPM song, 2.33 stars at 6.19 notes a second
  and 4.16 at 6.24), so no density rates in between. Chords are then added to the densest chart below the target;
* a floor: even the sparsest chart the search builds rates above a low request.

Each trial is recorded (:class:`Trial`) and the reason is read from them: what the search actually hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart
from beatforge.constants import STAR_RATING_TOLERANCE

# Typical onsets per second at a star rating, from the human 4K/7K charts in shared/data/songs: the first guess
ONSETS_PER_SECOND_PER_STAR = 1.9
# The note densities (onsets per second) the search covers
DENSITY_SEARCH_RANGE = (0.2, 16.0)
# The extra chord share the chord stage covers (added to the chart's chord ratio)
EXTRA_CHORDS_RANGE = (0.0, 3.0)
# The bisections stop once within this many stars of the target
STOP_WITHIN = 0.05
# A chart whose distinct note times per second (over its first to last note) stay below this share of the density
# asked for has run out of onsets: asking for more notes gives no more
SATURATED_SHARE = 0.8
# The minimum-jack rule limits a chart whose shortest same-column gap is at least this share of the time its notes
# take to fill every column (keys x the median gap between note times)
JACK_BOUND_SHARE = 0.8


@dataclass(frozen=True)
class Trial:
    """One chart the search built and rated."""

    density: float  # notes per second asked for
    extra_chords: float
    star_rating: float
    notes: int
    times: int  # distinct note times (a chord is one)
    long_notes: int
    seconds: float  # first to last note

    @property
    def times_per_second(self) -> float:
        return self.times / max(self.seconds, 1.0)


@dataclass
class Fit:
    """The chart kept, its star rating, the onset density (and extra chord share) it was built at; the request, the
    trials, and why the chart misses the request where it does."""

    chart: ManiaChart
    star_rating: float
    density: float
    extra_chords: float = 0.0
    target: float | None = None
    reason: str = ""  # why the chart misses ``target`` by more than STAR_RATING_TOLERANCE; "" where it meets it
    trials: tuple[Trial, ...] = ()

    @property
    def missed(self) -> bool:
        """Whether the chart's star rating is more than STAR_RATING_TOLERANCE from the request."""
        return self.target is not None and abs(self.star_rating - self.target) > STAR_RATING_TOLERANCE

    def note(self) -> str:
        """One line for a miss, "asked 6.50: <why>" (what the chart's metadata and the CLI show); "" otherwise."""
        return f"asked {self.target:.2f}: {self.reason}" if self.missed else ""


def _rate(chart: ManiaChart) -> float:
    return star_rating(chart) if chart.n_notes else 0.0


class _Search:
    """Builds, rates and records the trials of one fit."""

    def __init__(self, build: Callable[..., ManiaChart], target: float) -> None:
        self.build, self.target = build, target
        self.trials: list[Trial] = []

    def run(self, density: float, extra: float = 0.0) -> Fit:
        chart = self.build(density) if extra == 0.0 else self.build(density, extra)
        rating = _rate(chart)
        starts = np.asarray(chart.starts, dtype=np.float64)
        self.trials.append(Trial(
            density=float(density), extra_chords=float(extra), star_rating=rating, notes=int(chart.n_notes),
            times=int(len(np.unique(starts))), long_notes=int(np.count_nonzero(~np.isnan(chart.ends))),
            seconds=float(starts.max() - starts.min()) / 1000.0 if len(starts) else 0.0))
        return Fit(chart, rating, float(density), float(extra))


def fit_density(build: Callable[..., ManiaChart], target: float, fit: bool, iters: int = 9, *,
                floor: float | None = None) -> Fit:
    """Bisection on log note density for the ``target`` star rating; ``build(density, extra_chords=0.0)`` makes
    the chart. The closest chart seen is kept. Without ``fit``, one chart at the density the star rating implies
    for typical charts. The result says whether it misses the target (:attr:`Fit.missed`) and why
    (:attr:`Fit.reason`).

    ``floor``: the lowest star rating the chart should keep (the floor of the level whose Ranking Criteria rules
    ``build`` applies, :func:`beatforge.generation.rules.ranking.rating_floor`): of the charts within
    STAR_RATING_TOLERANCE of the target, one at or above it is kept before a closer one below it."""
    search = _Search(build, target)
    lo, hi = DENSITY_SEARCH_RANGE
    guess = float(np.clip(ONSETS_PER_SECOND_PER_STAR * target, 0.3, hi))
    best = search.run(guess)
    if fit:
        best = _bisect(lambda v: search.run(float(np.exp(v))), np.log(lo), np.log(hi), iters, target, best,
                       stop_within=STOP_WITHIN, floor=floor)
        below = [t for t in search.trials if t.star_rating < target]
        under_floor = floor is not None and best.star_rating < floor
        if (abs(best.star_rating - target) > STAR_RATING_TOLERANCE or under_floor) and below:
            # density alone cannot meet it (the song has no more onsets to give, or the rating jumps over the
            # target between two densities): add notes to the chords of the highest-rated chart below the target
            base = max(below, key=lambda t: (t.star_rating, t.density))
            best = _bisect(lambda x: search.run(base.density, x), *EXTRA_CHORDS_RANGE, 6, target, best,
                           stop_within=STOP_WITHIN, floor=floor)
    best.target, best.trials = target, tuple(search.trials)
    if best.missed:
        best.reason = _why(best, fit)
    return best


def _bisect(step: Callable[[float], Fit], lo: float, hi: float, iters: int, target: float, best: Fit,
            stop_within: float | None = None, floor: float | None = None) -> Fit:
    def rank(f: Fit) -> tuple[bool, bool, float]:
        # within the tolerance first, then at or above the floor, then the closest (without a floor: the closest)
        off = abs(f.star_rating - target)
        return off > STAR_RATING_TOLERANCE, floor is not None and f.star_rating < floor, off

    for _ in range(iters):
        if stop_within is not None and rank(best) < (False, False, stop_within):
            break
        mid = (lo + hi) / 2.0
        trial = step(mid)
        if rank(trial) < rank(best):
            best = trial
        if trial.star_rating < target:
            lo = mid
        else:
            hi = mid
    return best


def bisect(make: Callable[[float], tuple[ManiaChart, float]], lo: float, hi: float, iters: int, target: float,
           best: Fit, stop_within: float | None = None) -> Fit:
    """Bisection of a parameter the star rating grows with; ``make(v)`` -> (chart, density). The chart closest to
    ``target`` seen (``best`` included) is returned."""

    def step(v: float) -> Fit:
        chart, density = make(v)
        return Fit(chart, _rate(chart), density)

    return _bisect(step, lo, hi, iters, target, best, stop_within)


# ------------------------------------------------------------------------------------------------ why it missed
def _why(best: Fit, fit: bool) -> str:
    """Why ``best`` misses its target, read from the trials: one line."""
    target, keys = float(best.target), best.chart.keys
    if not fit:
        return (f"the star-rating fit is off: one chart at {best.density:.1f} notes a second, the typical density "
                f"for {target:.2f} stars")
    plain = [t for t in best.trials if t.extra_chords == 0.0]
    jack = _jack_limit(best.chart) if best.star_rating < target else None
    chords = [t for t in best.trials if t.extra_chords > 0.0]
    if any(t.star_rating < target for t in plain) and any(t.star_rating > target for t in plain):
        reason = _jump(plain, target)
    elif any(t.star_rating < target for t in plain):
        reason = _ceiling(plain, chords, keys, jack)
        if all(t.star_rating < target for t in chords):
            chords = []  # the ceiling has said what they gave
    else:
        sparse = min(plain, key=lambda t: t.density)
        reason = (f"even the sparsest chart the search builds ({sparse.notes} notes, "
                  f"{sparse.notes / max(sparse.seconds, 1.0):.2f} a second) rates {sparse.star_rating:.2f} stars "
                  f"at {keys}K")
    if chords:
        reason += "; " + _chords(chords, target)
    if jack is not None and not reason.startswith("the minimum jack gap"):
        reason += f"; {_jack_words(jack, keys)}"
    ln = np.count_nonzero(~np.isnan(best.chart.ends)) / max(best.chart.n_notes, 1)
    if ln >= 0.2:
        reason += f" (with {ln:.0%} long notes: a held note blocks its column, so fewer notes fit)"
    return reason


def _jack_limit(chart: ManiaChart) -> float | None:
    """The shortest gap between two notes of one column where it, not the song, limits the chart: the columns are
    reused no faster than that although the notes come so often that all of them are taken within it (the minimum
    jack rule of the playability rules removes or moves the rest); None where it does not."""
    starts, cols = np.asarray(chart.starts, dtype=np.float64), np.asarray(chart.columns)
    times = np.unique(starts)
    if len(times) < 8 or chart.keys < 1:
        return None
    order = np.lexsort((starts, cols))
    # start to start, as the rule measures it, after a tap (a long note keeps its column for its own reasons)
    same = (cols[order][1:] == cols[order][:-1]) & np.isnan(np.asarray(chart.ends, dtype=np.float64)[order][:-1])
    gaps = np.diff(starts[order])[same]
    if not len(gaps):
        return None
    shortest = float(gaps.min())
    return shortest if shortest >= JACK_BOUND_SHARE * chart.keys * float(np.median(np.diff(times))) else None


def _jump(plain: list[Trial], target: float) -> str:
    """The two charts of neighbouring densities whose star ratings straddle the target, closest in density."""
    ordered = sorted(plain, key=lambda t: t.density)
    pairs = [(a, b) for a, b in zip(ordered, ordered[1:])
             if min(a.star_rating, b.star_rating) < target < max(a.star_rating, b.star_rating)]
    a, b = min(pairs, key=lambda p: p[1].density - p[0].density)
    return (f"the star rating jumps from {a.star_rating:.2f} to {b.star_rating:.2f} between {a.density:.2f} and "
            f"{b.density:.2f} notes a second ({a.times} -> {b.times} note times): no density rates in between")


def _jack_words(jack: float, keys: int) -> str:
    return (f"no two notes of a column are closer than {jack:.0f} ms (--min-jack-ms), so at most {keys} notes fit in "
            f"any {jack:.0f} ms")


def _ceiling(plain: list[Trial], chords: list[Trial], keys: int, jack: float | None) -> str:
    """Every chart of the density search rates below the target: what stopped the rating growing (and, where
    they stay below it too, how far chords on top went)."""
    top = max(plain, key=lambda t: t.star_rating)
    peak = max(plain + chords, key=lambda t: t.star_rating)
    densest = max(plain, key=lambda t: t.density)
    with_chords = f", and {peak.star_rating:.2f} with chords added ({peak.notes} notes)" if peak.extra_chords else ""
    if densest.times_per_second < SATURATED_SHARE * densest.density:
        most = max(plain, key=lambda t: t.times)
        limit = (f"the minimum jack gap allows at most {peak.star_rating:.2f} stars at {keys}K ("
                 f"{_jack_words(jack, keys)})" if jack is not None else
                 f"the song's onsets allow at most {peak.star_rating:.2f} stars at {keys}K")
        return (f"{limit}: however dense the chart is asked to be, it gets at most {most.times} note times "
                f"({most.times_per_second:.1f} a second), {top.star_rating:.2f} stars{with_chords}")
    return (f"no denser chart rates higher than {top.star_rating:.2f} stars at {keys}K ({top.notes} notes at "
            f"{top.density:.1f} a second; the densest tried, {densest.density:.1f} a second, "
            f"{densest.star_rating:.2f}){with_chords}")


def _chords(chords: list[Trial], target: float) -> str:
    """What adding chords gave."""
    lo = max((t for t in chords if t.star_rating < target), key=lambda t: t.star_rating, default=None)
    hi = min((t for t in chords if t.star_rating > target), key=lambda t: t.star_rating, default=None)
    if lo is None and hi is None:
        return "chords added change nothing"
    if hi is None:
        return f"chords added give at most {lo.star_rating:.2f} ({lo.notes} notes)"
    if lo is None:
        return f"even the fewest chords added give {hi.star_rating:.2f}"
    return f"chords added give {lo.star_rating:.2f} or {hi.star_rating:.2f}, nothing in between"


__all__ = ["DENSITY_SEARCH_RANGE", "EXTRA_CHORDS_RANGE", "ONSETS_PER_SECOND_PER_STAR", "Fit", "Trial", "bisect",
           "fit_density"]
