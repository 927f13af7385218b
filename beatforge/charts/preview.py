"""A preview image of an osu!mania chart: the song cut into vertical strips (time runs upwards, as in the game),
one lane per column, taps as short bars, long notes as tall bars; optionally the audio's onset strength beside each
strip (so a chart that is off the music shows it).

Hand-rasterised with numpy and written with Pillow, not drawn with matplotlib: matplotlib's import and drawing cost
~1 s of every ``beatforge generate`` run (which writes a preview per chart), and a piano roll is only rectangles.
The image is built as a (height, width) uint8 array of indices into PALETTE: a fill is a memset, and a palette PNG
encodes ~10x faster than an RGB one (one byte a pixel; the RGB encode alone took ~50 ms) and looks the same. Every
note becomes a run of rows in its lane (a coverage count per lane and note kind, built with ``np.add.at`` on
start/stop marks and a cumulative sum), spread over the lane's pixel columns with one fancy index; lanes, frames,
labels and the onset line take a loop per strip. Text is Pillow's built-in font, drawn antialiased into a mask and
written as shades of a ramp in the palette. A 3-minute chart draws in a few hundredths of a second. The geometry
(:class:`PreviewLayout`, :func:`preview_layout`, the constants below) is public so tests can find a note's pixels.
The PNG is written to a temporary name and renamed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from beatforge.charts.chart import ManiaChart
from beatforge.fileio import atomic_path

TAP_MS = 35.0  # a tap's bar spans this much time
DPI = 110
FIG_H_IN = 6.5  # the image is FIG_H_IN * DPI pixels tall ...
MIN_FIG_W_IN, MAX_FIG_W_IN = 4.0, 60.0  # ... and n_strips * (keys * 0.22 + 0.35) + 0.6 inches wide, within these
MARGIN_LEFT = MARGIN_RIGHT = MARGIN_BOTTOM = 17  # pixels of white around the plot
MARGIN_TOP = 37  # pixels above the plot: the title line
LABEL_FRAC = 0.04  # the band under the lanes for the time labels, as a fraction of a strip's time
X_PAD = 0.3  # plot room left of the first strip, in lane widths
LANE_INSET = 0.08  # a note's bar leaves this fraction of its lane's width free on each side
MIN_BAR_PX = 2  # the shortest bar (a 35 ms tap in a long strip would round to one pixel)
TITLE_PX, LABEL_PX = 14, 10  # font sizes: about matplotlib's 9 pt and 6 pt at 110 dpi (Aileron runs small)

WHITE = (255, 255, 255)
PLOT_BG = (0x11, 0x13, 0x18)  # the plot behind the lanes
LANE_BG = (0x1C, 0x1F, 0x27)
FRAME = (0x3A, 0x3F, 0x4C)  # the outline of each strip's lanes
LABEL = (0x44, 0x44, 0x44)
TITLE = (0, 0, 0)
ONSET = (0x5F, 0xB0, 0xFF)
TAP_COLOUR = (0xE8, 0xE8, 0xF0)
LN_COLOUR = (0xF2, 0xB8, 0x4B)  # a long note, in the strip where it starts
LN_CONT_COLOUR = (0xC9, 0x9A, 0x3C)  # its rest, continued in the next strips
RAMP = 16  # shades of antialiased text, from its background (0) to its colour (RAMP - 1)


def _ramp(bg: tuple[int, int, int], fg: tuple[int, int, int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(round(b + (f - b) * i / (RAMP - 1)) for b, f in zip(bg, fg)) for i in range(RAMP))


# what the image's indices mean
PALETTE = (WHITE, PLOT_BG, LANE_BG, FRAME, TAP_COLOUR, LN_COLOUR, LN_CONT_COLOUR, ONSET, *_ramp(WHITE, TITLE),
           *_ramp(PLOT_BG, LABEL))
WHITE_I, PLOT_BG_I, LANE_BG_I, FRAME_I, TAP_I, LN_I, LN_CONT_I, ONSET_I = range(8)
TITLE_RAMP_I, LABEL_RAMP_I = 8, 8 + RAMP


@dataclass(frozen=True)
class PreviewLayout:
    """Where things go in a preview image (pixels: x from the left, y from the top).

    A strip is ``strip_units`` lane widths wide (``keys`` lanes, then a gap for the onset line); time
    ``t`` ms after a strip's start lies at row ``y(t)``, the strip's start at ``lanes_bottom``.
    """

    keys: int
    n_strips: int
    strip_s: float
    width: int
    height: int
    gap: float  # lane widths right of a strip's lanes (room for the onset line)
    lanes_top: int
    lanes_bottom: int

    @property
    def strip_ms(self) -> float:
        return self.strip_s * 1000.0

    @property
    def strip_units(self) -> float:
        return self.keys + self.gap

    @property
    def px_per_unit(self) -> float:
        return (self.width - MARGIN_LEFT - MARGIN_RIGHT) / (self.n_strips * self.strip_units + X_PAD)

    def x(self, units: np.ndarray | float) -> np.ndarray:
        """The pixel column (float) of a position in lane widths from the first strip's left edge."""
        return MARGIN_LEFT + (np.asarray(units, dtype=np.float64) + X_PAD) * self.px_per_unit

    def y(self, t_ms: np.ndarray | float) -> np.ndarray:
        """The pixel row (float) of ``t_ms`` after a strip's start."""
        t = np.asarray(t_ms, dtype=np.float64)
        return self.lanes_bottom - t / self.strip_ms * (self.lanes_bottom - self.lanes_top)

    def lanes_x(self, strip: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel columns [x0, x1) of a strip's lanes (background and frame)."""
        u = np.asarray(strip) * self.strip_units
        return np.rint(self.x(u)).astype(np.int64), np.rint(self.x(u + self.keys)).astype(np.int64)

    def bar_x(self, strip: np.ndarray | int, column: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel columns [x0, x1) of a note's bar in ``column`` of ``strip``."""
        u = np.asarray(strip) * self.strip_units + np.asarray(column)
        x0 = np.rint(self.x(u + LANE_INSET)).astype(np.int64)
        return x0, np.maximum(np.rint(self.x(u + 1.0 - LANE_INSET)).astype(np.int64), x0 + 1)

    def bar_y(self, t0_ms: np.ndarray | float, t1_ms: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Pixel rows [y0, y1) of a bar from ``t0_ms`` up to ``t1_ms`` after a strip's start: at least
        MIN_BAR_PX tall (a bar at the top of a strip grows downwards), inside the lanes."""
        y1 = np.rint(self.y(t0_ms)).astype(np.int64)
        y0 = np.minimum(np.rint(self.y(t1_ms)).astype(np.int64), y1 - MIN_BAR_PX)
        y0 = np.clip(y0, self.lanes_top, self.lanes_bottom - MIN_BAR_PX)
        return y0, np.clip(np.maximum(y1, y0 + MIN_BAR_PX), self.lanes_top, self.lanes_bottom)


def preview_layout(chart: ManiaChart, *, strip_s: float = 12.0, end_ms: float | None = None,
                   onset_strength: bool = False, max_strips: int = 30) -> PreviewLayout:
    """The layout :func:`render_preview` uses for these arguments (``onset_strength``: whether it is drawn)."""
    k = chart.keys
    last = float(np.nanmax(np.r_[chart.starts, chart.ends, 1000.0]) + 500.0)
    if end_ms is not None and np.isfinite(end_ms):
        last = float(end_ms)
    n_strips = int(np.ceil(last / (strip_s * 1000.0)))
    if n_strips > max_strips:
        strip_s = last / 1000.0 / max_strips
        n_strips = max_strips
    n_strips = max(n_strips, 1)
    fig_w = min(max(n_strips * (k * 0.22 + 0.35) + 0.6, MIN_FIG_W_IN), MAX_FIG_W_IN)
    width, height = int(fig_w * DPI), int(FIG_H_IN * DPI)
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    return PreviewLayout(keys=k, n_strips=n_strips, strip_s=strip_s, width=width, height=height,
                         gap=1.2 if not onset_strength else 2.2, lanes_top=MARGIN_TOP,
                         lanes_bottom=MARGIN_TOP + round(plot_h / (1.0 + LABEL_FRAC)))


def _note_pieces(chart: ManiaChart, lay: PreviewLayout) -> tuple[np.ndarray, ...]:
    """(strip, column, t0, t1, kind) of every bar: a tap is one (kind 1); a long note is cut at strip edges into
    its start (kind 2) and its continuations (kind 3). Bars outside the strips are dropped."""
    s, e, c = chart.starts, chart.ends, chart.columns
    strip_ms, n = lay.strip_ms, lay.n_strips
    is_ln = np.isfinite(e)
    tap_strip = np.floor(s[~is_ln] / strip_ms).astype(np.int64)
    tap_t0 = s[~is_ln] - tap_strip * strip_ms
    s_ln, e_ln = s[is_ln], e[is_ln]
    first = np.floor(s_ln / strip_ms).astype(np.int64)
    # a long note ending exactly on a strip edge does not reach into the next strip
    last = np.maximum(np.ceil(e_ln / strip_ms).astype(np.int64) - 1, first)
    lo, hi = np.maximum(first, 0), np.minimum(last, n - 1)
    counts = np.maximum(hi - lo + 1, 0)
    idx = np.repeat(np.arange(len(s_ln)), counts)
    ln_strip = lo[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts))
    base = ln_strip * strip_ms
    strips = np.r_[tap_strip, ln_strip]
    cols = np.r_[c[~is_ln], c[is_ln][idx]]
    t0 = np.r_[tap_t0, np.maximum(s_ln[idx] - base, 0.0)]
    t1 = np.r_[np.minimum(tap_t0 + TAP_MS, strip_ms), np.minimum(e_ln[idx] - base, strip_ms)]
    kind = np.r_[np.ones(len(tap_strip), np.int64), np.where(ln_strip == first[idx], 2, 3)]
    keep = (strips >= 0) & (strips < n)
    return strips[keep], cols[keep], t0[keep], t1[keep], kind[keep]


def _rasterise(chart: ManiaChart, lay: PreviewLayout) -> np.ndarray:
    """The image without text: (height, width) uint8 indices into PALETTE (one byte a pixel: a fill is a memset,
    three times faster than filling RGB pixels)."""
    img = np.full((lay.height, lay.width), WHITE_I, dtype=np.uint8)
    right = lay.width - MARGIN_RIGHT
    img[MARGIN_TOP:lay.height - MARGIN_BOTTOM, MARGIN_LEFT:right] = PLOT_BG_I
    top, bottom, k = lay.lanes_top, lay.lanes_bottom, lay.keys
    # lanes: background and a one-pixel frame per strip
    lx0, lx1 = lay.lanes_x(np.arange(lay.n_strips))
    for x0, x1 in zip(lx0.tolist(), np.minimum(lx1, right).tolist()):
        if x1 - x0 >= 2:
            img[top:bottom, x0:x1] = FRAME_I
            img[top + 1:bottom - 1, x0 + 1:x1 - 1] = LANE_BG_I
    # notes: per row and lane (strip, column), how many bars of each kind cover it (+1 at a bar's first row, -1
    # past its last, summed up the rows); a pixel shows the highest kind covering it
    strips, cols, t0, t1, kind = _note_pieces(chart, lay)
    y0, y1 = lay.bar_y(t0, t1)
    lane = strips * k + cols
    n_lanes, rows = lay.n_strips * k, bottom - top
    cover = np.zeros((4, rows + 1, n_lanes), dtype=np.int32)
    np.add.at(cover, (kind, y0 - top, lane), 1)
    np.add.at(cover, (kind, y1 - top, lane), -1)
    covered = np.cumsum(cover[:, :rows], axis=1) > 0
    lane_kind = np.max(covered * np.arange(4, dtype=np.uint8)[:, None, None], axis=0)  # (rows, n_lanes), 0: none
    # spread over pixel columns: each column inside a bar's span belongs to one lane
    all_lanes = np.arange(n_lanes)
    bx0, bx1 = lay.bar_x(all_lanes // k, all_lanes % k)
    widths = np.maximum(np.minimum(bx1, right) - bx0, 0)
    px = np.repeat(bx0 - np.cumsum(widths) + widths, widths) + np.arange(widths.sum())
    kinds = lane_kind[:, np.repeat(all_lanes, widths)]  # (rows, bar pixel columns)
    region = img[top:bottom, px]
    img[top:bottom, px] = np.where(kinds > 0, kinds + (TAP_I - 1), region)
    return img


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (ImportError, TypeError):  # an older or FreeType-less Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _put_text(img: np.ndarray, xy: tuple[float, float], text: str, size: int, ramp: int, anchor: str) -> None:
    """Write ``text`` into ``img`` at ``xy`` (Pillow's anchor), antialiased as shades ``ramp + 1 ..``."""
    font = _font(size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap font knows Latin-1 only
        text = text.encode("latin-1", "replace").decode("latin-1")
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(text, anchor=anchor))
    if x1 <= x0 or y1 <= y0:
        return
    mask = Image.new("L", (x1 - x0, y1 - y0))
    ImageDraw.Draw(mask).text((-x0, -y0), text, fill=255, font=font, anchor=anchor)
    level = (np.asarray(mask, dtype=np.uint16) * (RAMP - 1) + 127) // 255
    # clip to the image
    left, top = round(xy[0]) + x0, round(xy[1]) + y0
    cx0, cy0 = max(-left, 0), max(-top, 0)
    cx1, cy1 = min(level.shape[1], img.shape[1] - left), min(level.shape[0], img.shape[0] - top)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    level = level[cy0:cy1, cx0:cx1]
    dst = img[top + cy0:top + cy1, left + cx0:left + cx1]
    dst[level > 0] = (ramp + level[level > 0]).astype(np.uint8)


def render_preview(
    chart: ManiaChart,
    out: str | Path,
    *,
    strip_s: float = 12.0,
    end_ms: float | None = None,
    onset_strength: tuple[np.ndarray, np.ndarray] | None = None,
    title: str | None = None,
    max_strips: int = 30,
) -> Path:
    """Draw ``chart`` to ``out`` (PNG).

    Args:
        strip_s: seconds per strip.
        end_ms: where the song ends (default: the last note).
        onset_strength: (times ms, strength) of the audio, drawn right of each strip's lanes.
        max_strips: longer songs get longer strips instead of more of them.
    """
    lay = preview_layout(chart, strip_s=strip_s, end_ms=end_ms, onset_strength=onset_strength is not None,
                         max_strips=max_strips)
    k, strip_ms = lay.keys, lay.strip_ms
    img = _rasterise(chart, lay)
    label_y = lay.lanes_bottom + 0.012 * (lay.lanes_bottom - lay.lanes_top)
    for i in range(lay.n_strips):
        cx = float(lay.x(i * lay.strip_units + k / 2))
        _put_text(img, (cx, label_y), f"{i * lay.strip_s:.0f}s", LABEL_PX, LABEL_RAMP_I, "mt")
    n_ln = int(np.isfinite(chart.ends).sum())
    text = title or f"{chart.meta.title} [{chart.meta.version}]  {k}K, {chart.n_notes} notes, {n_ln} long"
    _put_text(img, ((MARGIN_LEFT + lay.width - MARGIN_RIGHT) / 2, MARGIN_TOP - 7), text, TITLE_PX, TITLE_RAMP_I,
              "ms")
    im = Image.fromarray(img, "P")
    im.putpalette(bytes(np.array(PALETTE, dtype=np.uint8).ravel()))
    if onset_strength is not None:
        t_on = np.asarray(onset_strength[0], dtype=np.float64).reshape(-1)
        v = np.asarray(onset_strength[1], dtype=np.float64).reshape(-1)
        ok = np.isfinite(t_on) & np.isfinite(v)
        t_on, v = t_on[ok], v[ok]
        if len(v):
            v = np.clip(v / max(float(np.percentile(v, 99.5)), 1e-9), 0.0, 1.0)
            idx = np.floor(t_on / strip_ms)
            draw = ImageDraw.Draw(im)
            for i in range(lay.n_strips):
                m = idx == i
                if m.sum() < 2:
                    continue
                xs = lay.x(i * lay.strip_units + k + 0.1 + v[m] * (lay.gap - 0.3))
                ys = lay.y(t_on[m] - i * strip_ms)
                draw.line(np.column_stack([xs, ys]).ravel().tolist(), fill=ONSET_I, width=1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        im.save(tmp, format="PNG", compress_level=1)  # several times faster than the default, a little larger
    return out


__all__ = ["DPI", "FIG_H_IN", "FRAME", "LANE_BG", "LN_COLOUR", "LN_CONT_COLOUR", "ONSET", "PLOT_BG", "TAP_COLOUR",
           "TAP_MS", "WHITE", "PreviewLayout", "preview_layout", "render_preview"]
