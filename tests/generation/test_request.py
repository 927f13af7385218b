"""The request objects: every default in one place, validated once, errors naming the flag and the allowed values."""

from __future__ import annotations

import dataclasses
import math

import pytest

from beatforge.constants import MAP_TYPES, SKILLSETS, STAR_RATING_RANGE, STYLES
from beatforge.errors import BeatforgeError
from beatforge.generation.request import ManiaRequest, RemapRequest


def test_defaults_and_prompts() -> None:
    r = ManiaRequest()
    assert (r.keys, r.star_ratings, r.count, r.steps, r.guidance, r.min_jack_ms) == (4, (4.0,), 1, 20, 5.0, 90.0)
    r = ManiaRequest(star_ratings=[2, 3.5], count=2, style="ranked", ln_ratio=0.2, map_type="ln",
                     patterns={"stream": "more", "jackspeed": "less"}, msd={"overall": 20})
    assert r.star_ratings == (2.0, 3.5) and r.n_charts == 4
    prompts = r.prompts()
    assert [p["sr"] for p in prompts] == [2.0, 2.0, 3.5, 3.5]
    assert prompts[0] == {"sr": 2.0, "rank_status": "ranked", "ln_ratio": 0.2, "map_type": "ln",
                          "stream_flag": True, "jackspeed_flag": False, "overall": 20.0}
    assert ManiaRequest(star_ratings=3).star_ratings == (3.0,)  # a single number is one star rating
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.keys = 7  # type: ignore[misc]


@pytest.mark.parametrize("kwargs,needle", [
    ({"keys": 0}, "--keys 0: must be 1-10"),
    ({"star_ratings": (12.0,)}, f"--sr 12: star rating must be between {STAR_RATING_RANGE[0]:g}"),
    ({"star_ratings": (math.nan,)}, "--sr nan"),
    ({"count": 1000}, "--count 1000"),
    ({"steps": 0}, "--steps 0"),
    ({"guidance": -1.0}, "--cfg -1"),
    ({"ln_ratio": 1.5}, "--ln-ratio 1.5"),
    ({"map_type": "soup"}, ", ".join(MAP_TYPES[:-1])),
    ({"style": "pending"}, ", ".join(STYLES)),
    ({"patterns": {"speed": "more"}}, ", ".join(SKILLSETS)),
    ({"patterns": {"stream": "lots"}}, "more or less"),
    ({"msd": {"stream": 99}}, "--msd stream=99"),
    ({"min_jack_ms": -5}, "--min-jack-ms -5"),
    ({"bpm": 5}, "--bpm 5: must be between 20 and 1000"),
    ({"offset": 10.0}, "--offset needs --bpm"),
    ({"bpm": 120, "offset": math.inf}, "--offset inf"),
    ({"bpm": 120, "timing_from": "x.osu"}, "exclude each other"),
    ({"bpm": 120, "offset": math.nan}, "--offset nan"),
    ({"rhythm": "guess"}, "--rhythm guess: must be one of selector, network, diffusion"),
])
def test_bad_values_name_the_flag_and_the_allowed_values(kwargs: dict, needle: str) -> None:
    with pytest.raises(BeatforgeError, match=None) as err:
        ManiaRequest(**kwargs)
    assert needle in str(err.value)


def test_remap_request() -> None:
    r = RemapRequest(style_id=123)
    assert (r.steps, r.guidance, r.seed, r.spacing, r.style_id) == (50, 1.0, 0, True, "123")
    with pytest.raises(BeatforgeError, match="--steps 0"):
        RemapRequest(steps=0)
    with pytest.raises(BeatforgeError, match="--cfg-scale -1: must be between 0 and 30"):
        RemapRequest(guidance=-1.0)
