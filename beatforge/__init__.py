"""beatforge: rhythm-game charts with diffusion models.

The package is laid out by concern, following the pipeline:
``formats`` (chart files of four game families) -> ``charts`` (chart <-> tensor) ->
``audio`` (waveform -> log-mel) -> ``analysis`` (star rating, skillsets) -> ``data`` (dataset builder).
"""

__version__ = "0.1.0"

from beatforge.errors import BeatforgeError  # noqa: E402

__all__ = ["BeatforgeError", "__version__", "generate_mania", "remap_standard", "write_set"]


def __getattr__(name: str):
    """``beatforge.generate_mania`` etc. without importing torch for every ``import beatforge``."""
    if name in ("generate_mania", "write_set"):
        from beatforge.generation import pipeline

        return getattr(pipeline, name)
    if name == "remap_standard":
        from beatforge.generation.standard import remap_standard

        return remap_standard
    raise AttributeError(f"module 'beatforge' has no attribute {name!r}")
