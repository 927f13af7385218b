"""Skillset difficulty ratings on Etterna's MSD scale, for any key count 1-10.

This is **not MinaCalc**. Mug Diffusion conditions its model on the eight numbers of Etterna's MinaCalc (a C++
library that is not on PyPI and rates 4K only); this module is our own, much smaller analyser whose output is
calibrated to land on the same scale: an MSD (MinaCalc Skillset Difficulty) of about 5-35, where a rating is the
skill needed to score 93 % Wife3 accuracy on the chart. It shares MinaCalc's *shape* (per-hand strain over
half-second intervals, pattern weights, a "chisel" that finds the skill reaching 93 % of the points, stamina
derived from the hardest sustained stretch, overall = the highest skillset) but none of its code or constants
beyond those ideas; expect differences of a few MSD per chart and per skillset.

The model, step by step (all times are ms divided by ``rate``; chords are found on the unscaled times, so a rate
change never alters the chart's structure):

1. **Rows.** Notes whose starts lie within ``CHORD_MS`` of the previous note form one row (a chord). A row of
   ``s`` distinct columns on ``K`` keys is a *single* (s = 1), a *jump* (2 <= s <= max(2, K/2)), a *hand*
   (K/2 < s < K) or a *quad* (s = K, only for K >= 4): on 4K that is 1 / 2 / 3 / 4 notes, on 7K 1 / 2-3 / 4-6 / 7.
2. **Hands.** Columns left of the middle are the left hand, right of it the right hand. On odd key counts
   (3K, 5K, 7K, 9K) the middle column is its own "thumb" hand, as 7K players play it; 1K has a single hand.
   A *hit* is the part of a row that one hand plays; it costs ``1 + CHORD_EXTRA * (fingers - 1)``: with the
   default 1.0 every note counts in full, as every note is judged (the row-class weights below are where chords
   get cheaper than the same notes in sequence).
3. **Jacks.** A note is a jack when its column was also hit in the previous row. Jacks make a hit count less
   for stream / jumpstream / handstream / technical and more for chordjack.
4. **Strain.** For each hand and each ``BIN_MS`` interval, a skillset's strain is the sum of its hit weights per
   second (hit cost x the skillset's weight for the hit's row class x its jack factor), smoothed over three
   intervals. Technical multiplies a plainer weighting by three interval measures: rhythmic irregularity (mean
   |log2| of the ratio of consecutive row gaps: mixed snaps), burst speed (mean instantaneous row rate over the
   mean row rate: bursts between rests) and the share of rows that continue a trill (ABAB) or a roll (three
   single notes stepping one column the same way), which also lowers stream a little.
   Jackspeed is per note: the column's local speed (1000 ms over the mean of its last two same-column gaps),
   halved when the repeat is not in consecutive rows (a finger's turn in a stream is no jack).
   Long notes: the head is a note; a held column cannot be used, so each interval's strain grows by up to
   ``HOLD_BONUS`` with the share of the hand's columns held down during it. Releases are not rated (MinaCalc
   ignores them too).
5. **Chisel.** As in MinaCalc, a player of skill x earns all of a point set's notes where x >= strain and a
   fraction (x / strain) ** ``POINT_EXPONENT`` of them otherwise; the rating is the x that earns ``SCORE_GOAL``
   (93 %) of all notes, solved exactly on the sorted strains. It behaves like a high, note-weighted percentile.
6. **Chordjack** per hit weights chords sharing a column with the previous row up, others down.
   **Stamina** takes the highest of stream / jumpstream / handstream / technical and scales it by
   ``STAMINA_BASE + STAMINA_GAIN * rho``, rho being the mean strain of the hardest ``STAMINA_WINDOW_S`` (3 min)
   stretch over that of the hardest ``PEAK_WINDOW_S`` one (a short chart counts as padded with silence): a chart
   that holds its peak for minutes gets 1.05x, a 90 s or spiky one about 0.8-0.9x.
7. **Scale.** Charts shorter than ``SHORT_CHART_S`` are scaled down a little (MinaCalc does the same), every
   skillset is multiplied by one calibrated factor ``MSD_PER_UNIT`` (raw unit: weighted hand hits per second),
   and overall is the highest skillset. Ratings are proportional to the rate, apart from the short-chart factor.

Calibration (checked by ``tests/test_skillsets.py``): the weights and ``MSD_PER_UNIT`` were set by hand on the
12 real osu!mania 4K charts of ``shared/data`` (osu! stars 2.66-7.90 with rosu-pp-py 4.0.2) and three Quaver
difficulty ladders. Overall follows the star rating with Spearman 0.92 at about MSD = 2.9-4.6 x stars, the
Etterna players' 3.5-4x rule of thumb (2.7 stars ~ 8, 6.5-7 stars ~ 22-28, 7.9 stars ~ 30); the eight
PrincessOfWinter difficulties, the six of Csikos Post and the nine 7K ones of Umami Packed Mountaineering rise
strictly with the mapper's order. Twelve charts are few, and none were rated by MinaCalc itself: absolute values
may sit a few MSD off MinaCalc's. Apart from that one 7K ladder nothing calibrates 5-10K, so treat other key
counts as indicative.
"""

