"""The evaluation report a person opens: index.html with summary tables, plots (PNG, matplotlib's Agg backend) and a
piano-roll preview of every generated chart beside its reference, plus report.json (what ``--json`` prints).

The report is built in a temporary folder beside the target and renamed into place at the end, so a failure half-way
leaves no half-written report; an existing report at the target is replaced whole. A target that exists and is not
a report (no index.html, not empty) is refused rather than deleted.
"""

from __future__ import annotations

import html
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from beatforge.charts.chart import ManiaChart
from beatforge.charts.preview import render_preview
from beatforge.constants import DIFFICULTY_LEVELS, LEVEL_STAR_FLOORS
from beatforge.errors import BeatforgeError
from beatforge.fileio import atomic_write_bytes, atomic_write_text

__all__ = ["PreviewJob", "criteria_line", "write_report"]


@dataclass
class PreviewJob:
    """One preview to draw: its path inside the report, the chart, its audio's onsets (or None), and its role."""

    rel: str
    chart: ManiaChart
    onsets: object | None  # beatforge.evaluation.report.AudioOnsets
    role: str  # generated | reference


# ------------------------------------------------------------------------------------------------ plots
def _pyplot():
    import matplotlib  # lazy: matplotlib costs ~0.5 s of import; only the plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _vals(charts: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if c.get(key) is None else c[key] for c in charts], dtype=np.float64)


def _short(c: dict) -> str:
    name = f"{c['title']} [{c['version']}]"
    return name if len(name) <= 40 else name[:37] + "..."


