"""``beatforge ui``: a local web page (gradio) over generation, chart to prompt, remapping and evaluation.

gradio is imported only here (and only when the page is built), so ``import beatforge`` and every other
``beatforge`` command stay fast.
"""

from __future__ import annotations


def build_app():
    """The page as a ``gr.Blocks`` (see :func:`beatforge.ui.app.build_app`)."""
    # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
    from beatforge.ui.app import build_app as _build

    return _build()


def launch(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the page until interrupted (see :func:`beatforge.ui.app.launch`)."""
    # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
    from beatforge.ui.app import launch as _launch

    _launch(host, port)


__all__ = ["build_app", "launch"]