from __future__ import annotations

import numpy as np

from beatforge.charts.chart import ManiaChart
from beatforge.constants import SKILLSETS  # the seven names; still importable from here

# The six patterns Mug Diffusion's dominant-pattern rule compares (stamina is compared with their maximum).
PATTERNS: tuple[str, ...] = tuple(s for s in SKILLSETS if s != "stamina")
RATING_KEYS: tuple[str, ...] = ("overall", *SKILLSETS)

CHORD_MS = 8.0  # notes closer than this (unscaled ms) form one row
BIN_MS = 500.0  # strain interval, as MinaCalc's
SCORE_GOAL = 0.93  # Wife3 accuracy an MSD rating stands for
POINT_EXPONENT = 1.8  # points kept when under-skilled: (skill / strain) ** this
MIN_GAP_MS = 30.0  # gaps are clipped here (no human taps one finger faster than ~33 /s)
BREAK_MS = 1000.0  # a gap this long between rows is a rest, not rhythm
CHORD_EXTRA = 1.0  # cost of each extra note of one hand's hit: 1 = a full note (each is judged), as in MinaCalc
HOLD_BONUS = 0.2  # strain added when every column of a hand is held for a whole interval
JACK_SPEED_WEIGHT = 0.8  # a column jacked at f /s strains like f * this hand hits /s
JACK_UNJACKED = 0.5  # jackspeed weight of a column repeat that is not in consecutive rows
TECH_MIX = 0.2  # technical gain per unit of mean |log2(gap ratio)| between consecutive rows
TECH_BURST = 0.5  # exponent of the burst-speed factor of technical
TECH_TRILL_ROLL = 0.4  # technical gain in an interval made only of trills and rolls
STREAM_TRILL_ROLL_CUT = 0.2  # stream loss there (a trill or roll is not plain stream)
STAMINA_WINDOW_S = 180.0  # the sustained stretch stamina looks at
PEAK_WINDOW_S = 15.0  # the peak it is compared with
STAMINA_BASE, STAMINA_GAIN = 0.75, 0.3
SHORT_CHART_S = (15.0, 45.0)  # duration ramp over which the short-chart factor goes from SHORT_CHART_MIN to 1
SHORT_CHART_MIN = 0.85
MSD_PER_UNIT = 2.5  # calibrated: raw strain (weighted hand hits /s) -> MSD

# Weight of a hit by its row class (single, jump, hand, quad) for each density skillset, and the factor a fully
# jacked hit keeps (linear in the share of the hit's notes that are jacks).
_CLASS_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "stream": (1.00, 0.70, 0.55, 0.45),
    "jumpstream": (0.80, 1.00, 0.80, 0.60),
    "handstream": (0.72, 0.85, 1.10, 1.00),
    "technical": (0.80, 0.80, 0.75, 0.60),
    "chordjack": (0.50, 0.70, 0.85, 0.85),
}
_JACK_KEEP: dict[str, float] = {"stream": 0.55, "jumpstream": 0.55, "handstream": 0.6, "technical": 0.55}
_CHORDJACK_UNJACKED = 0.55  # chordjack weight of a row sharing no column with the previous row