def plot_rhythm(charts: list[dict], path: Path) -> None:
    """Per-chart horizontal bars: rhythm F1 at 10 and 50 ms, and onset F1 against the audio."""
    plt = _pyplot()
    n = len(charts)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * n))
    y = np.arange(n)
    for i, (key, label, colour) in enumerate([("rhythm_f1_10ms", "rhythm F1 @10 ms", "#4c72b0"),
                                              ("rhythm_f1_50ms", "rhythm F1 @50 ms", "#55a868"),
                                              ("onset_f1", "onset F1 vs audio @50 ms", "#dd8452")]):
        ax.barh(y + (i - 1) * 0.27, np.nan_to_num(_vals(charts, key)), height=0.26, label=label, color=colour)
    ax.set_yticks(y, [_short(c) for c in charts], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Rhythm against the reference, and onsets against the audio", fontsize=10)
    _save(fig, path)


def _diagonal(ax, x: np.ndarray, y: np.ndarray) -> None:
    both = np.r_[x, y]
    both = both[np.isfinite(both)]
    lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    pad = max((hi - lo) * 0.08, 0.05)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#999", lw=0.8, ls="--")


def plot_star_rating(charts: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    x, y = _vals(charts, "reference_star_rating"), _vals(charts, "star_rating")
    _diagonal(ax, x, y)
    ax.scatter(x, y, s=18, color="#4c72b0")
    ax.set_xlabel("reference star rating")
    ax.set_ylabel("generated star rating")
    ax.set_title("osu! star rating (on the dashed line = equal)", fontsize=10)
    _save(fig, path)


def plot_skillsets(charts: list[dict], path: Path) -> None:
    """Mean skillset profile of the generated charts beside that of their references."""
    plt = _pyplot()
    names = [k for k in charts[0]["skillsets"] if k != "overall"]
    g = np.array([[c["skillsets"][k] for k in names] for c in charts]).mean(0)
    r = np.array([[c["reference_skillsets"].get(k, 0.0) for k in names] for c in charts]).mean(0)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(names))
    ax.bar(x - 0.2, g, width=0.4, label="generated", color="#4c72b0")
    ax.bar(x + 0.2, r, width=0.4, label="reference", color="#c44e52")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("MSD (mean over charts)")
    ax.legend(fontsize=8)
    ax.set_title("Skillset profile", fontsize=10)
    _save(fig, path)


def plot_density_columns(charts: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, label in ((a, "nps", "notes per second"), (b, "column_balance", "column balance (1 = even)")):
        x, y = _vals(charts, "reference_" + key), _vals(charts, key)
        _diagonal(ax, x, y)
        ax.scatter(x, y, s=18, color="#55a868")
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"generated {label}")
    a.set_title("Note density", fontsize=10)
    b.set_title("Column balance", fontsize=10)
    _save(fig, path)


def plot_timing(charts: list[dict], gaps: np.ndarray, path: Path) -> None:
    """Signed gaps of matched onsets (generated minus reference, 50 ms), and onset F1 of both against the audio."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    a.hist(gaps, bins=np.arange(-51, 53, 2), color="#8172b2")
    a.axvline(0, color="#999", lw=0.8)
    a.set_xlabel("generated - reference onset (ms), pairs within 50 ms")
    a.set_ylabel("onsets")
    a.set_title("Timing against the reference", fontsize=10)
    x, y = _vals(charts, "reference_onset_f1"), _vals(charts, "onset_f1")
    if np.isfinite(x).any() and np.isfinite(y).any():
        b.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
        b.scatter(x, y, s=18, color="#dd8452")
        b.set_xlim(0, 1)
        b.set_ylim(0, 1)
    else:
        b.text(0.5, 0.5, "no audio", ha="center", va="center", transform=b.transAxes)
    b.set_xlabel("reference onset F1 vs audio")
    b.set_ylabel("generated onset F1 vs audio")
    b.set_title("On the music? (50 ms)", fontsize=10)
    _save(fig, path)


# ------------------------------------------------------------------------------------------------ html
def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


SUMMARY_ROWS = [
    ("rhythm_f1_10ms", "Rhythm F1 at 10 ms", "onsets matched one-to-one within 10 ms (columns ignored)"),
    ("rhythm_f1_50ms", "Rhythm F1 at 50 ms", "the same within 50 ms"),
    ("rhythm_precision_50ms", "Rhythm precision at 50 ms", "share of generated onsets with a reference onset"),
    ("rhythm_recall_50ms", "Rhythm recall at 50 ms", "share of reference onsets the generated chart has"),
    ("rhythm_offset_ms", "Rhythm offset (ms)", "median generated - reference gap of matched onsets"),
    ("note_f1_50ms", "Note F1 at 50 ms", "same column too (same key count only)"),
    ("sr_error", "Star rating error", "mean |generated - reference| osu! stars"),
    ("sr_bias", "Star rating bias", "mean generated - reference stars"),
    ("skillset_distance", "Skillset distance", "RMS difference of the 7 skillsets (MSD)"),
    ("skillset_shape_distance", "Skillset shape distance", "1 - cosine similarity of the profiles"),
    ("nps_ratio", "Density ratio", "generated / reference notes per second"),
    ("density_correlation", "Density correlation", "note counts in 2 s windows, generated vs reference"),
    ("column_balance", "Column balance (generated)", "normalised entropy of column shares, 1 = even"),
    ("reference_column_balance", "Column balance (reference)", ""),
    ("column_share_distance", "Column share distance", "total variation between the column shares"),
    ("playability_faults", "Playability faults (generated)", "total over charts; see the table per rule"),
    ("reference_playability_faults", "Playability faults (reference)", "the human baseline"),
    ("onset_f1", "Onset F1 vs audio (generated)", "chart onsets against librosa's onsets of the audio, 50 ms"),
    ("reference_onset_f1", "Onset F1 vs audio (reference)", "the human baseline"),
    ("onset_lag_ms", "Onset lag (generated, ms)", "median chart - audio onset gap"),
    ("reference_onset_lag_ms", "Onset lag (reference, ms)", ""),
]

CHART_COLUMNS = [
    ("rhythm_f1_10ms", "F1@10"), ("rhythm_f1_50ms", "F1@50"), ("rhythm_offset_ms", "offset ms"),
    ("star_rating", "SR"), ("reference_star_rating", "ref SR"), ("sr_error", "SR err"),
    ("skillset_distance", "skill dist"), ("nps", "nps"), ("reference_nps", "ref nps"),
    ("column_balance", "balance"), ("reference_column_balance", "ref balance"),
    ("playability_fault_count", "faults"), ("reference_playability_fault_count", "ref faults"),
    ("onset_f1", "onset F1"), ("reference_onset_f1", "ref onset F1"), ("onset_lag_ms", "lag ms"),
    ("criteria_level", "RC level"), ("criteria_problems", "RC problems"),
    ("reference_criteria_problems", "ref RC problems"), ("criteria_warnings", "RC warnings"),
    ("reference_criteria_warnings", "ref RC warnings"),
]
# The Ranking Criteria issues each chart's section lists (problems first; report.json has up to CRITERIA_LISTED)
CRITERIA_SHOWN = 5

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f0f0f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%}.pv{overflow-x:auto;white-space:nowrap}.pv img{max-width:none;height:420px}
.note{color:#555;font-size:13px}h2{margin-top:1.6em}code{background:#f4f4f4;padding:0 3px}"""


def render_html(result: dict, plots: list[str]) -> str:
    """index.html for ``result`` (the dict :func:`beatforge.evaluation.report.evaluate` returns)."""
    e = html.escape
    charts = result["charts"]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>beatforge evaluation</title>"
           f"<style>{CSS}</style></head><body><h1>beatforge evaluation</h1>",
           f"<p>Generated: <code>{e(result['generated'])}</code><br>Reference: <code>{e(result['reference'])}"
           f"</code><br>{result['n_charts']} generated chart(s) scored over {result['n_songs']} song(s); "
           f"{result['n_reference_charts']} reference chart(s); {result['charts_with_audio']} with audio.</p>"]
    if result["unpaired"]:
        out.append("<p><b>Not scored</b> (no reference chart of the same song): "
                   + ", ".join(f"<code>{e(p)}</code>" for p in result["unpaired"]) + "</p>")
    out.append("<h2>Summary</h2><table><tr><th>metric</th><th>value (mean over charts)</th><th>meaning</th></tr>")
    for key, label, meaning in SUMMARY_ROWS:
        out.append(f"<tr><td>{e(label)}</td><td class='n'>{_fmt(result.get(key))}</td><td>{e(meaning)}</td></tr>")
    out.append("</table>")
    if result["playability_faults_by_rule"]:
        out.append("<table><tr><th>playability rule (generated charts)</th><th>faults</th></tr>")
        for rule, n in sorted(result["playability_faults_by_rule"].items()):
            out.append(f"<tr><td>{e(rule)}</td><td class='n'>{n}</td></tr>")
        out.append("</table>")
    out.extend(_criteria_summary(result))
    s = result["settings"]
    out.append(f"<p class='note'>Matching is {e(s['matching'])}. Each generated chart is scored against the "
               f"reference chart of its song with the {e(s['reference_choice'])}. Onsets of the audio: librosa "
               f"onset_detect (no backtracking), moved {s['onset_latency_ms']:g} ms earlier for the detector's "
               f"latency. Playability: jacks under {s['min_jack_ms']:g} ms, long notes under {s['min_ln_ms']:g} ms, "
               f"duplicates, notes inside long notes, notes outside the audio.</p>")
    out.append("<h2>Plots</h2>")
    out.extend(f"<p><img src='{e(p)}' alt='{e(p)}'></p>" for p in plots)
    out.append("<h2>Charts</h2><table><tr><th>#</th><th>generated</th><th>reference (chosen)</th>"
               + "".join(f"<th>{e(label)}</th>" for _, label in CHART_COLUMNS) + "</tr>")
    for i, c in enumerate(charts):
        cells = "".join(f"<td class='n'>{_fmt(c.get(k), 2)}</td>" for k, _ in CHART_COLUMNS)
        out.append(f"<tr><td><a href='#c{i}'>{i}</a></td><td>{e(c['title'])} [{e(c['version'])}] {c['keys']}K"
                   f"</td><td>[{e(c['reference_version'])}] {c['reference_keys']}K</td>{cells}</tr>")
    out.append("</table><p class='note'>RC: the osu!mania Ranking Criteria on the notes, at the generated chart's "
               "level (each reference at its own): problems break a rule, warnings a guideline.</p>")
    for i, c in enumerate(charts):
        out.append(f"<h3 id='c{i}'>{i}. {e(c['title'])} [{e(c['version'])}]</h3><p class='note'>"
                   f"generated <code>{e(c['generated'])}</code><br>reference <code>{e(c['reference'])}</code> "
                   f"({e(c['reference_choice'])}; paired by {e(c['paired_by'])})<br>audio: "
                   f"<code>{e(c['audio'] or 'none')}</code></p>")
        refs = "".join(f"<tr><td>{'&#10003;' if r['chosen'] else ''}</td><td>{e(r['version'])}</td>"
                       f"<td class='n'>{_fmt(r['star_rating'], 2)}</td><td class='n'>{_fmt(r['rhythm_f1_10ms'])}</td>"
                       f"<td class='n'>{_fmt(r['rhythm_f1_50ms'])}</td><td>{_fmt(r.get('criteria_level'))}</td>"
                       f"<td class='n'>{_fmt(r.get('criteria_problems'))}</td>"
                       f"<td class='n'>{_fmt(r.get('criteria_warnings'))}</td></tr>" for r in c["all_references"])
        out.append("<table><tr><th>chosen</th><th>reference</th><th>SR</th><th>F1@10</th><th>F1@50</th>"
                   f"<th>RC level</th><th>RC problems</th><th>RC warnings</th></tr>{refs}</table>")
        if c["playability_examples"]:
            out.append("<p class='note'>" + "<br>".join(e(x) for x in c["playability_examples"]) + "</p>")
        out.extend(_criteria_chart(c))
        for key, label in (("preview", "generated"), ("reference_preview", "reference")):
            if c.get(key):
                out.append(f"<p>{label}</p><div class='pv'><img src='{e(c[key])}' alt='{label} preview'></div>")
    out.append("</body></html>")
    return "\n".join(out)


