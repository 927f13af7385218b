"""The osu! beatmap model: a whole .osu file as objects (any mode), with the typed accessors every reader needs.

The data lives here, beside :class:`~beatforge.charts.chart.ManiaChart`, and the text lives in
:mod:`beatforge.formats.osu` (parse_osu / write_osu), which re-exports these names; so ``charts`` (the standard
hit-object sequence) can use the model without importing the file formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from beatforge.errors import ChartError

# Hit-object type bits.
CIRCLE, SLIDER, NEW_COMBO, SPINNER, HOLD = 1, 2, 4, 8, 128
COMBO_SKIP_MASK = 0b0111_0000

MODES = {0: "standard", 1: "taiko", 2: "catch", 3: "mania"}
MODE_IDS = {v: k for k, v in MODES.items()}


@dataclass
class OsuTimingPoint:
    """One line of [TimingPoints]. ``uninherited`` = a red line (beat_length in ms per beat);
    an inherited (green) line has a negative beat_length, -100 / slider-velocity multiplier."""

    time: float
    beat_length: float
    meter: int = 4
    sample_set: int = 0
    sample_index: int = 0
    volume: int = 100
    uninherited: bool = True
    effects: int = 0


@dataclass
class HitObject:
    """One line of [HitObjects]. Mode-specific fields are None where they do not apply.

    ``hit_sample`` and ``edge_*`` are kept as the raw strings: they only matter for hit sounds,
    which beatforge never edits, and keeping them raw makes the round trip exact.
    """

    x: float
    y: float
    time: float
    type: int
    hitsound: int = 0
    # slider
    curve_type: str | None = None
    curve_points: list[tuple[float, float]] = field(default_factory=list)
    curve_raw: str | None = None  # the path field as written, for lazer's per-segment types
    slides: int | None = None
    length: float | None = None
    edge_sounds: str | None = None
    edge_sets: str | None = None
    # spinner / mania hold
    end_time: float | None = None
    hit_sample: str | None = None

    @property
    def is_circle(self) -> bool:
        return bool(self.type & CIRCLE)

    @property
    def is_slider(self) -> bool:
        return bool(self.type & SLIDER)

    @property
    def is_spinner(self) -> bool:
        return bool(self.type & SPINNER)

    @property
    def is_hold(self) -> bool:
        return bool(self.type & HOLD)

    @property
    def new_combo(self) -> bool:
        return bool(self.type & NEW_COMBO)


@dataclass
class Beatmap:
    """A whole .osu file. Key-value sections are kept as ordered string dicts so nothing is lost."""

    format_version: int = 14
    general: dict[str, str] = field(default_factory=dict)
    editor: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    difficulty: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    timing_points: list[OsuTimingPoint] = field(default_factory=list)
    colours: dict[str, str] = field(default_factory=dict)
    hit_objects: list[HitObject] = field(default_factory=list)
    extra_sections: dict[str, list[str]] = field(default_factory=dict)
    path: str = ""

    # ------------------------------------------------------------------ typed accessors
    @property
    def mode(self) -> int:
        return parse_int(self.general.get("Mode", "0"), "Mode", self.path)

    @property
    def mode_name(self) -> str:
        return MODES.get(self.mode, f"mode {self.mode}")

    def diff(self, key: str, default: float) -> float:
        value = self.difficulty.get(key)
        if value is None:
            # Before v8, ApproachRate did not exist and followed OverallDifficulty.
            if key == "ApproachRate" and "OverallDifficulty" in self.difficulty:
                return self.diff("OverallDifficulty", default)
            return default
        return parse_float(value, key, self.path)

    @property
    def circle_size(self) -> float:
        return self.diff("CircleSize", 5.0)

    @property
    def slider_multiplier(self) -> float:
        return self.diff("SliderMultiplier", 1.4)

    @property
    def mania_keys(self) -> int:
        """osu!mania key count: CircleSize rounded (osu! itself rounds it)."""
        return int(round(self.circle_size))

    @property
    def audio_filename(self) -> str:
        return self.general.get("AudioFilename", "").strip()

    def red_lines(self) -> list[OsuTimingPoint]:
        return [tp for tp in self.timing_points if tp.uninherited]

    def beat_length_at(self, time: float) -> float:
        """ms per beat of the red line in force at ``time`` (the first one before the first line)."""
        reds = self.red_lines()
        if not reds:
            return 500.0
        current = reds[0]
        for tp in reds:
            if tp.time <= time:
                current = tp
            else:
                break
        return current.beat_length

    def slider_velocity_at(self, time: float) -> float:
        """The green-line SV multiplier at ``time`` (1.0 under a red line), clamped like osu! (0.1-10)."""
        sv = 1.0
        for tp in self.timing_points:
            if tp.time > time:
                break
            if tp.uninherited:
                sv = 1.0
            elif tp.beat_length < 0:
                sv = min(max(-100.0 / tp.beat_length, 0.1), 10.0)
        return sv


def parse_float(text: str, what: str, path: str) -> float:
    """A finite number of an .osu field (ChartError naming ``what`` and the file otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ChartError(f"{path}: bad number '{text.strip()[:30]}' in {what}") from None
    if not math.isfinite(value):
        raise ChartError(f"{path}: non-finite number in {what}")
    return value


def parse_int(text: str, what: str, path: str) -> int:
    """An integer field, written as any number (osu! truncates, e.g. ``1.0``)."""
    value = parse_float(text, what, path)
    return int(value)
