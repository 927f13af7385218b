"""Mania chart <-> frame tensor, Mug Diffusion's layout, vectorised.

A chart of ``K`` keys becomes a float32 array of shape ``(4*K, T)``: channels first, one column of the
array per chart frame of ``frame_ms`` (default :data:`~beatforge.constants.FRAME_MS`, 46.44 ms). A time
``t`` ms lies at ``x = (t - offset_ms) / frame_ms``: frame ``floor(x)``, offset ``x - floor(x)`` in [0, 1).

=============  ==============  ==================================================================
channels       name            content
=============  ==============  ==================================================================
``0:K``        is_start        1 at the frame a note starts in
``K:2K``       start_offset    where in that frame it starts, in [0, 1) (0 elsewhere)
``2K:3K``      is_holding      1 for a long note's frames after its start frame, up to and
                               including its end frame (never at the start frame itself, unless
                               the previous long note of the column ends there)
``3K:4K``      end_offset      where in the end frame the long note ends, in [0, 1]; for a long
                               note that starts and ends in one frame (shorter than a frame), its
                               end offset sits in the start frame, after the start offset
=============  ==============  ==================================================================

Column ``c`` of the chart is row ``c`` of each block. To serve every key count with one model,
:func:`pad_keys` widens each block to ``MAX_KEYS`` rows (the extra rows zero) and :func:`unpad_keys`
takes them off again; the key count is then a condition of the model.

What the layout cannot hold (all counted in :class:`EncodeStats`, never silently):

* two notes of one column in one frame: the first is kept (``collided``). None of the real charts
  in ``shared/data`` has one at 46.44 ms frames, but a 1/4 jack above ~323 BPM would; the frame
  length is a parameter for that reason;
* a note starting while an earlier long note of its column is still held (a broken chart): the
  later note is dropped (``overlapping``). The rule is "starts before the largest end of any
  earlier note of the column", which equals keeping the first except in nested broken cases;
* a long note that starts and ends in one frame (shorter than a frame, e.g. a 40 ms "mini LN") has no
  hold frame to mark it: Mug Diffusion's layout turns it into a tap. Here its end offset is written in
  the start frame instead (a tap leaves that channel 0, and an end lies after its start), so it comes
  back whole. Only when that slot is taken (an earlier long note of the column ends in the same frame)
  does it come back as a tap (``ln_collapsed``);
* notes outside the window ``[0, T)`` are dropped (``outside``); a long note crossing the window end
  is cut at the last frame with end offset 1 (``ln_cut``).

Decoding (:func:`decode`) thresholds is_start / is_holding (``> threshold``, or ``> 0`` for logits);
a start whose own frame is not held and whose end offset exceeds its start offset by more than
``SHORT_LN_MIN`` of a frame is a long note ending in that frame;
a start followed by a run of at least one holding frame is a long note, which ends at the last frame
of that run, or at the column's next start frame if the run reaches it (that frame holds both the end
of one note and the start of the next; the end is then kept no later than the next start). Offsets
are always read in [0, 1] space and clipped, logits or not.

Offsets are stored as float32: the rounding is below 2**-24 of a frame, i.e. under 3e-6 ms at
46.44 ms, so a round trip gives every start and long-note end back well within 1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.constants import FRAME_MS, MAX_KEYS, MIN_KEYS
from beatforge.errors import ChartError

# A start whose end offset (in its own, unheld frame) exceeds its start offset by more than this share of a
# frame is a sub-frame long note; below it (2.3 ms at 46 ms frames), noise in a generated tensor is a tap.
SHORT_LN_MIN = 0.05

__all__ = [
    "EncodeStats",
    "decode",
    "encode",
    "encode_with_stats",
    "mirror",
    "n_frames_for",
    "pad_keys",
    "permute_columns",
    "unpad_keys",
    "valid_mask",
    "valid_mask_from_tensor",
]


@dataclass(frozen=True)
class EncodeStats:
    """What :func:`encode_with_stats` could not represent, in notes.

    Attributes:
        n_notes: notes in the chart.
        encoded: notes whose start is in the tensor.
        outside: notes starting before frame 0 or at/after frame T (dropped).
        collided: notes dropped because an earlier note of the same column starts in the same frame.
        overlapping: notes dropped because they start inside an earlier long note of the same column.
        ln_collapsed: sub-frame long notes whose start frame already holds another long note's end; they decode
            as taps.
        ln_cut: long notes crossing the window end, cut at the last frame with end offset 1.
        n_frames: T.
        last_frame: last frame carrying a start or a long-note end (-1 when nothing is encoded).
    """

    n_notes: int
    encoded: int
    outside: int
    collided: int
    overlapping: int
    ln_collapsed: int
    ln_cut: int
    n_frames: int
    last_frame: int

    @property
    def lost(self) -> int:
        """Notes whose start did not make it in for a reason other than the window."""
        return self.collided + self.overlapping


# ================================================================================== encoding
def _frame_pos(times: np.ndarray, frame_ms: float, offset_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(frame index int64, offset in [0,1) float64) of times in ms."""
    x = (np.asarray(times, dtype=np.float64) - offset_ms) / frame_ms
    frames = np.floor(x)
    return frames.astype(np.int64), x - frames


