"""``beatforge remap`` / ``beatforge.remap_standard``: an osu!standard beatmap and a :class:`RemapRequest` in, the
same map with new hit-object positions out (same rhythm, timing and slider timing).

The reference map's hit-object sequence (:mod:`beatforge.charts.standard_sequence`) gives every token's time, kind
and spacing. (1) learned: the DiT samples positions for all tokens at once, in the style of a training beatmap
(:mod:`.learned.dit_positions`); (2) rules: inside that loop, each step's predicted positions are projected onto the
map's spacing (:func:`~.rules.spacing.keep_spacing`); (3) rules: the final positions are projected once more,
slider-aware (:func:`~.rules.spacing.keep_spacing_with_sliders`), and every slider is scaled to its required length
and turned to fit the 512x384 playfield (:func:`~.rules.sliders.fit_sliders`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

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


def remap_standard(beatmap: str | Path, request: RemapRequest | None = None, *, progress=None) -> Beatmap:
    """A new osu!standard Beatmap: ``beatmap``'s rhythm and timing, positions sampled by the request's DiT (default:
    the shipped ``models/standard``), its difficulty name marked as a beatforge remap and its BeatmapID cleared (it
    is a new map).

    Args:
        beatmap: an osu!standard .osu file.
        request: what to make (default: ``RemapRequest()``: no style, 50 steps, seed 0, spacing kept).
        progress: called with (step, steps) after each sampler step.

    Raises:
        BeatforgeError: not an osu!standard map, no hit objects, not a DiT checkpoint, an unknown style id.
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
    ckpt = request.model or DEFAULT_STANDARD_MODEL
    model, meta = load_dit(ckpt)
    label = style_label(request.style_id, style_index(ckpt, meta, request.beatmap_idx), model.cfg.num_classes,
                        str(ckpt))
    dist = token_arrays(seq)["dist"]
    pos = sample_positions(model, seq, label=label, schedule=dit_schedule(meta), guidance=request.guidance,
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


__all__ = ["remap_standard"]
