"""osu! star rating through rosu-pp-py, a port of osu!'s own difficulty calculator (pinned in
pyproject.toml, since star-rating algorithms change between osu! releases)."""

from __future__ import annotations

from pathlib import Path

import rosu_pp_py as rosu

from beatforge.archive import read_member
from beatforge.charts.chart import ManiaChart
from beatforge.errors import ChartError
from beatforge.fileio import is_regular_file, read_bounded
from beatforge.formats.osu import MAX_OSU_BYTES, mania_to_beatmap, write_osu


def star_rating_of_osu(content: bytes | str, *, rate: float = 1.0, path: str = "beatmap") -> float:
    """Star rating of .osu text as osu! computes it (nomod; ``rate`` is the clock rate, 1.5 = DT)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if not isinstance(data, bytes) or not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"osu file format v"):
        # rosu-pp rates any bytes (b"garbage" came out at 0.14 stars): only .osu text gets a figure
        raise ChartError(f"{path}: not .osu text (no 'osu file format' header)")
    try:
        bm = rosu.Beatmap(content=data)
        return float(rosu.Difficulty(clock_rate=rate).calculate(bm).stars)
    except Exception as exc:  # rosu raises its own ParseError / ArgsError types
        raise ChartError(f"{path}: rosu-pp cannot rate this beatmap ({exc})") from None


def osu_bytes_of(chart: ManiaChart) -> bytes | None:
    """The original .osu bytes a chart was read from (a file or an .osz member), if it came from osu!."""
    path = chart.meta.path
    if chart.meta.source_game != "osu" or not path:
        return None
    if "::" in path:
        archive, member = path.split("::", 1)
        return read_member(archive, member)
    p = Path(path)
    return read_bounded(p, max_bytes=MAX_OSU_BYTES, what="an .osu file") if is_regular_file(p) else None


def star_rating(chart: ManiaChart, *, rate: float = 1.0) -> float:
    """The chart's osu!mania star rating.

    A chart read from an .osu file is rated from that file's own bytes, so the figure equals
    rosu-pp-py's for the same file; any other chart is rated as the .osu that ``beatforge convert``
    writes for it.
    """
    original = osu_bytes_of(chart)
    if original is None or not original.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"osu file format v"):
        original = write_osu(mania_to_beatmap(chart)).encode("utf-8")
    return star_rating_of_osu(original, rate=rate, path=chart.meta.path or "chart")
