"""Chart analysis: difficulty and pattern measures computed from a :class:`~beatforge.charts.chart.ManiaChart`."""
