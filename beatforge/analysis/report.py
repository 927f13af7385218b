""" "Chart to prompt": everything Mug Diffusion conditions on, measured on one chart.

The figures are the ones the diffusion model's prompt features are made of (see
``configs/mug/mania_beatmap_features.yaml`` in a later stage): osu! star rating, the seven skillsets and
overall on the MSD scale, long-note ratio and map type, and the dominant-pattern flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from beatforge.analysis.skillsets import pattern_flags, skillset_ratings
from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart
from beatforge.constants import MAP_TYPES, SKILLSETS

# Map type bands. Mug Diffusion used rice < 10 % and LN >= 40 % of notes, but put "hybrid" at 10-70 % in its
# database and 10-40 % in its web page; here the three bands do not overlap.
RICE_MAX_LN = 0.1
LN_MIN_LN = 0.4
_RICE, _HYBRID, _LN = MAP_TYPES  # ("rice", "hybrid", "ln"), by long-note share


def map_type(ln_ratio: float) -> str:
    """rice (LN < 10 %), hybrid (10-40 %) or ln (>= 40 %)."""
    if ln_ratio < RICE_MAX_LN:
        return _RICE
    return _HYBRID if ln_ratio < LN_MIN_LN else _LN


@dataclass
class ChartReport:
    title: str
    artist: str
    creator: str
    version: str
    source_game: str
    keys: int
    notes: int
    long_notes: int
    ln_ratio: float
    map_type: str
    bpm: float | None
    bpms: list[float]
    drain_seconds: float
    star_rating: float
    skillsets: dict[str, float]
    overall: float
    dominant: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    rate: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def analyze(chart: ManiaChart, *, rate: float = 1.0) -> ChartReport:
    """Measure a chart (at clock ``rate``: 1.5 rates it as if played 1.5x faster)."""
    chart.require_notes()
    ratings = skillset_ratings(chart, rate=rate)
    flags = pattern_flags(ratings)
    bpm = chart.main_bpm()
    return ChartReport(
        title=chart.meta.title,
        artist=chart.meta.artist,
        creator=chart.meta.creator,
        version=chart.meta.version,
        source_game=chart.meta.source_game,
        keys=chart.keys,
        notes=chart.n_notes,
        long_notes=chart.n_long,
        ln_ratio=round(chart.ln_ratio, 4),
        map_type=map_type(chart.ln_ratio),
        bpm=round(bpm * rate, 2) if bpm is not None else None,
        bpms=[round(b * rate, 2) for b in chart.bpms()],
        drain_seconds=round(chart.drain_seconds / rate, 2),
        star_rating=round(star_rating(chart, rate=rate), 4),
        skillsets={name: round(float(ratings[name]), 2) for name in SKILLSETS},
        overall=round(float(ratings["overall"]), 2),
        dominant=[name for name in SKILLSETS if flags.get(name)],
        flags=flags,
        rate=rate,
    )


def format_report(r: ChartReport) -> str:
    """A human-readable block for the terminal."""
    lines = [
        f"{r.artist} - {r.title} [{r.version}]  ({r.source_game}, {r.keys}K)"
        + (f"  at {r.rate}x" if r.rate != 1 else ""),
        f"  notes        {r.notes}  (long notes {r.long_notes}, LN ratio {r.ln_ratio:.1%}, map type {r.map_type})",
        f"  BPM          {r.bpm if r.bpm is not None else '-'}"
        + (f"  (all: {', '.join(f'{b:g}' for b in r.bpms)})" if len(r.bpms) > 1 else ""),
        f"  drain time   {int(r.drain_seconds // 60)}:{r.drain_seconds % 60:04.1f}",
        f"  star rating  {r.star_rating:.2f}  (osu!, rosu-pp)",
        f"  overall      {r.overall:.2f}  (MSD scale; beatforge's analyser, not MinaCalc)",
    ]
    for name, value in r.skillsets.items():
        mark = "  <- dominant" if name in r.dominant else ""
        lines.append(f"    {name:<11}{value:6.2f}{mark}")
    return "\n".join(lines)
