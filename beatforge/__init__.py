"""beatforge: rhythm-game charts with diffusion models.

The package is laid out by concern, following the pipeline:
``formats`` (chart files of four game families) -> ``charts`` (chart <-> tensor) ->
``audio`` (waveform -> log-mel) -> ``analysis`` (star rating, skillsets) -> ``data`` (dataset builder).
"""

__version__ = "0.1.0"

from beatforge.errors import BeatforgeError  # noqa: E402

__all__ = ["BeatforgeError", "ManiaModels", "ManiaRequest", "RemapRequest", "__version__", "generate_mania",
           "remap_standard", "write_set"]


def __getattr__(name: str):
    """``beatforge.generate_mania`` etc. without importing torch for every ``import beatforge``."""
    # lazy: generation loads torch (~1 s) and the models; `import beatforge` (the CLI's start-up) stays light
    if name in ("ManiaRequest", "RemapRequest"):
        from beatforge.generation import request

        return getattr(request, name)
    if name in ("generate_mania", "ManiaModels"):
        from beatforge.generation import mania

        return getattr(mania, name)
    if name == "write_set":
        from beatforge.generation.output import write_set

        return write_set
    if name == "remap_standard":
        from beatforge.generation.remap import remap_standard

        return remap_standard
    raise AttributeError(f"module 'beatforge' has no attribute {name!r}")
