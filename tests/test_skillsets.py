"""Skillset analyser: synthetic charts whose answer is known, and calibration against real charts."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from beatforge.analysis.skillsets import PATTERNS, RATING_KEYS, SKILLSETS, pattern_flags, skillset_ratings
from beatforge.charts.chart import ManiaChart

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ------------------------------------------------------------------------------------------- helpers
def chart_of_rows(keys: int, rows: list[list[int]], gap_ms: float, *, hold_ms: float | None = None) -> ManiaChart:
    """A chart with one row (chord) every ``gap_ms``; taps, or holds of ``hold_ms``."""
    times = [1000.0 + i * gap_ms for i, row in enumerate(rows) for _ in row]
    cols = [c for row in rows for c in row]
    starts = np.array(times, dtype=np.float64)
    ends = starts + hold_ms if hold_ms is not None else np.full(len(starts), np.nan)
    return ManiaChart(keys, starts, ends, np.array(cols, dtype=np.int64))


def random_stream(keys: int, n: int, seed: int = 0) -> list[list[int]]:
    """Single notes, never the same column twice in a row (no jacks)."""
    rng = np.random.default_rng(seed)
    cols = [int(rng.integers(keys))]
    for _ in range(n - 1):
        c = int(rng.integers(keys - 1))
        cols.append(c + (c >= cols[-1]))
    return [[c] for c in cols]


def chord_spam(keys: int, n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(keys, int(rng.integers(2, keys + 1)), replace=False).tolist()) for _ in range(n)]


def top_pattern(ratings: dict[str, float]) -> str:
    return max(PATTERNS, key=ratings.__getitem__)


N_ROWS = 1200  # ~100-150 s of chart: long enough to dodge the short-chart factor


# ------------------------------------------------------------------------------------------- synthetic patterns
def test_api_shape():
    r = skillset_ratings(chart_of_rows(4, random_stream(4, N_ROWS), 1000 / 12))
    assert tuple(r) == RATING_KEYS == ("overall", *SKILLSETS)
    assert SKILLSETS == ("stream", "jumpstream", "handstream", "stamina", "jackspeed", "chordjack", "technical")
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in r.values())
    assert r["overall"] == max(r[s] for s in SKILLSETS)


def test_single_note_stream_rates_highest_in_stream():
    r = skillset_ratings(chart_of_rows(4, random_stream(4, N_ROWS), 1000 / 12))
    assert top_pattern(r) == "stream"
    assert r["stream"] > r["jumpstream"] and r["stream"] > r["technical"]
    assert 10 < r["stream"] < 25  # 12 notes/s of 4K stream sits mid-scale


@pytest.mark.parametrize("rows", [[[0]] * N_ROWS, [[(i // 8) % 4] for i in range(N_ROWS)]],
                         ids=["one-column", "longjacks"])
def test_pure_jacks_lead_jackspeed(rows):
    r = skillset_ratings(chart_of_rows(4, rows, 1000 / 8))
    assert top_pattern(r) == "jackspeed"
    assert pattern_flags(r)["jackspeed"]


def test_all_jump_jumpstream_beats_stream():
    jumps = skillset_ratings(chart_of_rows(4, [[0, 1], [2, 3]] * (N_ROWS // 2), 1000 / 12))
    assert jumps["jumpstream"] > jumps["stream"]
    assert top_pattern(jumps) == "jumpstream"
    # Classic jumpstream ([12]3[24]1[34]2...) too.
    js = skillset_ratings(chart_of_rows(4, [[0, 1], [2], [1, 3], [0], [2, 3], [1], [0, 2], [3]] * 150, 1000 / 12))
    assert top_pattern(js) == "jumpstream"


def test_handstream_leads_handstream():
    hs = [[0, 1, 2], [3], [0, 2], [1], [1, 2, 3], [0], [1, 3], [2]] * 150
    assert top_pattern(skillset_ratings(chart_of_rows(4, hs, 1000 / 12))) == "handstream"


def test_chord_spam_leads_chordjack():
    r = skillset_ratings(chart_of_rows(4, chord_spam(4, N_ROWS), 125))
    assert top_pattern(r) == "chordjack"
    quads = skillset_ratings(chart_of_rows(4, [[0, 1, 2, 3]] * N_ROWS, 1000 / 6))
    assert top_pattern(quads) == "chordjack"


def test_trill_is_technical():
    r = skillset_ratings(chart_of_rows(4, [[i % 2] for i in range(N_ROWS)], 1000 / 12))
    assert top_pattern(r) == "technical"


def test_denser_rates_higher():
    slow = skillset_ratings(chart_of_rows(4, random_stream(4, N_ROWS), 1000 / 8))
    fast = skillset_ratings(chart_of_rows(4, random_stream(4, N_ROWS), 1000 / 12))
    assert all(fast[k] > slow[k] for k in RATING_KEYS)


@pytest.mark.parametrize("rate", [1.5, 2.0])
def test_rate_scales_ratings_about_proportionally(rate):
    chart = chart_of_rows(4, random_stream(4, N_ROWS), 100)
    base, fast = skillset_ratings(chart), skillset_ratings(chart, rate=rate)
    for key in RATING_KEYS:
        assert fast[key] == pytest.approx(rate * base[key], rel=0.2), key
    assert skillset_ratings(chart, rate=1.0) == base


def test_bad_rate_raises():
    chart = chart_of_rows(4, random_stream(4, 20), 100)
    for rate in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rate"):
            skillset_ratings(chart, rate=rate)


def test_empty_chart_rates_zero_and_flags_nothing():
    empty = ManiaChart(4, np.array([]), np.array([]), np.array([], dtype=np.int64))
    r = skillset_ratings(empty)
    assert tuple(r) == RATING_KEYS and all(v == 0.0 for v in r.values())
    assert pattern_flags(r) == dict.fromkeys(SKILLSETS, False)


@pytest.mark.parametrize("keys", range(1, 11))
def test_every_key_count(keys):
    rows = [[0]] * 300 if keys == 1 else random_stream(keys, 600, seed=keys)
    r = skillset_ratings(chart_of_rows(keys, rows, 80))
    assert all(math.isfinite(v) and v >= 0 for v in r.values()) and r["overall"] > 0
    # 1K can only jack; a jack-free 2K stream is a trill and 3K has little else than trills and rolls.
    expected = {"jackspeed"} if keys == 1 else {"stream", "technical"} if keys <= 3 else {"stream"}
    assert top_pattern(r) in expected
    if keys >= 2:  # chords of every size work too
        skillset_ratings(chart_of_rows(keys, chord_spam(keys, 300, seed=keys), 150))


def test_tiny_charts():
    one = ManiaChart(7, np.array([500.0]), np.array([np.nan]), np.array([3]))
    assert skillset_ratings(one)["overall"] >= 0
    chord = ManiaChart(10, np.zeros(10), np.full(10, np.nan), np.arange(10))
    assert skillset_ratings(chord)["overall"] >= 0
    negative = chart_of_rows(4, random_stream(4, 200), 100).shifted(-5000.0)  # notes before the audio starts
    assert skillset_ratings(negative) == pytest.approx(skillset_ratings(chart_of_rows(4, random_stream(4, 200), 100)))


def test_near_simultaneous_notes_are_one_chord():
    exact = chart_of_rows(4, [[0, 1], [2, 3]] * 300, 100)
    jittered = ManiaChart(4, exact.starts + np.where(exact.columns % 2 == 1, 3.0, 0.0), exact.ends, exact.columns)
    assert skillset_ratings(jittered) == pytest.approx(skillset_ratings(exact), rel=0.02)


def test_long_notes():
    rows = random_stream(4, 600)
    taps = skillset_ratings(chart_of_rows(4, rows, 125))
    holds = skillset_ratings(chart_of_rows(4, rows, 125, hold_ms=240))
    assert holds["stream"] > taps["stream"]  # a held column cannot be used
    assert holds["stream"] < 1.25 * taps["stream"]  # ... but holds only add a little
    pure_ln = skillset_ratings(chart_of_rows(4, [[i % 4] for i in range(200)], 400, hold_ms=300))
    assert all(math.isfinite(v) for v in pure_ln.values()) and pure_ln["overall"] > 0


def test_pattern_flags_rule():
    r = {"overall": 20.0, "stream": 20.0, "jumpstream": 19.2, "handstream": 18.9, "stamina": 19.5,
         "jackspeed": 10.0, "chordjack": 12.0, "technical": 19.0}
    assert pattern_flags(r) == {"stream": True, "jumpstream": True, "handstream": False, "stamina": True,
                                "jackspeed": False, "chordjack": False, "technical": True}
    # Stamina is compared with the max of the six patterns, never with itself.
    assert pattern_flags({**r, "stamina": 25.0})["stream"]


def test_ten_thousand_notes_are_fast():
    rows = random_stream(4, 8000)
    rows = [r + [(r[0] + 2) % 4] if i % 4 == 0 else r for i, r in enumerate(rows)]  # some jumps: ~10,000 notes
    chart = chart_of_rows(4, rows, 1000 / 14)
    assert chart.n_notes >= 10_000
    skillset_ratings(chart)
    best = min(_timed(skillset_ratings, chart) for _ in range(3))
    assert best < 0.25, f"{best * 1000:.0f} ms for {chart.n_notes} notes (vectorised target: < 50 ms)"


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------- real charts
def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found: {path} (tests read ../shared/data beside the checkout)")
    return path


def _load(path: Path) -> ManiaChart:
    loader = pytest.importorskip("beatforge.formats.loader", reason="chart readers not available")
    return loader.load_charts(path)[0]


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def osu_mania():
    """(name, chart, osu! stars, ratings) for the 12 real osu!mania 4K charts."""
    rosu = pytest.importorskip("rosu_pp_py", reason="rosu-pp-py computes the osu! star ratings")
    paths = sorted(_need(DATA / "mania").glob("*.osu")) + sorted(_need(DATA / "rosu-pp" / "mania").glob("*.osu"))
    out = []
    for p in paths:
        chart = _load(p)
        stars = rosu.Difficulty().calculate(rosu.Beatmap(path=str(p))).stars
        out.append((p.stem, chart, stars, skillset_ratings(chart)))
    assert len(out) == 12
    return out


def test_overall_follows_osu_star_rating(osu_mania):
    stars = [s for _, _, s, _ in osu_mania]
    overall = [r["overall"] for _, _, _, r in osu_mania]
    assert _spearman(stars, overall) >= 0.8
    # On the MSD scale: about 3-5 x the star rating (the Etterna players' 3.5-4x rule of thumb).
    for (name, _, s, r) in osu_mania:
        assert 2.5 * s < r["overall"] < 5.0 * s, (name, s, r["overall"])


def test_real_pattern_leaders(osu_mania):
    by_name = {name: r for name, _, _, r in osu_mania}
    # everythingblack: half its notes are jacks, mostly in chords: the top jackspeed, and chordjack its pattern.
    assert max(by_name, key=lambda n: by_name[n]["jackspeed"]) == "everythingblack"
    assert top_pattern(by_name["everythingblack"]) == "chordjack"
    # theempress (~5 jumps/s) is dense jumpstream, 4869637 (~1.8 jumps/s) a light one.
    assert top_pattern(by_name["theempress"]) == "jumpstream"
    assert by_name["theempress"]["jumpstream"] > 2 * by_name["4869637"]["jumpstream"]


def test_princess_of_winter_ladder_is_monotone():
    folder = _need(DATA / "songs" / "quaver" / "PrincessOfWinter")
    charts = {c.meta.version: c for c in (_load(p) for p in folder.glob("*.qua"))}
    # The mapper's order (Quaver names, Novice and Advanced between the usual steps); note counts agree.
    ladder = ["Beginner", "Easy", "Novice", "Normal", "Advanced", "Hard", "Insane", "Expert"]
    assert sorted(charts) == sorted(ladder)
    assert [charts[v].n_notes for v in ladder] == sorted(charts[v].n_notes for v in ladder)
    overall = [skillset_ratings(charts[v])["overall"] for v in ladder]
    assert all(b > a for a, b in zip(overall, overall[1:])), dict(zip(ladder, overall))


@pytest.mark.parametrize("name", ["zetoban - Csikos Post.qp", "zetoban - Umami Packed Mountaineering.qp"])
def test_quaver_set_ladders_are_monotone(name):
    """A 4K and a 7K set: overall rises with the difficulty (the mapper's order; note counts and stars agree)."""
    loader = pytest.importorskip("beatforge.formats.loader", reason="chart readers not available")
    charts = sorted(loader.load_charts(_need(DATA / "songs" / "quaver" / name)), key=lambda c: c.n_notes)
    assert len(charts) in (6, 9)
    overall = [skillset_ratings(c)["overall"] for c in charts]
    assert all(b > a for a, b in zip(overall, overall[1:])), {c.meta.version: o for c, o in zip(charts, overall)}