def criteria_line(issue: dict) -> str:
    """One listed Ranking Criteria issue (an entry of a chart's ``criteria_issues``) as ``beatforge check`` starts
    its line: severity, the editor's time and notes, the message (without the criterion's own words)."""
    where = f"{issue['editor']} - " if issue.get("editor") else ""
    return f"{issue['severity']} {where}{issue['message']}"


def _criteria_summary(result: dict) -> list[str]:
    """The Ranking Criteria side by side: problems and warnings of the generated charts and of their references
    (mean per chart and total), and the totals per check."""
    if result.get("criteria_problems") is None:
        return []
    e = html.escape
    out = ["<h3>osu!mania Ranking Criteria</h3><table><tr><th>the charts' notes, each at its own level</th>"
           "<th>generated</th><th>human (reference)</th></tr>"]
    for what in ("problem", "warning"):
        out.append(f"<tr><td>{what}s per chart (mean)</td><td class='n'>{_fmt(result.get(f'criteria_{what}s'), 2)}"
                   f"</td><td class='n'>{_fmt(result.get(f'reference_criteria_{what}s'), 2)}</td></tr>")
        out.append(f"<tr><td>{what}s (total)</td><td class='n'>{_fmt(result.get(f'criteria_{what}s_total'))}</td>"
                   f"<td class='n'>{_fmt(result.get(f'reference_criteria_{what}s_total'))}</td></tr>")
    out.append("</table>")
    gen, ref = result.get("criteria_by_check") or {}, result.get("reference_criteria_by_check") or {}
    if gen or ref:
        out.append("<table><tr><th>check (problems + warnings)</th><th>generated</th><th>human (reference)</th></tr>")
        for check in sorted(set(gen) | set(ref)):
            out.append(f"<tr><td><code>{e(check)}</code></td><td class='n'>{gen.get(check, 0)}</td>"
                       f"<td class='n'>{ref.get(check, 0)}</td></tr>")
        out.append("</table>")
    bands = ", ".join(f"{level.capitalize()} &lt; {LEVEL_STAR_FLOORS[up]:g}"
                      for level, up in zip(DIFFICULTY_LEVELS, DIFFICULTY_LEVELS[1:]))
    out.append("<p class='note'>Problems break a rule, warnings a guideline (<code>beatforge check</code>'s checks of "
               "the notes). Each chart is judged at its own level: its difficulty name's, else its star rating's band "
               f"({bands}, else {DIFFICULTY_LEVELS[-1].capitalize()}). The .osu file's own fields (preview point, "
               "background, HP/OD) and the set's checks are not counted: other games' reference charts have none "
               "(<code>beatforge check</code> on a generated .osu reports them).</p>")
    return out