def n_frames_for(chart: ManiaChart, *, frame_ms: float = FRAME_MS, offset_ms: float = 0.0) -> int:
    """Frames needed to hold the whole chart: last start or long-note end frame + 1 (0 for no notes)."""
    if chart.n_notes == 0:
        return 0
    last, _ = _frame_pos(np.array([chart.last_ms]), frame_ms, offset_ms)
    return max(int(last[0]) + 1, 0)


def _check_frame_ms(frame_ms: float) -> None:
    if not (np.isfinite(frame_ms) and frame_ms > 0):
        raise ValueError(f"frame_ms must be a positive number, not {frame_ms}")


def encode_with_stats(
    chart: ManiaChart,
    *,
    frame_ms: float = FRAME_MS,
    n_frames: int | None = None,
    offset_ms: float = 0.0,
) -> tuple[np.ndarray, EncodeStats]:
    """The ``(4*keys, T)`` float32 tensor of a chart and what could not be represented.

    Args:
        chart: the chart.
        frame_ms: frame length in ms.
        n_frames: T; default enough frames for the last start or long-note end.
        offset_ms: time of frame 0's beginning (a time t lies at ``(t - offset_ms) / frame_ms``).
    """
    _check_frame_ms(frame_ms)
    k = chart.keys
    t_len = n_frames_for(chart, frame_ms=frame_ms, offset_ms=offset_ms) if n_frames is None else int(n_frames)
    if t_len < 0:
        raise ValueError(f"n_frames must be >= 0, not {n_frames}")
    out = np.zeros((4 * k, t_len), dtype=np.float32)

    # Column-major order: every column's notes together, by start (then by end for equal starts).
    cols_all = chart.columns
    order = np.lexsort((np.nan_to_num(chart.ends, nan=-np.inf), chart.starts, cols_all))
    starts, ends, cols = chart.starts[order], chart.ends[order], cols_all[order]
    n = len(starts)

    s_frame, s_off = _frame_pos(starts, frame_ms, offset_ms)
    inside = (s_frame >= 0) & (s_frame < t_len)

    # Overlap: a note starting before the largest end of the earlier notes of its column. The column
    # index is added as a big offset so one running maximum over the whole array restarts per column.
    reach = np.where(np.isnan(ends), starts, ends)
    span = (float(np.nanmax(np.abs(reach))) if n else 0.0) * 2.0 + 1.0
    shifted = reach + cols * span
    run_max = np.maximum.accumulate(shifted) if n else shifted
    prev_max = np.empty_like(run_max)
    if n:
        prev_max[0] = -np.inf
        prev_max[1:] = run_max[:-1]
    overlapping = np.zeros(n, dtype=bool)
    if n:
        same_col = np.r_[False, cols[1:] == cols[:-1]]
        overlapping = same_col & (starts + cols * span < prev_max)
        overlapping &= inside

    keep = inside & ~overlapping
    # Collision: the same (column, frame) as the previous kept note (notes are in column, start order).
    kidx = np.flatnonzero(keep)
    key = cols[kidx] * (t_len + 1) + s_frame[kidx]
    dup = np.r_[False, key[1:] == key[:-1]] if len(kidx) else np.zeros(0, dtype=bool)
    collided_idx = kidx[dup]
    keep[collided_idx] = False

    c, f, so, e = cols[keep], s_frame[keep], s_off[keep], ends[keep]
    out[c, f] = 1.0
    out[k + c, f] = so.astype(np.float32)

    is_ln = ~np.isnan(e)
    e_frame, e_off = _frame_pos(np.where(is_ln, e, 0.0), frame_ms, offset_ms)
    cut = is_ln & (e_frame >= t_len)
    e_frame = np.where(cut, t_len - 1, e_frame)
    e_off = np.where(cut, 1.0, e_off)
    short = is_ln & (e_frame <= f)
    ln = is_ln & ~short
    c_ln, f_ln, ef_ln = c[ln], f[ln], e_frame[ln]
    if len(c_ln):
        # Holding frames f+1 .. e inclusive, one +1/-1 pair per long note and a running sum per column.
        diff = np.zeros((k, t_len + 1), dtype=np.int32)
        np.add.at(diff, (c_ln, f_ln + 1), 1)
        np.add.at(diff, (c_ln, ef_ln + 1), -1)
        out[2 * k : 3 * k] = (np.cumsum(diff[:, :t_len], axis=1) > 0).astype(np.float32)
        out[3 * k + c_ln, ef_ln] = e_off[ln].astype(np.float32)
    # Sub-frame long notes: the end offset goes into the start frame, unless an earlier long note of the
    # column ends in that frame (it is held there and owns the slot).
    c_sh, f_sh = c[short], f[short]
    free = (out[2 * k + c_sh, f_sh] == 0) & (out[3 * k + c_sh, f_sh] == 0)
    out[3 * k + c_sh[free], f_sh[free]] = np.maximum(e_off[short][free], so[short][free] + SHORT_LN_MIN).astype(
        np.float32
    )
    collapsed = np.zeros_like(short)
    collapsed[np.flatnonzero(short)[~free]] = True

    last_frame = -1
    if len(f):
        last_frame = int(f.max())
        if len(ef_ln):
            last_frame = max(last_frame, int(ef_ln.max()))
    stats = EncodeStats(
        n_notes=n,
        encoded=int(keep.sum()),
        outside=int((~inside).sum()),
        collided=len(collided_idx),
        overlapping=int(overlapping.sum()),
        ln_collapsed=int(collapsed.sum()),
        ln_cut=int((cut & ~collapsed).sum()),
        n_frames=t_len,
        last_frame=last_frame,
    )
    return out, stats


