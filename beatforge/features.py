"""Prompt features: what a chart is like (star rating, skillsets, LN ratio, key count ...) as discrete tokens.

The feature table is data (``configs/mug/mania_beatmap_features.yaml``). Every feature has its own slots in one
shared embedding table, and slot 0 of each feature means "unspecified". Mug Diffusion bucketed a numeric value
as ``int((v - min) / interval) + 1`` with ``ceil((max - min) / interval) + 1`` slots, so ``v = max`` (SR 8, LN
ratio 1.0, MSD 35) landed in the *next* feature's first slot; here a feature has ``round((max - min) /
interval) + 1`` value slots and values are clamped into them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from beatforge.analysis.skillsets import pattern_flags
from beatforge.constants import SKILLSETS
from beatforge.errors import BeatforgeError


class FeatureError(BeatforgeError):
    """A bad feature table, or a value a feature cannot take."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: str  # numeric | bool | category
    min: float = 0.0
    max: float = 1.0
    interval: float = 1.0
    values: tuple[Any, ...] = ()
    dropout_p: float | None = None  # None: the data config's feature_dropout_p

    @property
    def n_values(self) -> int:
        if self.type == "numeric":
            return int(round((self.max - self.min) / self.interval)) + 1
        if self.type == "bool":
            return 2
        return len(self.values)

    def local_id(self, value: Any) -> int:
        """1-based slot of ``value`` (0 = unspecified)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return 0
        if self.type == "numeric":
            v = min(max(float(value), self.min), self.max)
            return int(math.floor((v - self.min) / self.interval + 0.5)) + 1
        if self.type == "bool":
            return 2 if bool(value) else 1
        key = _norm(value)
        for i, allowed in enumerate(self.values):
            if _norm(allowed) == key:
                return i + 1
        raise FeatureError(
            f"feature '{self.name}': unknown value {value!r} (allowed: {', '.join(map(str, self.values))})"
        )

    def value_of(self, local: int) -> Any:
        """The value a slot stands for (its centre, for numeric features); None for 0."""
        if local == 0:
            return None
        if self.type == "numeric":
            return self.min + (local - 1) * self.interval
        if self.type == "bool":
            return local == 2
        return self.values[local - 1]


def _norm(value: Any) -> str:
    return str(value).strip().lower()


class FeatureTable:
    """The features of a model, with their offsets in the shared embedding table."""

    def __init__(self, features: list[Feature]) -> None:
        if not features:
            raise FeatureError("the feature table is empty")
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise FeatureError("the feature table names a feature twice")
        self.features = features
        sizes = [f.n_values + 1 for f in features]
        self.offsets = np.cumsum([0] + sizes[:-1]).astype(np.int64)
        self.vocab_size = int(sum(sizes))

    @classmethod
    def from_yaml(cls, path: str | Path) -> FeatureTable:
        p = Path(path)
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise FeatureError(f"feature table {p}: cannot read ({exc})") from None
        return cls.from_list((doc or {}).get("features", []), where=str(p))

    @classmethod
    def from_list(cls, items: list[dict], where: str = "feature table") -> FeatureTable:
        out = []
        allowed = {"name", "type", "min", "max", "interval", "values", "dropout_p"}
        for i, item in enumerate(items):
            unknown = set(item) - allowed
            if unknown:
                raise FeatureError(f"{where}: feature {i} has unknown key '{sorted(unknown)[0]}'")
            kind = item.get("type")
            if kind not in ("numeric", "bool", "category"):
                raise FeatureError(f"{where}: feature '{item.get('name')}' has type {kind!r} (numeric, bool, category)")
            f = Feature(
                name=str(item["name"]),
                type=kind,
                min=float(item.get("min", 0.0)),
                max=float(item.get("max", 1.0)),
                interval=float(item.get("interval", 1.0)),
                values=tuple(item.get("values", ())),
                dropout_p=item.get("dropout_p"),
            )
            if kind == "numeric" and not (f.interval > 0 and f.max > f.min):
                raise FeatureError(f"{where}: feature '{f.name}' needs min < max and interval > 0")
            if kind == "category" and not f.values:
                raise FeatureError(f"{where}: feature '{f.name}' needs values")
            out.append(f)
        return cls(out)

    # ------------------------------------------------------------------------------------ encoding
    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        """(F,) int64 ids into the shared table. Missing names and None are "unspecified"."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise FeatureError(f"unknown feature '{sorted(unknown)[0]}' (known: {', '.join(self.names)})")
        local = [f.local_id(values.get(f.name)) for f in self.features]
        return self.offsets + np.asarray(local, dtype=np.int64)

    def null(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The classifier-free-guidance null prompt: every feature unspecified, except those that are never
        dropped (``dropout_p: 0``, e.g. the key count), which keep their value from ``ids`` when given."""
        if ids is None:
            return self.offsets.copy()
        keep = np.array([f.dropout_p == 0 for f in self.features])
        return np.where(keep, ids, self.offsets)

    def drop(self, ids: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        """Each feature independently set to unspecified with its own dropout_p, else ``p``."""
        probs = np.array([p if f.dropout_p is None else f.dropout_p for f in self.features])
        mask = rng.random(len(self.features)) < probs
        return np.where(mask, self.offsets, ids)

    def decode(self, ids: np.ndarray) -> dict[str, Any]:
        return {f.name: f.value_of(int(i - o)) for f, i, o in zip(self.features, ids, self.offsets)}

    def to_list(self) -> list[dict]:
        out = []
        for f in self.features:
            d: dict[str, Any] = {"name": f.name, "type": f.type}
            if f.type == "numeric":
                d.update(min=f.min, max=f.max, interval=f.interval)
            if f.type == "category":
                d["values"] = list(f.values)
            if f.dropout_p is not None:
                d["dropout_p"] = f.dropout_p
            out.append(d)
        return out

    def fingerprint(self) -> str:
        """Changes whenever a feature's slots change (a model trained on another table cannot read these ids)."""
        return hashlib.sha1(json.dumps(self.to_list(), sort_keys=True).encode()).hexdigest()[:16]


def values_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Feature values of a dataset index record (see ``beatforge.data.build``)."""
    skills = dict(record.get("skillsets") or {})
    values: dict[str, Any] = {
        "sr": record.get("star_rating"),
        "overall": record.get("overall"),
        "ln_ratio": record.get("ln_ratio"),
        "map_type": record.get("map_type"),
        "keys": record.get("keys"),
        "source_game": record.get("source_game"),
        "rank_status": record.get("status"),
    }
    for name in SKILLSETS:
        values[name] = skills.get(name)
    if skills:
        flags = pattern_flags({**skills, "overall": record.get("overall", 0.0)})
        for name in SKILLSETS:
            values[f"{name}_flag"] = flags.get(name)
    return values


def sr_at_rate(sr: float, rate: float) -> float:
    """Mug Diffusion's approximation of the star rating at another playback rate (it is about linear in rate
    over 0.75-1.5); computing it exactly would need rosu-pp on a rewritten .osu per training example."""
    if rate >= 1.0:
        return sr * (0.8184 * (rate - 1.0) + 1.0)
    return sr / (0.8184 * (1.0 / rate - 1.0) + 1.0)