def _criteria_chart(c: dict) -> list[str]:
    """One chart's Ranking Criteria beside its reference's: level, counts, and the first issues (editor time)."""
    if c.get("criteria_level") is None:
        return []
    e = html.escape
    out = ["<table><tr><th>Ranking Criteria</th><th>level</th><th>problems</th><th>warnings</th>"
           "<th>first issues, problems first (editor time: paste it into osu!'s editor)</th></tr>"]
    for side, label in (("", "generated"), ("reference_", "reference")):
        issues = c.get(f"{side}criteria_issues") or []
        lines = [e(criteria_line(i)) for i in issues[:CRITERIA_SHOWN]]
        more = (c.get(f"{side}criteria_problems") or 0) + (c.get(f"{side}criteria_warnings") or 0) - len(lines)
        if more > 0:
            lines.append(f"... {more} more (<code>beatforge check</code> lists them)")
        lines = "<br>".join(lines) or "none"
        out.append(f"<tr><td>{label}</td><td>{e(str(c.get(f'{side}criteria_level')))} "
                   f"<span class='note'>(from the {e(str(c.get(f'{side}criteria_level_source')))})</span></td>"
                   f"<td class='n'>{_fmt(c.get(f'{side}criteria_problems'))}</td>"
                   f"<td class='n'>{_fmt(c.get(f'{side}criteria_warnings'))}</td><td>{lines}</td></tr>")
    out.append("</table>")
    return out


