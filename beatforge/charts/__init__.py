"""Game-neutral charts and their tensor encodings (mania chart tensor, standard hit-object sequence)."""

from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint

__all__ = ["AudioSource", "ChartMeta", "ManiaChart", "TimingPoint"]