# ------------------------------------------------------------------------------------------- structure
def _hand_of_columns(keys: int) -> tuple[np.ndarray, int]:
    """Hand index of each column and the hand count: 0 left, 1 right, 2 the middle "thumb" of odd key counts."""
    cols = np.arange(keys)
    if keys == 1:
        return np.zeros(1, dtype=np.int64), 1
    if keys % 2 == 0:
        return (cols >= keys // 2).astype(np.int64), 2
    hands = np.where(cols < keys // 2, 0, 1)
    hands[keys // 2] = 2
    return hands.astype(np.int64), 3


def _row_class(sizes: np.ndarray, keys: int) -> np.ndarray:
    """0 single, 1 jump, 2 hand, 3 quad (a full chord, K >= 4) for rows of ``sizes`` distinct columns."""
    cls = np.where(sizes <= 1, 0, np.where(sizes <= max(2.0, keys / 2), 1, 2))
    if keys >= 4:
        cls = np.where(sizes >= keys, 3, cls)
    return cls


def _segment_starts(keys_sorted: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]])


def _smooth3(x: np.ndarray) -> np.ndarray:
    """Centred 3-interval moving average along the last axis (zeros outside)."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 1)])
    return (padded[..., :-2] + padded[..., 1:-1] + padded[..., 2:]) / 3.0


# ------------------------------------------------------------------------------------------- chisel
def _chisel(strain: np.ndarray, points: np.ndarray) -> float:
    """Skill x with sum(points * min(1, (x / strain) ** p)) = SCORE_GOAL * sum(points), solved exactly.

    Sorting the strains ascending, between consecutive strains d_k <= x < d_{k+1} the earned points are
    C_k + x ** p * R_k (C_k: points of strains <= d_k, R_k: the rest's points / strain ** p), so x follows in
    closed form on every segment and the one segment where it lands inside is the answer.
    """
    keep = points > 0
    strain, points = strain[keep], points[keep]
    if strain.size == 0:
        return 0.0
    goal = SCORE_GOAL * points.sum()
    free = points[strain <= 0].sum()
    if free >= goal:
        return 0.0
    pos = strain > 0
    d, n = strain[pos], points[pos]
    order = np.argsort(d)
    d, n = d[order], n[order]
    inv = n * d ** -POINT_EXPONENT
    c = free + np.r_[0.0, np.cumsum(n)]  # (M+1,) earned in full below segment k
    r = inv.sum() - np.r_[0.0, np.cumsum(inv)]  # (M+1,) prefactor of x**p on segment k
    lo = np.r_[0.0, d]  # segment k spans [lo_k, hi_k)
    hi = np.r_[d, np.inf]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(r > 0, ((goal - c) / r) ** (1.0 / POINT_EXPONENT), np.inf)
    ok = (goal > c) & (x >= lo) & (x <= hi * (1 + 1e-12))
    if not ok.any():  # numerically on a segment edge: the strain where the cumulative points reach the goal
        edge = np.searchsorted(np.cumsum(n) + free, goal)
        return float(d[min(edge, len(d) - 1)])
    return float(x[np.flatnonzero(ok)[0]])


# ------------------------------------------------------------------------------------------- strains
class _Strains:
    """Per-hand, per-interval strains of a chart (the vectorised core)."""

    def __init__(self, chart: ManiaChart, rate: float) -> None:
        keys = chart.keys
        starts0, columns = chart.starts, chart.columns
        rows0 = np.r_[0, np.cumsum(np.diff(starts0) > CHORD_MS)]  # (N,) row id of each note
        # One note per (row, column): duplicates stacked on one column count once.
        _, first = np.unique(rows0 * keys + columns, return_index=True)
        first.sort()
        self.rows, self.cols = rows0[first], columns[first]
        origin = starts0[0]  # only relative times matter; this keeps interval indices >= 0
        self.t = (starts0[first] - origin) / rate  # (N,) ms
        self.ends = (chart.ends[first] - origin) / rate
        hand_of, self.n_hands = _hand_of_columns(keys)
        self.hands = hand_of[self.cols]
        self.keys, self.hand_of = keys, hand_of

        # Rows: time, size, class, column bitmask, jack flags of the notes.
        row_start = _segment_starts(self.rows)
        n_rows = len(row_start)
        self.rows = np.searchsorted(self.rows[row_start], self.rows)  # dense 0..R-1
        row_t = self.t[row_start]
        sizes = np.diff(np.r_[row_start, len(self.t)])
        self.row_class = _row_class(sizes, keys)
        row_mask = np.bitwise_or.reduceat(np.left_shift(1, self.cols), row_start)
        prev_mask = np.r_[0, row_mask[:-1]]
        self.note_jack = (prev_mask[self.rows] >> self.cols) & 1  # (N,) 1 where the previous row had this column
        self.row_jacked = (row_mask & prev_mask) != 0  # (R,)

        self.n_bins = int(self.t.max() // BIN_MS) + 1 if len(self.t) else 0
        self.duration_s = (self.t.max() - self.t.min()) / 1000.0 if len(self.t) else 0.0
        self._hits(row_t, n_rows)
        self._points()
        self._holds()

    def _hits(self, row_t: np.ndarray, n_rows: int) -> None:
        """Group notes into (row, hand) hits and compute their per-hit features."""
        key = self.rows * 3 + self.hands
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        starts = _segment_starts(key_sorted)
        self.hit_row = key_sorted[starts] // 3
        self.hit_hand = key_sorted[starts] % 3
        fingers = np.diff(np.r_[starts, len(key_sorted)])
        jacked = np.add.reduceat(self.note_jack[order], starts)
        self.hit_cost = 1.0 + CHORD_EXTRA * (fingers - 1)
        self.hit_jack = jacked / fingers  # share of the hit's notes that are jacks
        self.hit_class = self.row_class[self.hit_row]
        self.hit_t = row_t[self.hit_row]
        self.hit_bin = (self.hit_t // BIN_MS).astype(np.int64)
        # Rhythm per interval, from the gaps between consecutive rows (gaps long enough to be breaks excluded):
        # burst = mean instantaneous row rate / mean row rate (1 for an even rhythm, up to 2 for bursts between
        # rests); irregularity = mean |log2| of the ratio of consecutive gaps (0 for one snap, 0.58 for 1/4 <-> 1/6).
        row_gap = np.maximum(np.diff(row_t), MIN_GAP_MS)
        row_bin = (row_t[1:] // BIN_MS).astype(np.int64)
        live = row_gap < BREAK_MS
        inst = np.bincount(row_bin[live], 1000.0 / row_gap[live], minlength=self.n_bins)
        n_live = np.bincount(row_bin[live], minlength=self.n_bins)
        inst = np.divide(inst, n_live, out=np.zeros(self.n_bins), where=n_live > 0)  # (B,) mean rows /s locally
        row_rate = np.bincount((row_t // BIN_MS).astype(np.int64), minlength=self.n_bins) * (1000.0 / BIN_MS)
        self.burst = np.clip(np.divide(inst, row_rate, out=np.ones(self.n_bins), where=row_rate > 0), 1.0, 2.0)
        self.trill_roll = self._trill_roll_share(row_t)
        if n_rows >= 3:
            g1, g2 = row_gap[:-1], row_gap[1:]
            change = np.minimum(np.abs(np.log2(g2 / g1)), 1.0)
            live = np.maximum(g1, g2) < BREAK_MS
            bins = (row_t[2:] // BIN_MS).astype(np.int64)
            num = np.bincount(bins[live], change[live], minlength=self.n_bins)
            den = np.bincount(bins[live], minlength=self.n_bins)
            self.irregularity = np.divide(num, den, out=np.zeros(self.n_bins), where=den > 0)
        else:
            self.irregularity = np.zeros(self.n_bins)

    def _trill_roll_share(self, row_t: np.ndarray) -> np.ndarray:
        """Share of each interval's rows that end a trill (ABAB) or a roll (three single notes stepping one column
        the same way), (B,). A random 4K stream scores about 0.2, a 1234 roll 0.5, a trill 1."""
        single = self.row_class == 0
        first_col = self.cols[_segment_starts(self.rows)]
        # Chords get unique far-apart codes, so no trill or roll runs through them.
        seq = np.where(single, first_col, -100 * (np.arange(len(single)) + 1))
        flag = np.zeros(len(seq), dtype=bool)
        if len(seq) >= 4:
            a, b, c, d = seq[3:], seq[2:-1], seq[1:-2], seq[:-3]  # rows i, i-1, i-2, i-3
            trill = (a == c) & (b == d) & (a != b)
            step = a - b
            roll = (np.abs(step) == 1) & (b - c == step)
            flag[3:] = trill | roll
        bins = (row_t // BIN_MS).astype(np.int64)
        rows = np.bincount(bins, minlength=self.n_bins)
        return np.divide(np.bincount(bins, flag, minlength=self.n_bins), rows, out=np.zeros(self.n_bins),
                         where=rows > 0)

    def _points(self) -> None:
        """Notes per (hand, interval): the points MinaCalc's chisel weighs each interval's strain by."""
        note_bin = (self.t // BIN_MS).astype(np.int64)
        self.points = np.bincount(self.hands * self.n_bins + note_bin, minlength=3 * self.n_bins)
        self.points = self.points.reshape(3, self.n_bins)[: self.n_hands].astype(np.float64)  # (H, B)

    def _holds(self) -> None:
        """Share of each hand's column-time held by long notes in each interval, (H, B)."""
        self.held = np.zeros((self.n_hands, self.n_bins))
        is_ln = ~np.isnan(self.ends)
        if not is_ln.any():
            return
        edges = np.arange(self.n_bins + 1) * BIN_MS
        for h in range(self.n_hands):
            sel = is_ln & (self.hands == h)
            if not sel.any():
                continue
            s, e = np.sort(self.t[sel]), np.sort(self.ends[sel])
            cs, ce = np.r_[0.0, np.cumsum(s)], np.r_[0.0, np.cumsum(e)]
            ks, ke = np.searchsorted(s, edges), np.searchsorted(e, edges)
            # Held ms before each edge: sum over started holds of (edge - start), minus the same for ended ones.
            held_before = (ks * edges - cs[ks]) - (ke * edges - ce[ke])
            self.held[h] = np.diff(held_before) / (BIN_MS * max(int((self.hand_of == h).sum()), 1))

    def density(self, skillset: str) -> np.ndarray:
        """Strain (weighted hits per second) of a density skillset, per hand and interval, (H, B)."""
        cls_w = np.asarray(_CLASS_WEIGHTS[skillset])[self.hit_class]
        if skillset == "chordjack":
            jack_w = np.where(self.row_jacked[self.hit_row], 1.0, _CHORDJACK_UNJACKED)
        else:
            jack_w = 1.0 - (1.0 - _JACK_KEEP[skillset]) * self.hit_jack
        weight = self.hit_cost * cls_w * jack_w
        idx = self.hit_hand * self.n_bins + self.hit_bin
        strain = np.bincount(idx, weight, minlength=3 * self.n_bins).reshape(3, self.n_bins)[: self.n_hands]
        strain = strain * (1000.0 / BIN_MS)
        if skillset == "technical":
            strain = strain * self.burst**TECH_BURST * (1.0 + TECH_MIX * self.irregularity)
            strain = strain * (1.0 + TECH_TRILL_ROLL * self.trill_roll)
        elif skillset == "stream":
            strain = strain * (1.0 - STREAM_TRILL_ROLL_CUT * self.trill_roll)
        strain = strain * (1.0 + HOLD_BONUS * self.held)
        return _smooth3(strain)

    def jack(self) -> np.ndarray:
        """Per-note jackspeed strain: the column's local speed over its last two same-column gaps, (N,)."""
        order = np.lexsort((self.t, self.cols))
        t, c = self.t[order], self.cols[order]
        gap = np.full(len(t), np.inf)
        same = c[1:] == c[:-1]
        gap[1:][same] = np.diff(t)[same]
        gap = np.maximum(gap, MIN_GAP_MS)
        prev = np.r_[np.inf, gap[:-1]]
        prev[np.r_[True, ~same]] = np.inf
        # Mean of the last two gaps: a lone minijack after a long gap counts less than a sustained jack.
        local = np.where(np.isfinite(prev), (gap + prev) / 2.0, gap)
        strain = np.zeros(len(t))
        strain[order] = JACK_SPEED_WEIGHT * 1000.0 / local
        # A column repeat with other rows between (a finger's turn in a stream) is no jack: it counts less.
        return strain * np.where(self.note_jack > 0, 1.0, JACK_UNJACKED)


# ------------------------------------------------------------------------------------------- public API
def skillset_ratings(chart: ManiaChart, *, rate: float = 1.0) -> dict[str, float]:
    """The eight MinaCalc-style ratings of a chart on Etterna's MSD scale (our approximation, not MinaCalc).

    Args:
        chart: any key count 1-10; long notes count by their heads, holds add a little strain.
        rate: music rate; every time is divided by it (1.5 = a 1.5x faster chart), and the ratings grow
            about in proportion.

    Returns:
        {"overall", "stream", "jumpstream", "handstream", "stamina", "jackspeed", "chordjack", "technical"}
        -> MSD (about 5-35 for real charts). A chart without notes rates 0.0 everywhere (as MinaCalc does).
    """
    if not rate > 0 or not np.isfinite(rate):
        raise ValueError(f"rate must be a positive finite number, got {rate}")
    if chart.n_notes == 0:
        return dict.fromkeys(RATING_KEYS, 0.0)
    s = _Strains(chart, rate)
    raw: dict[str, float] = {}
    dens: dict[str, np.ndarray] = {}
    for name in ("stream", "jumpstream", "handstream", "technical", "chordjack"):
        dens[name] = s.density(name)
        raw[name] = _chisel(dens[name].ravel(), s.points.ravel())
    raw["jackspeed"] = _chisel(s.jack(), np.ones(len(s.t)))
    raw["stamina"] = _stamina(raw, dens)

    short_factor = float(np.interp(s.duration_s, SHORT_CHART_S, (SHORT_CHART_MIN, 1.0)))
    scale = MSD_PER_UNIT * short_factor
    out = {name: raw[name] * scale for name in SKILLSETS}
    return {"overall": max(out.values()), **out}


def _stamina(raw: dict[str, float], dens: dict[str, np.ndarray]) -> float:
    """Stamina: the main density skillset scaled by how sustained its hardest multi-minute stretch is.

    rho = mean strain of the hardest ``STAMINA_WINDOW_S`` stretch / mean strain of the hardest ``PEAK_WINDOW_S``
    stretch (both on the strain of the harder hand in each interval; a chart shorter than a window counts as
    padded with silence), so 1 for a chart that stays at its peak for minutes and small for a short burst.
    """
    main = max(("stream", "jumpstream", "handstream", "technical"), key=raw.__getitem__)
    per_bin = dens[main].max(axis=0)  # (B,) harder hand in each interval
    peak = _hardest_stretch(per_bin, PEAK_WINDOW_S)
    if raw[main] <= 0 or peak <= 0:
        return 0.0
    rho = _hardest_stretch(per_bin, STAMINA_WINDOW_S) / peak
    return raw[main] * (STAMINA_BASE + STAMINA_GAIN * rho)


def _hardest_stretch(per_bin: np.ndarray, seconds: float) -> float:
    """Highest mean of ``per_bin`` over any run of ``seconds`` (zeros beyond the chart's ends)."""
    window = max(int(round(seconds * 1000.0 / BIN_MS)), 1)
    csum = np.r_[0.0, np.cumsum(per_bin)]
    if len(per_bin) <= window:
        return float(csum[-1]) / window
    return float(np.max(csum[window:] - csum[:-window])) / window


def pattern_flags(ratings: dict[str, float]) -> dict[str, bool]:
    """Mug Diffusion's dominant-pattern flags.

    A pattern is flagged when its MSD is within 1 of the highest of stream, jumpstream, handstream, jackspeed,
    chordjack and technical; stamina is compared with that same maximum. A chart whose patterns all rate 0
    (no notes) flags nothing.

    Returns:
        {skillset: bool} for the seven names of :data:`SKILLSETS`.
    """
    top = max(float(ratings[p]) for p in PATTERNS)
    if top <= 0:
        return dict.fromkeys(SKILLSETS, False)
    return {name: float(ratings[name]) >= top - 1.0 for name in SKILLSETS}