# ------------------------------------------------------------------------------------------------ writing
def _check_target(out: Path) -> None:
    if out.exists() and not (out.is_dir() and ((out / "index.html").is_file() or not any(out.iterdir()))):
        raise BeatforgeError(f"{out}: exists and is not an evaluation report (no index.html); "
                             "choose another output folder")


def write_report(out_dir: str | Path, result: dict, previews: list[PreviewJob], gaps: np.ndarray, *,
                 progress: bool = False) -> Path:
    """Write the report folder (index.html, report.json, plots/*.png, previews/*.png) atomically; its path."""
    out = Path(out_dir)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    old: Path | None = None
    try:
        charts = result["charts"]
        plots = []
        for name, fn in (("rhythm", plot_rhythm), ("star_rating", plot_star_rating), ("skillsets", plot_skillsets),
                         ("density_columns", plot_density_columns)):
            fn(charts, tmp / "plots" / f"{name}.png")
            plots.append(f"plots/{name}.png")
        plot_timing(charts, gaps, tmp / "plots" / "timing.png")
        plots.append("plots/timing.png")
        for job in tqdm(previews, desc="previews", unit="chart", disable=None if progress else True, leave=False):
            on = job.onsets
            c = job.chart
            render_preview(c, tmp / job.rel, onset_strength=None if on is None else (on.env_ms, on.env),
                           end_ms=None if on is None else max(on.duration_ms, c.last_ms + 500.0),
                           title=f"{job.role}: {c.meta.title} [{c.meta.version}]  {c.keys}K, {c.n_notes} notes, "
                                 f"{c.n_long} long")
        atomic_write_text(tmp / "report.json", json.dumps(result, ensure_ascii=False, indent=1))
        atomic_write_text(tmp / "index.html", render_html(result, plots))
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "report")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "report").exists() and not out.exists():
            os.replace(old / "report", out)  # put the previous report back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