def encode(
    chart: ManiaChart,
    *,
    frame_ms: float = FRAME_MS,
    n_frames: int | None = None,
    offset_ms: float = 0.0,
) -> np.ndarray:
    """The ``(4*keys, T)`` float32 tensor of a chart (see the module docstring for the layout and losses)."""
    return encode_with_stats(chart, frame_ms=frame_ms, n_frames=n_frames, offset_ms=offset_ms)[0]


def valid_mask(
    chart: ManiaChart,
    *,
    frame_ms: float = FRAME_MS,
    n_frames: int | None = None,
    offset_ms: float = 0.0,
) -> np.ndarray:
    """Mug Diffusion's ``valid_flag``: (T,) float32, 1 for frames 0 .. the last frame carrying a note
    start or a long-note end in the window (the end of a long note cut at the window is the last frame)."""
    _check_frame_ms(frame_ms)
    t_len = n_frames_for(chart, frame_ms=frame_ms, offset_ms=offset_ms) if n_frames is None else int(n_frames)
    mask = np.zeros(t_len, dtype=np.float32)
    if chart.n_notes == 0 or t_len == 0:
        return mask
    s_frame, _ = _frame_pos(chart.starts, frame_ms, offset_ms)
    inside = (s_frame >= 0) & (s_frame < t_len)
    if not inside.any():
        return mask
    reach = np.where(np.isnan(chart.ends), chart.starts, chart.ends)[inside]
    r_frame, _ = _frame_pos(reach, frame_ms, offset_ms)
    last = min(int(r_frame.max()), t_len - 1)
    mask[: last + 1] = 1.0
    return mask


