"""The osu!mania Ranking Criteria checks of the notes: for each, a chart made to break it and one that passes; and the
level, the BPM scaling and the editor's time format they are judged and reported by."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beatforge.analysis.ranking_criteria import (
    check_chart,
    check_chord_size,
    check_chords_in_runs,
    check_concurrent_notes,
    check_drain_time,
    check_empty_columns,
    check_fast_snaps,
    check_jacks,
    check_key_count,
    check_long_note_hold,
    check_long_note_length,
    check_objects_during_long_notes,
    check_pressed_at_once,
    check_release_gaps,
    check_run_length,
    check_snapping,
    chord_limit,
)
from beatforge.analysis.ranking_issues import (
    ChartContext,
    Issue,
    chart_level,
    editor_time,
    level_from_name,
    level_from_stars,
    snap_scale,
)
from beatforge.charts.beatmap import Beatmap
from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.errors import BeatforgeError

BPM = 150.0  # 400 ms a beat: inside 120-240 BPM, where the criteria's rhythm limits apply as written
BEAT = 60000.0 / BPM
OFFSET = 1000.0


def chart(notes: list[tuple], keys: int = 4, bpm: float = BPM, version: str = "") -> ManiaChart:
    """A chart of ``(beat, column)`` taps and ``(beat, column, end_beat)`` long notes, timed at ``bpm``."""
    beat = 60000.0 / bpm
    starts = [OFFSET + n[0] * beat for n in notes]
    ends = [OFFSET + n[2] * beat if len(n) > 2 else np.nan for n in notes]
    cols = [n[1] for n in notes]
    return ManiaChart(keys, starts, ends, cols, [TimingPoint(OFFSET, beat)], ChartMeta(version=version))


def ctx(c: ManiaChart, level: str = "expert", beatmap: Beatmap | None = None) -> ChartContext:
    return ChartContext(c, level, beatmap)


def severities(issues: list[Issue]) -> list[str]:
    return [i.severity for i in issues]


# ============================================================================== reporting
def test_editor_time_is_what_osu_editor_pastes() -> None:
    assert editor_time(83456) == "01:23:456"
    assert editor_time(5) == "00:00:005"
    assert editor_time(3_725_004.4) == "62:05:004"
    issue = Issue("problem", "x", "m", "rule", "page", 83456.0, ((83456, 2), (83456, 3)))
    assert issue.where == "01:23:456 (83456|2,83456|3) - "
    assert issue.line().startswith("problem  01:23:456 (83456|2,83456|3) - m (page: \"rule\")")
    assert json.loads(json.dumps(issue.to_dict()))["editor"] == "01:23:456 (83456|2,83456|3)"
    assert Issue("problem", "x", "m", "r", "p").where == ""


def test_each_check_quotes_the_criterion_in_its_docstring() -> None:
    from beatforge.analysis.ranking_criteria import CHART_CHECKS
    from beatforge.analysis.ranking_files import SET_CHECKS

    for check in CHART_CHECKS + SET_CHECKS:
        spec = check.criterion
        assert check.__doc__ and spec.rule_text("easy"), spec.name
        for text in (spec.words or {}).values():
            assert text in " ".join(check.__doc__.split()), spec.name


# ============================================================================== level and tempo
@pytest.mark.parametrize(("name", "level"), [
    ("Hard", "hard"), ("4K Hard", "hard"), ("~ EXTRA-DELTA ~ (Marathon)", "expert"), ("Beginner 2", "easy"),
    ("Conqueror | 4K Extreme", "expert"), ("Medium", "normal"), ("Advanced", None), ("Hardcore", None),
    ("Insane Hard", None), ("", None),
])
def test_level_from_name(name: str, level: str | None) -> None:
    assert level_from_name(name) == level


@pytest.mark.parametrize(("stars", "level"), [
    (0.5, "easy"), (1.99, "easy"), (2.0, "normal"), (2.69, "normal"), (2.7, "hard"), (3.99, "hard"), (4.0, "insane"),
    (5.29, "insane"), (5.3, "expert"), (9.0, "expert"),
])
def test_level_from_star_rating_bands(stars: float, level: str) -> None:
    assert level_from_stars(stars) == level


def test_chart_level_given_then_name_then_stars() -> None:
    c = chart([(0, 0)], version="Normal")
    assert chart_level(c, level="HARD").describe() == "level hard (given)"
    assert chart_level(c, stars=5.0).source == "name"
    unnamed = chart([(0, 0)], version="Cataclysm")
    choice = chart_level(unnamed, stars=4.5)
    assert (choice.level, choice.source) == ("insane", "star rating")
    assert "4.0-5.29" in choice.describe()
    with pytest.raises(BeatforgeError, match="one of easy, normal, hard, insane, expert"):
        chart_level(c, level="bogus")


def test_bpm_scaling_follows_scaling_bpm() -> None:
    assert snap_scale([180, 120, 240]).tolist() == [1.0, 1.0, 1.0]
    assert snap_scale(105) == pytest.approx(1.5)
    assert snap_scale([90, 60]).tolist() == [2.0, 2.0]
    assert snap_scale(241) == 0.5


# ============================================================================== every level
def test_concurrent_notes() -> None:
    same_time = check_concurrent_notes(ctx(chart([(0, 1), (0, 1), (1, 2)])))
    assert severities(same_time) == ["problem"] and "two notes at once in column 1" in same_time[0].message
    inside = check_concurrent_notes(ctx(chart([(0, 2, 2), (1, 2)])))
    assert len(inside) == 1 and "while its long note" in inside[0].message
    assert inside[0].notes == ((1000, 2), (1400, 2))
    assert check_concurrent_notes(ctx(chart([(0, 0), (0, 1), (0, 2, 1), (1.25, 2)]))) == []


def test_empty_columns() -> None:
    issues = check_empty_columns(ctx(chart([(0, 0), (1, 1), (2, 2)])))
    assert severities(issues) == ["problem"] and "column 3 (of 0-3) holds no note" in issues[0].message
    assert check_empty_columns(ctx(chart([(0, 0), (1, 1), (2, 2), (3, 3)]))) == []


def test_key_count() -> None:
    assert severities(check_key_count(ctx(chart([(0, 0)], keys=3)))) == ["problem"]
    assert check_key_count(ctx(chart([(0, 0)], keys=7))) == []


def test_snapping() -> None:
    snapped = [(0, 0), (0.25, 1), (1 / 3, 2), (1 / 16, 3), (3 / 7, 0), (2, 1, 2 + 1 / 12)]
    assert check_snapping(ctx(chart(snapped))) == []
    c = chart([(0, 0), (1, 1, 2)])
    c.starts[0] += 5.0  # 5 ms late
    c.ends[1] -= 3.0  # a long note released 3 ms early
    issues = check_snapping(ctx(c))
    assert severities(issues) == ["problem", "problem"]
    assert "unsnapped by +5.0 ms" in issues[0].message and issues[1].message.startswith("long note's end")


def test_snapping_allows_a_run_on_a_divisor_the_editor_lacks_as_a_warning() -> None:
    tenths = [(k / 10, k % 4) for k in range(1, 6) if k % 5]  # 1/10, 2/10, 3/10, 4/10 of a beat: not editor ticks
    issues = check_snapping(ctx(chart(tenths)))
    assert issues and set(severities(issues)) == {"warning"} and "1/10" in issues[0].message


def test_drain_time() -> None:
    short = chart([(0, 0), (40, 1)])  # 16 s
    assert severities(check_drain_time(ctx(short))) == ["problem"]
    long = chart([(0, 0), (80, 1)])  # 32 s
    assert check_drain_time(ctx(long)) == []
    breaks = Beatmap(events=["2,5000,10000"])  # a 5 s break leaves 27 s of drain
    assert severities(check_drain_time(ctx(long, beatmap=breaks))) == ["problem"]


def test_pressed_at_once() -> None:
    seven = chart([(0, k) for k in range(7)], keys=7)
    assert severities(check_pressed_at_once(ctx(seven, "insane"))) == ["problem"]
    assert check_pressed_at_once(ctx(seven, "expert")) == []  # the rule is for Insane and lower
    assert check_pressed_at_once(ctx(chart([(0, k) for k in range(6)], keys=7), "insane")) == []
    held = chart([(0, k, 2) for k in range(4)] + [(1, k) for k in range(4, 7)], keys=7)
    issue = check_pressed_at_once(ctx(held, "easy"))
    assert len(issue) == 1 and "(3 struck, 4 held)" in issue[0].message


def test_long_note_hold() -> None:
    assert severities(check_long_note_hold(ctx(chart([(0, 0, 1 / 16)])))) == ["warning"]
    assert check_long_note_hold(ctx(chart([(0, 0, 1 / 8)]))) == []


# ============================================================================== by level
def test_long_note_length() -> None:
    half = chart([(0, 0, 0.5)])
    assert severities(check_long_note_length(ctx(half, "easy"))) == ["warning"]
    assert check_long_note_length(ctx(chart([(0, 0, 1)]), "easy")) == []
    assert check_long_note_length(ctx(half, "normal")) == []
    assert severities(check_long_note_length(ctx(chart([(0, 0, 1 / 8)]), "hard"))) == ["warning"]
    assert check_long_note_length(ctx(chart([(0, 0, 1 / 4)]), "hard")) == []
    assert check_long_note_length(ctx(half, "insane")) == []


def test_fast_snaps() -> None:
    quarter = chart([(0, 0), (0.25, 1)])
    issues = check_fast_snaps(ctx(quarter, "easy"))
    assert severities(issues) == ["warning"] and "at 1/4 or finer" in issues[0].message
    assert check_fast_snaps(ctx(chart([(0, 0), (1 / 3, 1)]), "easy")) == []
    assert severities(check_fast_snaps(ctx(chart([(0, 0), (1 / 6, 1)]), "normal"))) == ["warning"]
    assert check_fast_snaps(ctx(quarter, "normal")) == []
    grace = chart([(0, 0), (1 / 8, 1), (2 / 8, 2), (1, 3)])
    assert check_fast_snaps(ctx(grace, "hard")) == []  # 3 grace notes
    assert severities(check_fast_snaps(ctx(chart([(k / 8, k % 4) for k in range(4)]), "hard"))) == ["warning"]


def test_fast_snaps_scale_with_bpm() -> None:
    # 90 BPM: twice as fine a rhythm is allowed, so Easy takes 1/4 and not 1/8
    assert check_fast_snaps(ctx(chart([(0, 0), (0.25, 1)], bpm=90), "easy")) == []
    assert severities(check_fast_snaps(ctx(chart([(0, 0), (0.125, 1)], bpm=90), "easy"))) == ["warning"]
    # 250 BPM: every limit halved, so Easy takes no 1/2 either
    assert severities(check_fast_snaps(ctx(chart([(0, 0), (0.5, 1)], bpm=250), "easy"))) == ["warning"]
    assert check_fast_snaps(ctx(chart([(0, 0), (0.5, 1)], bpm=200), "easy")) == []


def test_run_length() -> None:
    six = chart([(k / 2, k % 4) for k in range(6)])
    assert severities(check_run_length(ctx(six, "easy"))) == ["warning"]
    assert check_run_length(ctx(chart([(k / 2, k % 4) for k in range(5)]), "easy")) == []
    assert severities(check_run_length(ctx(chart([(k / 4, k % 4) for k in range(6)]), "normal"))) == ["warning"]
    assert check_run_length(ctx(six, "normal")) == []
    assert check_run_length(ctx(six, "hard")) == []


def test_chords_in_runs() -> None:
    inside = chart([(0, 0), (0.5, 1), (1, 2), (1, 3), (1.5, 0), (2, 1)])
    issues = check_chords_in_runs(ctx(inside, "easy"))
    assert severities(issues) == ["warning"] and issues[0].notes == ((1400, 2), (1400, 3))
    at_ends = chart([(0, 0), (0, 3), (0.5, 1), (1, 2), (1.5, 0), (1.5, 3)])
    assert check_chords_in_runs(ctx(at_ends, "easy")) == []
    assert severities(check_chords_in_runs(ctx(chart([(0, 0), (0.25, 1), (0.5, 2), (0.5, 3), (0.75, 0)]),
                                               "normal"))) == ["warning"]


def test_chord_size() -> None:
    assert chord_limit("normal", 4) == 2 and chord_limit("normal", 7) == 3 and chord_limit("hard", 7) == 4
    triple = chart([(0, 0), (0, 1), (0, 2)])
    assert severities(check_chord_size(ctx(triple, "easy"))) == ["warning"]
    assert check_chord_size(ctx(chart([(0, 0), (0, 1)]), "easy")) == []
    held = chart([(0, 0, 2), (1, 2), (1, 3)])  # a long note and a double: 3 columns at once
    assert severities(check_chord_size(ctx(held, "easy"))) == ["warning"]
    assert check_chord_size(ctx(held, "normal")) == []  # "a double ... played with the other hand" is fine
    assert check_chord_size(ctx(triple, "hard")) == []
    assert severities(check_chord_size(ctx(chart([(0, k) for k in range(4)]), "hard"))) == ["warning"]
    assert check_chord_size(ctx(chart([(0, k) for k in range(3)], keys=7), "normal")) == []
    assert severities(check_chord_size(ctx(chart([(0, k) for k in range(4)], keys=7), "normal"))) == ["warning"]
    assert check_chord_size(ctx(triple, "insane")) == []


def test_jacks() -> None:
    issues = check_jacks(ctx(chart([(0, 1), (0.25, 1)]), "normal"))
    assert severities(issues) == ["warning"] and issues[0].notes == ((1000, 1), (1100, 1))
    assert check_jacks(ctx(chart([(0, 1), (0.5, 1)]), "normal")) == []
    assert check_jacks(ctx(chart([(0, 1), (0.25, 1)]), "hard")) == []


def test_release_gaps() -> None:
    close = chart([(0, 0, 1), (0, 3, 1.5)])
    assert severities(check_release_gaps(ctx(close, "easy"))) == ["warning"]
    assert check_release_gaps(ctx(close, "normal")) == []
    assert check_release_gaps(ctx(chart([(0, 0, 1), (0, 3, 1)]), "easy")) == []  # released together
    assert check_release_gaps(ctx(chart([(0, 0, 1), (0, 3, 2)]), "easy")) == []


def test_objects_during_long_notes() -> None:
    during = chart([(0, 0, 2), (1, 3)])
    issues = check_objects_during_long_notes(ctx(during, "easy"))
    assert severities(issues) == ["warning"] and issues[0].notes == ((1000, 0), (1400, 3))
    assert check_objects_during_long_notes(ctx(chart([(0, 0, 2), (0, 3), (2, 2)]), "easy")) == []
    assert check_objects_during_long_notes(ctx(during, "normal")) == []  # a 2-beat long note: Normal's is 1/2
    half = chart([(0, 0, 0.5), (0.25, 3)])
    assert severities(check_objects_during_long_notes(ctx(half, "normal"))) == ["warning"]


# ============================================================================== a whole chart
def test_check_chart_of_a_clean_chart_and_of_another_game() -> None:
    notes = [(k, k % 4) for k in range(0, 120)]  # a note a beat for 48 s, every column
    clean = chart(notes, version="Easy")
    issues = check_chart(clean)
    assert [i for i in issues if i.severity != "info"] == []
    osu_only = [i for i in issues if i.check == "osu_file"]
    assert len(osu_only) == 1 and "hp_od" in osu_only[0].message and "preview_point" in osu_only[0].message
    assert all(i.chart == "Easy" for i in issues)
    untimed = ManiaChart(4, clean.starts, clean.ends, clean.columns, [], ChartMeta(version="Easy"))
    assert any(i.check == "timing" and i.severity == "info" for i in check_chart(untimed))


def test_check_chart_judges_by_level() -> None:
    dense = chart([(k / 4, k % 4) for k in range(400)], version="Easy")  # 40 s of 1/4
    assert {i.check for i in check_chart(dense) if i.severity == "warning"} >= {"fast_snaps", "run_length"}
    assert [i for i in check_chart(dense, "expert") if i.severity != "info"] == []
