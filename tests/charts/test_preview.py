"""beatforge.charts.preview: the hand-rasterised chart preview (notes where the layout says, sizes, no matplotlib,
written atomically)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beatforge.charts import preview
from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.charts.preview import (
    FRAME,
    LANE_BG,
    LN_COLOUR,
    LN_CONT_COLOUR,
    ONSET,
    PLOT_BG,
    TAP_COLOUR,
    TAP_MS,
    WHITE,
    preview_layout,
    render_preview,
)


def _chart(keys: int, notes: list[tuple[float, float, int]], title: str = "Song") -> ManiaChart:
    arr = np.array(notes, dtype=np.float64).reshape(-1, 3)
    return ManiaChart(keys=keys, starts=arr[:, 0], ends=arr[:, 1], columns=arr[:, 2].astype(np.int64),
                      meta=ChartMeta(title=title, version="Hard"))


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _fig_px(n_strips: int, keys: int) -> tuple[int, int]:
    return int(min(max(n_strips * (keys * 0.22 + 0.35) + 0.6, 4.0), 60.0) * 110), int(6.5 * 110)


NAN = float("nan")
# a tap in column 1 at 3 s; long notes: column 2 from 10 s to 15 s (crosses the 12 s strip edge), column 3 from 10 s
# to 30 s (crosses two edges, fills strip 1)
NOTES = [(3000.0, NAN, 1), (10000.0, 15000.0, 2), (10000.0, 30000.0, 3)]
BARS = [  # (strip, column, t0, t1 within the strip, colour)
    (0, 1, 3000.0, 3000.0 + TAP_MS, TAP_COLOUR),
    (0, 2, 10000.0, 12000.0, LN_COLOUR), (1, 2, 0.0, 3000.0, LN_CONT_COLOUR),
    (0, 3, 10000.0, 12000.0, LN_COLOUR), (1, 3, 0.0, 12000.0, LN_CONT_COLOUR), (2, 3, 0.0, 6000.0, LN_CONT_COLOUR),
]


def test_notes_are_drawn_where_the_layout_says(tmp_path: Path) -> None:
    chart = _chart(4, NOTES)
    out = render_preview(chart, tmp_path / "p.png", end_ms=36000.0)
    px = _pixels(out)
    lay = preview_layout(chart, end_ms=36000.0)
    assert lay.n_strips == 3 and lay.strip_ms == 12000.0
    for strip in range(lay.n_strips):
        x0, x1 = (int(v) for v in lay.lanes_x(strip))
        inner = px[lay.lanes_top + 1:lay.lanes_bottom - 1, x0 + 1:x1 - 1]
        assert (px[(lay.lanes_top + lay.lanes_bottom) // 2, [x0, x1 - 1]] == FRAME).all()  # the frame
        assert (px[(lay.lanes_top + lay.lanes_bottom) // 2, x0 - 2] == PLOT_BG).all()  # outside the lanes
        want = np.empty(inner.shape, dtype=np.uint8)
        want[:] = LANE_BG
        for b_strip, col, t0, t1, colour in BARS:
            if b_strip != strip:
                continue
            bx0, bx1 = (int(v) for v in lay.bar_x(strip, col))
            by0, by1 = (int(v) for v in lay.bar_y(t0, t1))
            assert bx1 - bx0 >= 5 and by1 - by0 >= 2
            # the bar's middle pixel, then the whole rectangle (inside the frame)
            assert tuple(px[(by0 + by1) // 2, (bx0 + bx1) // 2]) == colour
            want[max(by0, lay.lanes_top + 1) - lay.lanes_top - 1:min(by1, lay.lanes_bottom - 1) - lay.lanes_top - 1,
                 bx0 - x0 - 1:bx1 - x0 - 1] = colour
        np.testing.assert_array_equal(inner, want)  # the lane background everywhere else
    # time runs upwards: the tap at 3 s lies below the middle of strip 0; the head of a long note ends at the top
    t_y0, t_y1 = lay.bar_y(3000.0, 3000.0 + TAP_MS)
    assert t_y0 > (lay.lanes_top + lay.lanes_bottom) / 2 and lay.bar_y(10000.0, 12000.0)[0] == lay.lanes_top
    assert tuple(px[0, 0]) == WHITE
    # a title line: dark text above the plot, centred
    title = px[:lay.lanes_top, :].min(axis=2)
    cols = np.flatnonzero((title < 100).any(axis=0))
    assert len(cols) and abs((cols[0] + cols[-1]) / 2 - px.shape[1] / 2) < 20


def test_png_size_follows_the_old_figure_size(tmp_path: Path) -> None:
    for keys, end_ms, n_strips in [(4, 36000.0, 3), (4, 240000.0, 20), (7, 180000.0, 15), (10, 3600e3, 30)]:
        chart = _chart(keys, [(1000.0, NAN, 0)])
        out = render_preview(chart, tmp_path / f"{keys}-{n_strips}.png", end_ms=end_ms)
        with Image.open(out) as im:
            assert im.format == "PNG"
            assert im.size == _fig_px(n_strips, keys) == (preview_layout(chart, end_ms=end_ms).width, 715)
    # max_strips: a long song gets longer strips
    lay = preview_layout(_chart(4, [(1000.0, NAN, 0)]), end_ms=3600e3, max_strips=30)
    assert lay.n_strips == 30 and lay.strip_s == pytest.approx(120.0)


def test_empty_and_7k_charts_draw(tmp_path: Path) -> None:
    empty = _chart(4, [])
    out = render_preview(empty, tmp_path / "empty.png")
    px = _pixels(out)
    assert px.shape == (715, 440, 3)
    lay = preview_layout(empty)
    x0, x1 = (int(v) for v in lay.lanes_x(0))
    assert (px[lay.lanes_top + 1:lay.lanes_bottom - 1, x0 + 1:x1 - 1] == LANE_BG).all()

    rng = np.random.default_rng(0)
    starts = np.sort(rng.uniform(0, 90000, 600))
    ends = np.where(rng.random(600) < 0.2, starts + rng.uniform(100, 3000, 600), NAN)
    seven = _chart(7, list(zip(starts, ends, rng.integers(0, 7, 600))))
    t = np.arange(0.0, 92000.0, 11.6)
    strength = np.abs(np.sin(t / 400.0))
    out = render_preview(seven, tmp_path / "7k.png", onset_strength=(t, strength), end_ms=92000.0, title="seven")
    px = _pixels(out)
    lay = preview_layout(seven, end_ms=92000.0, onset_strength=True)
    assert px.shape == (715, _fig_px(lay.n_strips, 7)[0], 3) and lay.n_strips == 8
    colours = {tuple(c) for c in px.reshape(-1, 3)[::7]}
    assert {TAP_COLOUR, LN_COLOUR, LN_CONT_COLOUR} <= colours
    # the onset line lies right of each strip's lanes, not on them
    for strip in range(lay.n_strips):
        _, lanes_end = (int(v) for v in lay.lanes_x(strip))
        gap = px[lay.lanes_top:lay.lanes_bottom, lanes_end:int(lay.x((strip + 1) * lay.strip_units))]
        assert (gap == ONSET).all(axis=2).sum() > 50
    x0, x1 = (int(v) for v in lay.lanes_x(0))
    assert not (px[:, x0:x1] == ONSET).all(axis=2).any()


def test_no_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from beatforge.charts.chart import ManiaChart\n"
        "from beatforge.charts.preview import render_preview\n"
        "c = ManiaChart(keys=4, starts=np.array([0.0, 500.0]), ends=np.array([np.nan, 9000.0]),"
        " columns=np.array([0, 3]))\n"
        f"render_preview(c, {str(tmp_path / 'x.png')!r}, onset_strength=(np.arange(100.0) * 50, np.ones(100)))\n"
        "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "x.png").is_file()


def test_written_atomically(tmp_path: Path, monkeypatch) -> None:
    chart = _chart(4, NOTES)
    target = tmp_path / "sub" / "p.png"

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(preview.Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        render_preview(chart, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left either