def valid_mask_from_tensor(tensor: Any, *, threshold: float = 0.5) -> np.ndarray:
    """(T,) float32 mask of frames 0 .. the last frame with is_start or is_holding above threshold."""
    arr = _to_numpy(tensor)
    k = arr.shape[0] // 4
    t_len = arr.shape[1]
    active = (arr[: k] > threshold).any(axis=0) | (arr[2 * k : 3 * k] > threshold).any(axis=0)
    mask = np.zeros(t_len, dtype=np.float32)
    hits = np.flatnonzero(active)
    if len(hits):
        mask[: hits[-1] + 1] = 1.0
    return mask


# ================================================================================== decoding
def _to_numpy(tensor: Any) -> np.ndarray:
    """A (C, T) float32 numpy array from a numpy array or a torch tensor (any device, grad or not)."""
    if hasattr(tensor, "detach") and hasattr(tensor, "cpu"):
        tensor = tensor.detach().cpu().float().numpy()
    arr = np.asarray(tensor, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] % 4:
        raise ValueError(f"expected a (4*keys, T) chart tensor, got shape {arr.shape}")
    return arr


def decode(
    tensor: Any,
    *,
    keys: int | None = None,
    frame_ms: float = FRAME_MS,
    offset_ms: float = 0.0,
    threshold: float = 0.5,
    from_logits: bool = False,
    meta: ChartMeta | None = None,
) -> ManiaChart:
    """The chart of a ``(4*K, T)`` tensor (numpy or torch); the inverse of :func:`encode`.

    Args:
        tensor: the tensor; with ``keys`` smaller than its ``C // 4`` it is read as padded (:func:`pad_keys`).
        keys: key count; default ``C // 4``.
        frame_ms, offset_ms: as given to :func:`encode`.
        threshold: is_start / is_holding are "on" above this.
        from_logits: is_start / is_holding are logits: "on" above 0 (``threshold`` is ignored). The offset
            channels are read in [0, 1] space either way, and clipped.
        meta: metadata of the chart returned.
    """
    _check_frame_ms(frame_ms)
    arr = _to_numpy(tensor)
    width = arr.shape[0] // 4
    k = width if keys is None else int(keys)
    if not MIN_KEYS <= k <= width:
        raise ChartError(f"cannot decode {k} keys from a tensor of {arr.shape[0]} channels")
    if k != width:
        arr = unpad_keys(arr, k)
    thr = 0.0 if from_logits else float(threshold)
    t_len = arr.shape[1]
    tp = t_len + 1  # each column gets one always-off pad frame, so runs never cross columns

    start = np.zeros((k, tp), dtype=bool)
    start[:, :t_len] = arr[:k] > thr
    hold = np.zeros((k, tp), dtype=bool)
    hold[:, :t_len] = arr[2 * k : 3 * k] > thr
    s_off = np.clip(arr[k : 2 * k], 0.0, 1.0).astype(np.float64)
    e_off = np.clip(arr[3 * k : 4 * k], 0.0, 1.0).astype(np.float64)

    cols, frames = np.nonzero(start)  # row-major: by column, then frame
    times = (frames + s_off[cols, frames]) * frame_ms + offset_ms
    ends = np.full(len(cols), np.nan)
    if len(cols):
        flat_start = cols * tp + frames
        hold_flat = hold.ravel()
        edges = np.diff(np.r_[0, hold_flat.astype(np.int8), 0])
        run_begin = np.flatnonzero(edges == 1)
        run_stop = np.flatnonzero(edges == -1) - 1  # inclusive
        after = flat_start + 1  # the frame after each start (never past the column's pad frame)
        is_ln = hold_flat[after]
        if is_ln.any():
            run = np.searchsorted(run_begin, after[is_ln], side="right") - 1
            run_end = run_stop[run]
            nxt = np.r_[flat_start[1:], np.iinfo(np.int64).max]  # next start, same column or a later one
            end_flat = np.minimum(run_end, nxt[is_ln])
            c_ln = cols[is_ln]
            ef = end_flat - c_ln * tp
            end_t = (ef + e_off[c_ln, ef]) * frame_ms + offset_ms
            # An end sharing its frame with the next start of the column stays no later than that start.
            nxt_same = np.r_[(cols[1:] == cols[:-1]), False][is_ln]
            nxt_time = np.r_[times[1:], np.inf][is_ln]
            end_t = np.where(nxt_same, np.minimum(end_t, nxt_time), end_t)
            ends[is_ln] = end_t
        # Sub-frame long notes: no held frame after the start, none at it, the end offset after the start offset.
        own = hold_flat[flat_start]
        f_off = e_off[cols, frames]
        sub = ~is_ln & ~own & (f_off > s_off[cols, frames] + SHORT_LN_MIN)
        ends[sub] = (frames[sub] + f_off[sub]) * frame_ms + offset_ms
    return ManiaChart(keys=k, starts=times, ends=ends, columns=cols.astype(np.int64), meta=meta or ChartMeta())


