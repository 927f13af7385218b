"""``beatforge remap`` / ``beatforge.remap_standard``: an osu!standard beatmap and a :class:`RemapRequest` in, the
same map with new hit-object positions out (same rhythm, timing and slider timing).

The reference map's hit-object sequence (:mod:`beatforge.charts.standard_sequence`) gives every token's time, kind
and spacing. (1) learned: the DiT samples positions for all tokens at once, in the style of a training beatmap
(:mod:`.learned.dit_positions`); (2) rules: inside that loop, each step's predicted positions are projected onto the
map's spacing (:func:`~.rules.spacing.keep_spacing`); (3) rules: the final positions are projected once more,
slider-aware (:func:`~.rules.spacing.keep_spacing_with_sliders`), and every slider is scaled to its required length
and turned to fit the 512x384 playfield (:func:`~.rules.sliders.fit_sliders`).

The DiT runs on ``request.device`` (``--device``); :class:`RemapModel` loads it once where many remaps follow (the
page, benchmarks). :func:`progress_bar` is the CLI's and sample.py's bar over the sampler steps.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from beatforge.charts.standard_sequence import X, Y, decode, encode
from beatforge.checkpoints import DEFAULT_STANDARD_MODEL, load_dit, style_index, style_label
from beatforge.constants import MAX_REMAP_OBJECTS, PLAYFIELD
from beatforge.data.standard_dataset import token_arrays
from beatforge.errors import BeatforgeError
from beatforge.formats.osu import Beatmap, parse_osu
from beatforge.generation.learned.dit_positions import dit_schedule, sample_positions
from beatforge.generation.request import RemapRequest
from beatforge.generation.rules.sliders import fit_sliders
from beatforge.generation.rules.spacing import keep_spacing, keep_spacing_with_sliders
from beatforge.models.dit import DiT
from beatforge.runtime import resolve_device


@dataclass(frozen=True)
class RemapModel:
    """A DiT checkpoint loaded once, for many remaps: ``remap_standard(path, request, model=RemapModel.load())``.

    ``net`` is the EMA DiT (eval mode) on its device, ``meta`` its ``model.json``, ``path`` the checkpoint
    directory (its ``beatmap_idx.json`` names the styles)."""

    net: DiT
    meta: dict
    path: Path

    @classmethod
    def load(cls, request: RemapRequest | None = None) -> RemapModel:
        """The request's checkpoint (``request.model``, default: the shipped ``models/standard``) on the request's
        device (``request.device``; see :func:`beatforge.runtime.resolve_device`).

        Raises:
            BeatforgeError: not a DiT checkpoint; a device asked for by name that is not there."""
        request = request or RemapRequest()
        path = Path(request.model or DEFAULT_STANDARD_MODEL)
        device = resolve_device(request.device)
        net, meta = load_dit(path, device)
        return cls(net, meta, path.parent if path.is_file() else path)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


def remap_standard(beatmap: str | Path, request: RemapRequest | None = None, *, model: RemapModel | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Beatmap:
    """A new osu!standard Beatmap: ``beatmap``'s rhythm and timing, positions sampled by the request's DiT (default:
    the shipped ``models/standard``), its difficulty name marked as a beatforge remap and its BeatmapID cleared (it
    is a new map).

    Args:
        beatmap: an osu!standard .osu file.
        request: what to make (default: ``RemapRequest()``: no style, 50 steps, seed 0, spacing kept, the DiT on
            ``device="auto"``).
        model: the DiT already loaded (:meth:`RemapModel.load`), when remapping many times; it samples on its own
            device (``request.device`` is then not read), and ``request.model``, where given, must name its
            checkpoint. Default: load ``request.model`` onto ``request.device``.
        progress: called with (step, steps) after each sampler step (:func:`progress_bar` draws a bar).

    The same request gives the same map with a preloaded model as without, and (up to the devices' rounding) on
    every device: the noise is drawn on the CPU.

    Raises:
        BeatforgeError: not an osu!standard map, no hit objects, not a DiT checkpoint, an unknown style id, a device
            that is not there, a preloaded model other than ``request.model``.
    """
    request = request or RemapRequest()
    bm = parse_osu(Path(beatmap))
    if bm.mode != 0:
        raise BeatforgeError(f"{beatmap}: an osu!{bm.mode_name} beatmap; remapping needs osu!standard")
    if len(bm.hit_objects) > MAX_REMAP_OBJECTS:
        raise BeatforgeError(f"{beatmap}: {len(bm.hit_objects)} hit objects; one remap takes at most "
                             f"{MAX_REMAP_OBJECTS}")
    seq = encode(bm)
    if len(seq) == 0:
        raise BeatforgeError(f"{beatmap}: the beatmap has no hit objects")
    if model is None:
        model = RemapModel.load(request)
    elif request.model is not None and _same_dir(request.model) != _same_dir(model.path):
        raise BeatforgeError(f"--ckpt {request.model}: the preloaded model is {model.path}; load this checkpoint "
                             "or leave the request's model unset")
    ckpt, meta = model.path, model.meta
    label = style_label(request.style_id, style_index(ckpt, meta, request.beatmap_idx), model.net.cfg.num_classes,
                        str(ckpt))
    dist = token_arrays(seq)["dist"]
    pos = sample_positions(model.net, seq, label=label, schedule=dit_schedule(meta), guidance=request.guidance,
                           steps=request.steps, seed=request.seed, window=int(meta.get("seq_len", 128)),
                           project=(lambda p: keep_spacing(p, dist)) if request.spacing else None, progress=progress)
    new = seq.copy()
    new[:, [X, Y]] = keep_spacing_with_sliders(pos, seq, dist) if request.spacing else np.clip(pos, 0.0, PLAYFIELD)
    # also after the slider-aware projection: a second scaling pass takes the last few hundredths of a pixel off
    # (the curve's polyline length is not exactly linear in the scale)
    new = fit_sliders(new)
    out = copy.deepcopy(bm)
    out.hit_objects = decode(new, template=bm)
    style = request.style_id if request.style_id is not None else "no style"
    out.metadata["Version"] = f"{bm.metadata.get('Version', '')} (beatforge remap, {style})"
    out.metadata["BeatmapID"] = "0"
    return out


def _same_dir(path: str | Path) -> Path:
    """A checkpoint path as its directory, resolved (a checkpoint is named by its directory or a file in it)."""
    p = Path(path).resolve()
    return p.parent if p.is_file() else p


@contextmanager
def progress_bar(desc: str = "remap") -> Iterator[Callable[[int, int], None]]:
    """A ``progress`` callback for :func:`remap_standard` drawing a tqdm bar of the sampler steps on stderr (as
    ``beatforge generate``'s). The bar starts at the first step, so an error before sampling prints only its line;
    it is closed on leaving the block."""
    bar = None

    def update(step: int, steps: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=steps, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)
        bar.update(step - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


__all__ = ["RemapModel", "progress_bar", "remap_standard"]
