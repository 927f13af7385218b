"""The osu!mania Ranking Criteria in ``beatforge evaluate``: each generated chart and its human reference get
``beatforge check``'s problem and warning counts (the notes' checks, each chart at its own level), equal to
:func:`~beatforge.analysis.ranking_criteria.check_chart`'s on the same chart; the summary has both sides' means and
totals, the text output and the HTML report show them, and a chart made to break a rule shows its problems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beatforge.analysis.ranking_criteria import check_chart
from beatforge.analysis.ranking_issues import chart_level
from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.cli import main
from beatforge.formats.loader import load_charts
from tests.conftest import need_data

CSIKOS = ("songs", "quaver", "zetoban - Csikos Post.qp")
FIELDS = ("criteria_level", "criteria_level_source", "criteria_problems", "criteria_warnings", "criteria_by_check",
          "criteria_issues")


def _counts(chart: ManiaChart) -> tuple[str, int, int]:
    """(level, problems, warnings) as ``beatforge check`` judges the chart's notes."""
    level = chart_level(chart).level
    issues = check_chart(chart, level)
    return level, sum(i.severity == "problem" for i in issues), sum(i.severity == "warning" for i in issues)


def _loaded(path: Path) -> ManiaChart:
    (chart,) = load_charts(path)
    return chart


def _chart(version: str, *, broken: bool) -> ManiaChart:
    """40 s of 4K taps every 1/2 beat at 120 BPM, each column in turn: no problem at any level. ``broken``: a note
    7 ms off the beat (unsnapped) and a second note at once in one column (Auto cannot reach 1,000,000)."""
    starts = np.arange(1000.0, 41000.0, 500.0)
    columns = np.arange(len(starts)) % 4
    if broken:
        starts[10] += 7.0
        starts, columns = np.insert(starts, 21, starts[20]), np.insert(columns, 21, columns[20])
    return ManiaChart(4, starts, np.full(len(starts), np.nan), columns, timing=[TimingPoint(1000.0, 500.0, 4)],
                      meta=ChartMeta(title="Criteria test", artist="synthetic", version=version))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """gen/: a broken chart named without a level (judged by its star rating); ref/: a clean one named "Normal"."""
    from beatforge.formats.export import export_osu

    root = tmp_path_factory.mktemp("criteria")
    export_osu(_chart("AI v1 4K", broken=True), root / "gen" / "gen.osu", with_audio=False)
    export_osu(_chart("Normal", broken=False), root / "ref" / "ref.osu", with_audio=False)
    return root


def test_evaluate_counts_equal_check_chart_on_both_charts(synthetic: Path) -> None:
    from beatforge.evaluation.report import evaluate

    result = evaluate(synthetic / "gen", synthetic / "ref")
    (row,) = result["charts"]
    gen, ref = _loaded(synthetic / "gen" / "gen.osu"), _loaded(synthetic / "ref" / "ref.osu")
    assert (row["criteria_level"], row["criteria_problems"], row["criteria_warnings"]) == _counts(gen)
    assert (row["reference_criteria_level"], row["reference_criteria_problems"],
            row["reference_criteria_warnings"]) == _counts(ref)
    assert row["criteria_level_source"] == "star rating" and row["reference_criteria_level_source"] == "name"
    # the broken chart breaks two rules; the clean one none
    assert row["criteria_problems"] >= 2 and row["reference_criteria_problems"] == 0
    assert {"concurrent_notes", "snapping"} <= set(row["criteria_by_check"])
    first = row["criteria_issues"][0]
    assert first["severity"] == "problem" and first["editor"].startswith("00:")
    assert [i["severity"] for i in row["criteria_issues"]] == sorted(
        (i["severity"] for i in row["criteria_issues"]), key=["problem", "warning"].index)  # problems first
    # the summary: both sides, mean per chart and total
    assert result["criteria_problems"] == row["criteria_problems"] == result["criteria_problems_total"]
    assert result["reference_criteria_problems"] == 0 and result["reference_criteria_warnings_total"] == 0
    assert result["criteria_by_check"] == row["criteria_by_check"]
    assert row["all_references"][0]["criteria_problems"] == 0


def test_cli_prints_the_counts_and_writes_them_to_json_and_html(synthetic: Path, capsys) -> None:
    out = synthetic / "report"
    rc = main(["evaluate", "--generated", str(synthetic / "gen"), "--reference", str(synthetic / "ref"),
               "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    n_problems, n_warnings = _counts(_loaded(synthetic / "gen" / "gen.osu"))[1:]
    assert f"ranking criteria {n_problems} problems" in text and "vs 0 problems, 0 warnings at normal" in text
    assert f"problems generated {n_problems:.2f} / human 0.00" in text
    assert "    problem 00:11:000 (11000|0,11000|0) - two notes at once in column 0" in text  # the first problem
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("criteria_problems", "criteria_warnings", "reference_criteria_problems",
                "reference_criteria_warnings", "criteria_problems_total", "reference_criteria_by_check"):
        assert key in report
    for key in FIELDS:
        assert key in report["charts"][0] and f"reference_{key}" in report["charts"][0]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "osu!mania Ranking Criteria" in index and "RC problems" in index
    assert "problem 00:11:000 (11000|0,11000|0) - two notes at once in column 0" in index


@pytest.mark.data
def test_a_real_pair_counts_as_check_chart_does(tmp_path: Path) -> None:
    """A human chart posing as a generated one (Csikos Post [Hard], 2.64*, renamed: judged by its star rating, at
    Normal) against the song's human charts (the chosen reference, the same chart as [Hard], judged at Hard)."""
    from beatforge.evaluation.report import evaluate
    from beatforge.formats.export import export_osu
    from beatforge.formats.loader import load_chart

    qp = need_data(*CSIKOS)
    chart = load_chart(qp, version="Hard")
    chart.meta.version = "AI v1 4K"
    export_osu(chart, tmp_path / "gen" / "gen.osu")
    result = evaluate(tmp_path / "gen", qp)
    (row,) = result["charts"]
    assert row["reference_version"] == "Hard"
    gen = _loaded(tmp_path / "gen" / "gen.osu")
    ref = load_chart(qp, version="Hard")
    assert (row["criteria_level"], row["criteria_problems"], row["criteria_warnings"]) == _counts(gen)
    assert (row["reference_criteria_level"], row["reference_criteria_problems"],
            row["reference_criteria_warnings"]) == _counts(ref)
    assert row["criteria_level"] == "normal" and row["reference_criteria_level"] == "hard"
    assert row["criteria_warnings"] > row["reference_criteria_warnings"]  # Normal's guidelines are stricter
    for ref_row in row["all_references"]:
        assert {"criteria_level", "criteria_problems", "criteria_warnings"} <= set(ref_row)