# ================================================================================== key padding
def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _blocks(x: Any) -> int:
    c = x.shape[-2]
    if c % 4:
        raise ValueError(f"a chart tensor has 4*K channels on axis -2, got {c}")
    return c // 4


def pad_keys(tensor: Any, keys: int, to: int = MAX_KEYS) -> Any:
    """``(..., 4*keys, T)`` -> ``(..., 4*to, T)``: each of the four blocks widened to ``to`` rows, the new
    rows zero (numpy or torch in, same type out)."""
    if _blocks(tensor) != keys:
        raise ValueError(f"tensor has {tensor.shape[-2]} channels, not 4*{keys}")
    if not keys <= to:
        raise ValueError(f"cannot pad {keys} keys to {to}")
    lead, t_len = tuple(tensor.shape[:-2]), tensor.shape[-1]
    if _is_torch(tensor):
        out = tensor.new_zeros((*lead, 4, to, t_len))
    else:
        out = np.zeros((*lead, 4, to, t_len), dtype=tensor.dtype)
    out[..., :keys, :] = tensor.reshape(*lead, 4, keys, t_len)
    return out.reshape(*lead, 4 * to, t_len)


def unpad_keys(tensor: Any, keys: int) -> Any:
    """``(..., 4*W, T)`` -> ``(..., 4*keys, T)``: the first ``keys`` rows of each block (inverse of
    :func:`pad_keys`)."""
    width = _blocks(tensor)
    if not keys <= width:
        raise ValueError(f"cannot take {keys} keys out of {width}")
    lead, t_len = tuple(tensor.shape[:-2]), tensor.shape[-1]
    out = tensor.reshape(*lead, 4, width, t_len)[..., :keys, :]
    return out.reshape(*lead, 4 * keys, t_len)


# ================================================================================== column augmentations
def _gather_columns(tensor: Any, keys: int, src: np.ndarray) -> Any:
    """Row ``j`` of every block takes input row ``src[j]`` (j < keys); padded rows stay where they are."""
    width = _blocks(tensor)
    if not MIN_KEYS <= keys <= width:
        raise ValueError(f"{keys} keys do not fit a tensor of {width} columns")
    row = np.arange(width)
    row[:keys] = src
    idx = (np.arange(4)[:, None] * width + row[None, :]).reshape(-1)
    if _is_torch(tensor):
        import torch  # lazy: torch costs ~1 s of import; numpy tensors never need it

        return tensor.index_select(-2, torch.as_tensor(idx, device=tensor.device))
    return np.take(tensor, idx, axis=-2)


def mirror(tensor: Any, keys: int) -> Any:
    """Columns reversed (column c -> keys-1-c), on ``(..., 4*W, T)`` with ``W >= keys`` (padded or not)."""
    return _gather_columns(tensor, keys, np.arange(keys)[::-1])


def permute_columns(tensor: Any, keys: int, perm: Any) -> Any:
    """Column ``c``'s notes moved to column ``perm[c]``; ``perm`` a permutation of ``range(keys)``."""
    p = np.asarray(perm, dtype=np.int64).reshape(-1)
    if len(p) != keys or not np.array_equal(np.sort(p), np.arange(keys)):
        raise ValueError(f"perm must be a permutation of range({keys}), got {p.tolist()}")
    return _gather_columns(tensor, keys, np.argsort(p))
