"""The Ranking Criteria rules of generation (:mod:`beatforge.generation.rules.ranking`): per rule, a hand-made chart
that breaks it is fixed by the rule and then passes the check that found it; make_ranked on random messy charts
passes every check of the notes at every level; the star-rating fit keeps a level's floor; and a short generation
at an Easy and a Hard rating passes ``beatforge check``'s chart and set checks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from beatforge.analysis.ranking_criteria import (
    check_chart,
    check_chord_size,
    check_chords_in_runs,
    check_concurrent_notes,
    check_empty_columns,
    check_fast_snaps,
    check_jacks,
    check_long_note_length,
    check_objects_during_long_notes,
    check_pressed_at_once,
    check_release_gaps,
    check_run_length,
    check_snapping,
)
from beatforge.analysis.ranking_issues import ChartContext
from beatforge.analysis.ranking_report import check_paths
from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.generation.rules.playability import check_playable
from beatforge.generation.rules.ranking import (
    RATING_MARGIN,
    break_jacks,
    check_ranked,
    fill_empty_columns,
    fit_long_notes,
    judged_level,
    limit_chords,
    limit_fast_notes,
    limit_runs,
    make_ranked,
    metric_rank,
    rating_floor,
    requested_level,
    settle_level,
    snap_to_ticks,
)
from beatforge.generation.rules.star_rating_fit import Fit, fit_density

BEAT = 400.0  # 150 BPM: the criteria's limits as written (120-240 BPM); 1/16 = 25 ms, 1/12 = 33.3 ms
LEVELS = ("easy", "normal", "hard", "insane", "expert")


def mk(keys: int, notes: list[tuple[float, float | None, int]], beat: float = BEAT) -> ManiaChart:
    """A chart from (start, end or None, column) triples, with one timing point at 0 ms."""
    return ManiaChart(keys, [n[0] for n in notes], [np.nan if n[1] is None else n[1] for n in notes],
                      [n[2] for n in notes], [TimingPoint(0.0, beat, 4)])


def found(check, chart: ManiaChart, level: str) -> list[str]:
    return [i.message for i in check(ChartContext(chart, level)) if i.severity != "info"]


def onsets(chart: ManiaChart) -> list[float]:
    return sorted(set(chart.starts.tolist()))


# ==================================================================================== one rule at a time
def test_snap_to_ticks_puts_starts_on_the_nearest_tick_and_ends_on_the_one_before() -> None:
    chart = mk(4, [(407.0, None, 0), (800.0, 1013.0, 1), (1190.0, None, 2), (1600.0, None, 3)])
    assert found(check_snapping, chart, "hard")
    fixed = snap_to_ticks(chart)
    assert found(check_snapping, fixed, "hard") == []
    assert fixed.starts.tolist() == [400.0, 800.0, 1200.0, 1600.0]
    assert fixed.ends[1] == 1000.0  # 1013 ms: the 1/16 tick at 1000 before it, not the 1/12 one at 1033.3 after
    on_tick = mk(4, [(0.0, None, 0), (100.0, 400.0, 1), (133.33333333333334, None, 2)])
    assert np.array_equal(snap_to_ticks(on_tick).starts, on_tick.starts)


def test_snap_to_ticks_cuts_at_the_end_of_the_song_on_a_tick() -> None:
    chart = mk(4, [(0.0, 5013.0, 0), (400.0, None, 1), (5200.0, None, 2)])
    fixed = snap_to_ticks(chart, end_ms=4990.0)
    assert fixed.n_notes == 2 and fixed.ends[0] == 4975.0  # the last 1/16 tick before 4990 ms


def test_fast_notes_lose_the_weakest_times_first() -> None:
    # Easy: "Note snappings of consecutive 1/4 and higher should not be used"
    chart = mk(4, [(k * BEAT / 4, None, k % 4) for k in range(1, 17)])
    assert found(check_fast_snaps, chart, "easy")
    fixed = limit_fast_notes(chart, "easy")
    assert found(check_fast_snaps, fixed, "easy") == []
    beats = np.array(onsets(fixed)) / BEAT
    assert np.allclose(beats * 2, np.round(beats * 2))  # the half beats kept, the quarter beats taken


def test_hard_keeps_three_grace_notes() -> None:
    chart = mk(4, [(BEAT + k * BEAT / 8, None, k % 4) for k in range(5)])  # five notes 1/8 apart
    assert found(check_fast_snaps, chart, "hard")
    fixed = limit_fast_notes(chart, "hard")
    assert found(check_fast_snaps, fixed, "hard") == []
    assert fixed.starts.tolist() == [400.0, 450.0, 500.0, 600.0]  # one 1/8 grace note, and the 1/4 note after it
    assert limit_fast_notes(mk(4, [(BEAT + k * BEAT / 8, None, k) for k in range(3)]), "hard").n_notes == 3


def test_runs_are_broken_at_five_notes() -> None:
    for level, step in (("easy", BEAT / 2), ("normal", BEAT / 4)):
        chart = mk(4, [(k * step, None, k % 4) for k in range(1, 15)])
        assert found(check_run_length, chart, level)
        fixed = limit_runs(chart, level)
        assert found(check_run_length, fixed, level) == [] and fixed.n_notes >= 10


def test_chords_inside_runs_become_single_notes_and_keep_their_time() -> None:
    notes = [(k * BEAT / 2, None, k % 4) for k in range(1, 6)] + [(2 * BEAT / 2, None, 3), (3 * BEAT / 2, None, 0)]
    chart = mk(4, notes)
    assert found(check_chords_in_runs, chart, "easy")
    fixed = limit_chords(chart, "easy")
    assert found(check_chords_in_runs, fixed, "easy") == [] and onsets(fixed) == onsets(chart)
    ends = mk(4, [(BEAT, None, 0), (BEAT, None, 1), (1.5 * BEAT, None, 2), (2 * BEAT, None, 3), (2 * BEAT, None, 0)])
    assert limit_chords(ends, "easy").n_notes == 5  # a chord to begin or end a run is fine


@pytest.mark.parametrize(("level", "keys", "chord"), [("easy", 4, 3), ("normal", 4, 3), ("normal", 7, 4),
                                                      ("hard", 4, 4), ("hard", 7, 5)])
def test_chords_are_cut_to_the_level_size(level: str, keys: int, chord: int) -> None:
    chart = mk(keys, [(BEAT * 4 * k, None, c) for k in range(1, 4) for c in range(chord)])
    assert found(check_chord_size, chart, level)
    fixed = limit_chords(chart, level)
    assert found(check_chord_size, fixed, level) == [] and onsets(fixed) == onsets(chart)


def test_held_long_notes_count_and_are_released_where_they_fill_the_hands() -> None:
    # Normal 4K takes 2 at once: two long notes held through a jump make 4 (one of each hand: no exception)
    chart = mk(4, [(0.0, 4 * BEAT, 0), (0.0, 4 * BEAT, 2), (2 * BEAT, None, 1), (2 * BEAT, None, 3)])
    assert found(check_chord_size, chart, "normal")
    fixed = limit_chords(chart, "normal")
    assert found(check_chord_size, fixed, "normal") == [] and onsets(fixed) == onsets(chart)


def test_insane_7k_presses_at_most_six() -> None:
    chart = mk(7, [(BEAT, None, c) for c in range(7)] + [(2 * BEAT, None, 0)])
    assert found(check_pressed_at_once, chart, "insane")
    fixed = limit_chords(chart, "insane")
    assert found(check_pressed_at_once, fixed, "insane") == [] and fixed.n_notes == 7
    assert limit_chords(chart, "expert").n_notes == 8  # no such rule past Insane


def test_normal_jacks_move_to_another_column() -> None:
    chart = mk(4, [(BEAT * (1 + k / 4), None, 1) for k in range(4)] + [(3 * BEAT, None, 2)])
    assert found(check_jacks, chart, "normal")
    fixed = break_jacks(chart, "normal")
    assert found(check_jacks, fixed, "normal") == []
    assert onsets(fixed) == onsets(chart) and fixed.n_notes == chart.n_notes
    assert break_jacks(chart, "hard").columns.tolist() == chart.columns.tolist()  # Hard has no jack guideline


def test_short_long_notes_become_taps() -> None:
    chart = mk(4, [(BEAT, 1.5 * BEAT, 0), (3 * BEAT, 5 * BEAT, 1)])
    assert found(check_long_note_length, chart, "easy")
    fixed = fit_long_notes(chart, "easy")
    assert found(check_long_note_length, fixed, "easy") == []
    assert fixed.is_long.tolist() == [False, True]
    assert fit_long_notes(chart, "hard").is_long.tolist() == [True, True]  # 1/2 is long enough on Hard


def test_releases_too_close_are_made_one_release() -> None:
    # Easy: one beat between releases; two long notes struck together, released half a beat apart
    chart = mk(4, [(0.0, 4 * BEAT, 0), (0.0, 4.5 * BEAT, 1), (8 * BEAT, None, 2)])
    assert found(check_release_gaps, chart, "easy")
    fixed = fit_long_notes(chart, "easy")
    assert found(check_release_gaps, fixed, "easy") == [] and fixed.ends.tolist()[:2] == [4 * BEAT, 4 * BEAT]
    # Normal: half a beat; the later release moves to the earlier one where the long note stays long enough
    chart = mk(4, [(0.0, 4 * BEAT, 0), (BEAT, 4.25 * BEAT, 1), (3.75 * BEAT, 4.375 * BEAT, 2)])
    assert found(check_release_gaps, chart, "normal")
    fixed = fit_long_notes(chart, "normal")
    assert found(check_release_gaps, fixed, "normal") == []
    assert fixed.ends[1] == 4 * BEAT and np.isnan(fixed.ends[2])  # released together; too short to: a tap


def test_a_note_during_a_long_note_ends_it() -> None:
    chart = mk(4, [(0.0, 4 * BEAT, 0), (2 * BEAT, None, 2), (6 * BEAT, None, 3)])
    assert found(check_objects_during_long_notes, chart, "easy")
    fixed = fit_long_notes(chart, "easy")
    assert found(check_objects_during_long_notes, fixed, "easy") == []
    assert fixed.ends[0] == 2 * BEAT and onsets(fixed) == onsets(chart)
    # Normal: only long notes under a beat
    assert fit_long_notes(chart, "normal").ends[0] == 4 * BEAT


def test_an_empty_column_gets_notes_moved_into_it() -> None:
    chart = mk(7, [(BEAT * k, None, k % 6) for k in range(1, 61)])
    assert found(check_empty_columns, chart, "normal")
    fixed = fill_empty_columns(chart, min_gap_ms=200.0)
    assert found(check_empty_columns, fixed, "normal") == []
    assert onsets(fixed) == onsets(chart) and np.count_nonzero(fixed.columns == 6) >= 2
    assert found(check_jacks, fixed, "normal") == []


def test_overlaps_are_gone() -> None:
    chart = mk(4, [(BEAT, None, 0), (BEAT, None, 0), (2 * BEAT, 4 * BEAT, 1), (3 * BEAT, None, 1),
                   (5 * BEAT, None, 2), (6 * BEAT, None, 3)])
    assert found(check_concurrent_notes, chart, "expert")
    fixed = make_ranked(chart, "expert", audio_ms=10_000.0)
    assert found(check_concurrent_notes, fixed, "expert") == [] and check_ranked(fixed, "expert") == []


def test_limits_follow_the_tempo_as_the_check_scales_them() -> None:
    # 100 BPM: "1/4 rhythms can be slowly introduced" below 120 BPM: Easy keeps 1/4 notes there
    slow = mk(4, [(k * 600.0 / 4, None, k % 4) for k in range(1, 9)], beat=600.0)
    assert limit_fast_notes(slow, "easy").n_notes == 8 and found(check_fast_snaps, slow, "easy") == []
    # 250 BPM: every limit halved, so Easy's 1/2 notes are as fast as 1/4 ones at 180 BPM
    fast = mk(4, [(k * 240.0 / 2, None, k % 4) for k in range(1, 9)], beat=240.0)
    assert found(check_fast_snaps, fast, "easy")
    assert found(check_fast_snaps, limit_fast_notes(fast, "easy"), "easy") == []


def test_metric_rank_orders_beat_divisions() -> None:
    ctx = ChartContext(mk(4, [(0.0, None, 0)]), "easy")
    times = np.array([0.0, BEAT / 2, BEAT / 4, BEAT / 3, BEAT / 16, 7.0])
    assert metric_rank(ctx, times).tolist() == [0, 1, 2, 3, 7, 8]


# ==================================================================================== all rules together
def _messy(keys: int, seed: int) -> ManiaChart:
    rng = np.random.default_rng(seed)
    n = 400
    grid = rng.choice([1, 2, 3, 4, 6, 8, 12, 16], n)
    starts = np.sort(rng.integers(0, 240, n) * BEAT / 4 / grid * rng.integers(1, 4, n)) % 60_000.0
    starts = starts + rng.choice([0.0, 0.0, 0.0, 3.0, -7.0], n)  # some off the ticks
    cols = rng.integers(0, max(keys - 1, 1), n)  # the last column left empty
    ends = np.where(rng.random(n) < 0.3, starts + rng.choice([BEAT / 8, BEAT / 2, BEAT, 3 * BEAT], n), np.nan)
    return ManiaChart(keys, np.clip(starts, 0.0, None), ends, cols, [TimingPoint(120.0, BEAT, 4)])


@pytest.mark.parametrize("keys", [4, 7])
@pytest.mark.parametrize("level", LEVELS)
def test_make_ranked_passes_every_check_of_the_notes(keys: int, level: str) -> None:
    for seed in range(6):
        chart = _messy(keys, seed)
        assert check_ranked(chart, level)
        fixed = make_ranked(chart, level, audio_ms=61_000.0, min_jack_ms=90.0)
        assert check_ranked(fixed, level) == [], (seed, check_ranked(fixed, level)[:5])
        assert check_playable(fixed, audio_ms=61_000.0, min_jack_ms=90.0) == []
        assert fixed.n_notes > 0.15 * chart.n_notes  # these charts are far denser than an Easy allows
        again = make_ranked(fixed, level, audio_ms=61_000.0, min_jack_ms=90.0)
        assert np.array_equal(again.starts, fixed.starts) and np.array_equal(again.columns, fixed.columns)


def test_a_chart_that_meets_its_level_comes_back_unchanged() -> None:
    chart = mk(4, [(k * BEAT, None, k % 4) for k in range(1, 40)])
    fixed = make_ranked(chart, "easy", audio_ms=20_000.0)
    assert np.array_equal(fixed.starts, chart.starts) and np.array_equal(fixed.columns, chart.columns)


# ==================================================================================== the level and the fit
def test_levels_of_star_ratings() -> None:
    assert [requested_level(s) for s in (1.0, 2.0, 2.4, 2.7, 4.5, 6.0)] == \
        ["easy", "normal", "normal", "hard", "insane", "expert"]
    assert judged_level(2.0) == "easy" and judged_level(2.0 + 2 * RATING_MARGIN) == "normal"
    assert rating_floor("easy") is None and rating_floor(None) is None
    assert rating_floor("hard") == pytest.approx(2.7 + RATING_MARGIN)


def test_the_fit_keeps_the_level_floor_where_a_chart_reaches_it(monkeypatch) -> None:
    # the rating jumps from 1.95 to 2.10 at 4 notes a second: for 2.0 stars the closer chart is an Easy
    import beatforge.generation.rules.star_rating_fit as fit_module

    def rating(density: float) -> float:
        return 1.95 if 3.0 <= density < 4.0 else 2.10 if 4.0 <= density < 5.0 else 0.5 * np.floor(density) + 0.45

    def build(density: float, extra: float = 0.0) -> ManiaChart:
        chart = mk(4, [(BEAT, None, 0)])
        chart.meta.extra["sr"] = str(rating(density))
        return chart

    monkeypatch.setattr(fit_module, "_rate", lambda chart: float(chart.meta.extra["sr"]))
    assert fit_density(build, 2.0, fit=True).star_rating == 1.95
    assert fit_density(build, 2.0, fit=True, floor=rating_floor("normal")).star_rating == 2.10
    assert fit_density(build, 1.9, fit=True, floor=rating_floor("normal")).star_rating == 1.95  # 2.10: too far


def test_settle_level_adds_the_rules_of_the_level_reached() -> None:
    # a chart meant as a Normal that ended rated as an Easy gets Easy's rules too (1/4 notes gone)
    chart = mk(4, [(BEAT * (1 + k / 4), None, k % 4) for k in range(40)])
    fit = Fit(chart, 1.5, 1.0, target=2.2)
    settled = settle_level(fit, "normal", audio_ms=30_000.0)
    assert settled.chart.n_notes < chart.n_notes and check_ranked(settled.chart, "easy") == []
    assert settled.missed and "Easy level's Ranking Criteria" in settled.reason
    assert settle_level(Fit(chart, 2.5, 1.0, target=2.5), "normal", audio_ms=30_000.0).chart is chart


# ==================================================================================== end to end
@pytest.fixture(scope="module")
def long_song(tmp_path_factory):
    """A 36-second synthetic click song (the criteria's drain time is at least 30 s), 150 BPM with off-beats."""
    sr, seconds, bpm = 22050, 36.0, 150.0
    t = np.arange(int(sr * seconds)) / sr
    y = 0.02 * np.sin(2 * np.pi * 220 * t)
    rng = np.random.default_rng(1)
    for k, onset in enumerate(np.arange(0.4, seconds - 0.4, 60 / bpm / 2)):
        i = int(onset * sr)
        amp = 0.9 if k % 2 == 0 else 0.3 + 0.4 * rng.random()
        y[i : i + 500] += amp * np.exp(-np.arange(500) / 70.0) * np.sin(2 * np.pi * 1500 * np.arange(500) / sr)
    path = tmp_path_factory.mktemp("song") / "synthetic criteria song.wav"
    sf.write(path, y.astype(np.float32), sr)
    return path


@pytest.mark.slow
def test_a_generated_easy_and_hard_pass_check(long_song, tmp_path) -> None:
    from beatforge.generation.mania import ManiaModels, generate_mania
    from beatforge.generation.output import write_set
    from beatforge.generation.request import ManiaRequest

    request = ManiaRequest(keys=7, star_ratings=(1.2, 3.2), steps=3, seed=4)
    charts = generate_mania(long_song, request, models=ManiaModels.load(request))
    assert [judged_level(float(c.meta.version.split()[-1].rstrip("*"))) for c in charts] == ["easy", "hard"]
    for chart in charts:
        issues = [i for i in check_chart(chart) if i.severity != "info"]
        assert issues == [], [i.line() for i in issues]
    files = write_set(charts, long_song, tmp_path / "out", previews=False)
    (report,) = check_paths([files[-1]]).sets  # the .osz: HP/OD, preview point, background, spread, names
    issues = [i for c in report.charts for i in c.issues if i.severity != "info"]
    issues += [i for i in report.issues if i.severity == "problem"]  # a synthetic song's Ogg is under 128 kbps
    assert issues == [], [i.line() for i in issues]
