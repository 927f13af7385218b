"""Shared test helpers: where the real data lives, and skipping where it is absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# librosa's numba functions (the beat tracker) cache their machine code beside the package (cache=True), and
# numba's cache is not made for several processes writing it at once: each pytest-xdist worker gets its own.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), f"beatforge-numba-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"))

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    """The path under ../shared/data, or skip the test with a clear reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found: {path} (tests read ../shared/data beside the checkout)")
    return path


@pytest.fixture
def data_dir() -> Path:
    return need_data()
