"""``beatforge ui``: a local web page (gradio) over generation, chart to prompt, remapping and evaluation.

gradio is imported only here (and only when the page is built), so ``import beatforge`` and every other
``beatforge`` command stay fast.
"""

from __future__ import annotations


def build_app(device: str = "auto"):
    """The page as a ``gr.Blocks``, its networks on ``device`` (see :func:`beatforge.ui.app.build_app`)."""
    # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
    from beatforge.ui.app import build_app as _build

    return _build(device)


def launch(host: str = "127.0.0.1", port: int = 7860, device: str = "auto") -> None:
    """Serve the page until interrupted, its networks on ``device`` (see :func:`beatforge.ui.app.launch`)."""
    # lazy: the page (and `beatforge ui --help`) starts without loading what only this action runs
    from beatforge.ui.app import launch as _launch

    _launch(host, port, device=device)


__all__ = ["build_app", "launch"]
