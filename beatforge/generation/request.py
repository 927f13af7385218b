"""What a user asks of a generation job, validated once: one frozen dataclass per job, holding every default.

The CLI, the web page, the root scripts and the Python API each build one of these and call the same function
(:func:`beatforge.generation.mania.generate_mania`, :func:`beatforge.generation.remap.remap_standard`), so a
default or an allowed range is written here and nowhere else. Errors name the CLI flag and the allowed values,
because the CLI and the page show them to users as they are.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beatforge.constants import (
    BPM_RANGE,
    DEVICES,
    GUIDANCE_RANGE,
    LN_RATIO_RANGE,
    MAP_TYPES,
    MAX_CHARTS_PER_RUN,
    MAX_KEYS,
    MAX_OFFSET_MS,
    MAX_STEPS,
    MIN_JACK_MS_RANGE,
    MIN_KEYS,
    MSD_RANGE,
    PATTERN_WAYS,
    RHYTHM_SOURCES,
    SKILLSETS,
    STAR_RATING_RANGE,
    STYLES,
)
from beatforge.errors import BeatforgeError
from beatforge.fileio import is_regular_file


def _within(value: float, lo_hi: tuple[float, float]) -> bool:
    """``lo <= value <= hi``; NaN is never within."""
    return lo_hi[0] <= value <= lo_hi[1]


@dataclass(frozen=True)
class ManiaRequest:
    """An osu!mania generation job: ``count`` charts for each star rating in ``star_ratings``, sampled in one batch.

    Attributes:
        keys: key count; one the model was trained for.
        star_ratings: requested osu! star ratings (rosu-pp), within :data:`~beatforge.constants.STAR_RATING_RANGE`.
        count: charts per star rating.
        steps, guidance: sampler steps and classifier-free guidance scale (``--steps``, ``--cfg``).
        seed: random seed (same seed, same charts); None draws one.
        ln_ratio: share of long notes, 0-1; ``map_type``: ``rice``, ``hybrid`` or ``ln`` (a typical share).
        style: ``ranked``, ``loved`` or ``graveyard``: the rank status of the charts to imitate (Mug Diffusion's
            style; the model's ``rank_status`` feature), or None for any.
        patterns: ``{"jumpstream": "more", "jackspeed": "less"}``.
        msd: skillset ratings (MSD scale) to ask for, ``{"stream": 23}``; ``overall`` is the overall rating.
        bpm, offset: the song's timing; ``timing_from``: take the timing points of this chart; neither: estimate.
        min_jack_ms: shortest gap between two notes of one column.
        snap: snap notes to the beat grid.
        fit_star_rating: search the note density for the requested star rating (else: the rhythm model's density
            for it).
        criteria: make each chart meet the osu!mania Ranking Criteria of the level its requested star rating
            falls in (``--criteria``, the default; ``--no-criteria`` turns it off): the level's snaps, runs, chord
            sizes, jacks and long notes (:mod:`beatforge.generation.rules.ranking`), with the star-rating fit
            kept in that level's band.
        title, artist: the charts' metadata (default: from the file name or song.ini).
        model, rhythm_model, selector_model: model files or directories (default: the shipped models).
        rhythm: where note times come from (``--rhythm``): ``network`` (the rhythm network and the beat-grid
            rules), ``selector`` (the note selector over pretrained onset and beat activations) or ``diffusion``
            (the latent diffusion model's own notes, Mug Diffusion's design).
        device: where the networks run (``--device``): ``auto`` (the GPU when there is one), ``cpu``, ``cuda``,
            ``mps``.
    """

    keys: int = 4
    star_ratings: tuple[float, ...] = (4.0,)
    count: int = 1
    # 20 DPM-Solver++ steps: the sampler has converged by then (on a 3-minute song the decoded chart tensor at 15,
    # 20 and 30 steps is 0.11-0.20 RMS from the 50-step one, against 4.5 between two seeds; 96-98 % of note columns
    # agree with 50 steps, 26 % between seeds), and each step costs ~55 ms of a 2-core CPU's 6-second budget
    steps: int = 20
    guidance: float = 5.0
    seed: int | None = None
    ln_ratio: float | None = None
    map_type: str | None = None
    style: str | None = None
    patterns: Mapping[str, str] = field(default_factory=dict)
    msd: Mapping[str, float] = field(default_factory=dict)
    bpm: float | None = None
    offset: float | None = None
    timing_from: Path | None = None
    min_jack_ms: float = 90.0
    snap: bool = True
    fit_star_rating: bool = True
    criteria: bool = True
    title: str | None = None
    artist: str | None = None
    model: Path | None = None
    rhythm_model: Path | None = None
    selector_model: Path | None = None
    rhythm: str = "network"
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_types(self, ints={"keys": "--keys", "count": "--count", "steps": "--steps", "seed": "--seed"},
                     reals={"guidance": "--cfg", "ln_ratio": "--ln-ratio", "bpm": "--bpm", "offset": "--offset",
                            "min_jack_ms": "--min-jack-ms"},
                     texts={"map_type": "--map-type", "style": "--style", "title": "--title", "artist": "--artist",
                            "rhythm": "--rhythm", "device": "--device"},
                     paths={"timing_from": "--timing-from", "model": "--ckpt", "rhythm_model": "--rhythm-ckpt",
                            "selector_model": "--selector-ckpt"})
        stars = self.star_ratings
        try:
            stars = tuple(float(s) for s in (stars if isinstance(stars, (list, tuple)) else [stars]))
        except (TypeError, ValueError):
            raise BeatforgeError(f"--sr {self.star_ratings!r}: star ratings are numbers") from None
        object.__setattr__(self, "star_ratings", stars)
        for name in ("patterns", "msd"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise BeatforgeError(f"{name}: a mapping of skillset -> value, not {type(value).__name__}")
        object.__setattr__(self, "patterns", dict(self.patterns or {}))
        object.__setattr__(self, "msd", dict(self.msd or {}))
        self._validate()

    def _validate(self) -> None:
        if not MIN_KEYS <= self.keys <= MAX_KEYS:
            raise BeatforgeError(f"--keys {self.keys}: must be {MIN_KEYS}-{MAX_KEYS}")
        for s in self.star_ratings:
            if not _within(s, STAR_RATING_RANGE):
                raise BeatforgeError(f"--sr {s:g}: star rating must be between {STAR_RATING_RANGE[0]:g} and "
                                     f"{STAR_RATING_RANGE[1]:g}")
        if not 1 <= self.count * len(self.star_ratings) <= MAX_CHARTS_PER_RUN:
            raise BeatforgeError(f"--count {self.count} x {len(self.star_ratings)} star ratings: at most "
                                 f"{MAX_CHARTS_PER_RUN} charts per run")
        if not 1 <= self.steps <= MAX_STEPS:
            raise BeatforgeError(f"--steps {self.steps}: must be 1-{MAX_STEPS}")
        if not _within(self.guidance, GUIDANCE_RANGE):
            raise BeatforgeError(f"--cfg {self.guidance:g}: must be between {GUIDANCE_RANGE[0]:g} and "
                                 f"{GUIDANCE_RANGE[1]:g}")
        if self.ln_ratio is not None and not _within(self.ln_ratio, LN_RATIO_RANGE):
            raise BeatforgeError(f"--ln-ratio {self.ln_ratio:g}: must be between 0 and 1")
        if self.map_type is not None and self.map_type not in MAP_TYPES:
            raise BeatforgeError(f"--map-type {self.map_type}: must be {', '.join(MAP_TYPES[:-1])} or "
                                 f"{MAP_TYPES[-1]}")
        if self.style is not None and self.style not in STYLES:
            raise BeatforgeError(f"--style {self.style}: must be one of {', '.join(STYLES)}")
        for name, way in self.patterns.items():
            if name not in SKILLSETS:
                raise BeatforgeError(f"--pattern {name}: unknown skillset (known: {', '.join(SKILLSETS)})")
            if way not in PATTERN_WAYS:
                raise BeatforgeError(f"--pattern {name}={way}: must be {' or '.join(PATTERN_WAYS)}")
        for name, v in self.msd.items():
            if name not in (*SKILLSETS, "overall"):
                raise BeatforgeError(f"--msd {name}: unknown skillset (known: overall, {', '.join(SKILLSETS)})")
            if not _within(v, MSD_RANGE):
                raise BeatforgeError(f"--msd {name}={v:g}: must be between {MSD_RANGE[0]:g} and {MSD_RANGE[1]:g}")
        if not _within(self.min_jack_ms, MIN_JACK_MS_RANGE):
            raise BeatforgeError(f"--min-jack-ms {self.min_jack_ms:g}: must be between {MIN_JACK_MS_RANGE[0]:g} "
                                 f"and {MIN_JACK_MS_RANGE[1]:g}")
        if self.timing_from is not None and self.bpm is not None:
            raise BeatforgeError("--timing-from and --bpm exclude each other")
        if self.bpm is not None and not _within(self.bpm, BPM_RANGE):
            raise BeatforgeError(f"--bpm {self.bpm:g}: must be between {BPM_RANGE[0]:g} and {BPM_RANGE[1]:g}")
        if self.offset is not None and self.bpm is None and self.timing_from is None:
            raise BeatforgeError("--offset needs --bpm")
        _check_device(self.device)
        if self.rhythm not in RHYTHM_SOURCES:
            raise BeatforgeError(f"--rhythm {self.rhythm}: must be one of {', '.join(RHYTHM_SOURCES)}")
        if self.offset is not None and not (math.isfinite(self.offset) and abs(self.offset) <= MAX_OFFSET_MS):
            raise BeatforgeError(f"--offset {self.offset}: must be milliseconds between -{MAX_OFFSET_MS:g} and "
                                 f"{MAX_OFFSET_MS:g}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise BeatforgeError(f"--seed {self.seed}: must be from 0 to 2**63 - 1")
        if self.timing_from is not None and not is_regular_file(self.timing_from):
            raise BeatforgeError(f"--timing-from {self.timing_from}: not a chart file (missing, a folder, a pipe or a "
                                 "device)")

    @property
    def n_charts(self) -> int:
        return self.count * len(self.star_ratings)

    def prompts(self) -> list[dict[str, Any]]:
        """One prompt per chart, in output order (``count`` per star rating): the model's feature names and values.
        ``sr`` is the model's name for the star-rating feature."""
        return [self.prompt(s) for s in self.star_ratings for _ in range(self.count)]

    def prompt(self, star_rating: float) -> dict[str, Any]:
        p: dict[str, Any] = {"sr": star_rating}
        if self.style is not None:  # Mug Diffusion's "style": the rank status of the charts the model should imitate
            p["rank_status"] = self.style
        if self.ln_ratio is not None:
            p["ln_ratio"] = self.ln_ratio
        if self.map_type is not None:
            p["map_type"] = self.map_type
        for name, way in self.patterns.items():
            p[f"{name}_flag"] = way == "more"
        for name, v in self.msd.items():
            p[name] = float(v)
        return p


def _check_device(device: str) -> None:
    if device not in DEVICES:
        raise BeatforgeError(f"--device {device}: must be one of {', '.join(DEVICES)}")


def _check_types(req, *, ints: dict[str, str], reals: dict[str, str], texts: dict[str, str],
                 paths: dict[str, str]) -> None:
    """A request built from Python (the API, the page) with a value of the wrong kind (``keys='4'``) fails here with
    the flag's name, as the CLI's own checks do, not with a TypeError deep inside."""
    for name, flag in ints.items():
        v = getattr(req, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise BeatforgeError(f"{flag} {v!r}: must be a whole number")
    for name, flag in reals.items():
        v = getattr(req, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            raise BeatforgeError(f"{flag} {v!r}: must be a number")
    for name, flag in texts.items():
        v = getattr(req, name)
        if v is not None and not isinstance(v, str):
            raise BeatforgeError(f"{flag} {v!r}: must be text")
    for name, flag in paths.items():
        v = getattr(req, name)
        if v is not None and not isinstance(v, (str, os.PathLike)):
            raise BeatforgeError(f"{flag} {v!r}: must be a path")


@dataclass(frozen=True)
class RemapRequest:
    """An osu!standard remap job: the beatmap's rhythm, new positions from the DiT
    (:func:`beatforge.generation.remap.remap_standard`).

    Attributes:
        model: a DiT checkpoint directory (``model.safetensors`` + ``model.json``, ``--ckpt``; default: the
            shipped ``models/standard``).
        style_id: osu! BeatmapID of a training map whose style to use (``beatforge styles``), or None.
        guidance: classifier-free guidance scale towards the style (``--cfg-scale``; 1 = none).
        steps: sampler steps (``--steps``; sample.py's ``--num-sampling-steps``).
        seed: random seed.
        beatmap_idx: beatmap_idx.json (default: the one in the model directory).
        spacing: project positions onto the map's spacing (``--free-spacing`` turns it off).
        device: where the DiT runs (``--device``): ``auto`` (the GPU when there is one), ``cpu``, ``cuda``, ``mps``.
    """

    model: Path | None = None
    style_id: str | None = None
    guidance: float = 1.0
    steps: int = 50
    seed: int = 0
    beatmap_idx: Path | None = None
    spacing: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_types(self, ints={"steps": "--steps", "seed": "--seed"}, reals={"guidance": "--cfg-scale"},
                     texts={"device": "--device"}, paths={"model": "--ckpt", "beatmap_idx": "--beatmap-idx"})
        if not 0 <= self.seed < 2**63:
            raise BeatforgeError(f"--seed {self.seed}: must be from 0 to 2**63 - 1")
        _check_device(self.device)
        if self.style_id is not None:
            object.__setattr__(self, "style_id", str(self.style_id))
        for name in ("model", "beatmap_idx"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if not 1 <= self.steps <= MAX_STEPS:
            raise BeatforgeError(f"--steps {self.steps}: must be 1-{MAX_STEPS}")
        if not _within(self.guidance, GUIDANCE_RANGE):
            raise BeatforgeError(f"--cfg-scale {self.guidance:g}: must be between {GUIDANCE_RANGE[0]:g} and "
                                 f"{GUIDANCE_RANGE[1]:g}")


__all__ = ["ManiaRequest", "RemapRequest"]
