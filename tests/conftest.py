"""Shared test helpers: where the real data lives, and skipping where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

try:  # hypothesis keeps a cache folder (.hypothesis/) in the working folder: tests write only to temporary folders
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="beatforge-hypothesis-"))
except ImportError:  # hypothesis is in the dev extra; the property tests skip without it
    pass


@pytest.fixture(autouse=True, scope="session")
def _caches_in_a_temporary_folder(tmp_path_factory) -> None:
    """Tests write only inside temporary folders: the pretrained-audio activation cache (``BEATFORGE_CACHE``,
    else ``~/.cache/beatforge``) goes to one per test session, unless the caller chose a cache."""
    import os

    if not os.environ.get("BEATFORGE_CACHE"):
        os.environ["BEATFORGE_CACHE"] = str(tmp_path_factory.mktemp("beatforge-cache"))


def need_data(*parts: str) -> Path:
    """The path under ../shared/data, or skip the test with a clear reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found: {path} (tests read ../shared/data beside the checkout)")
    return path


@pytest.fixture
def data_dir() -> Path:
    return need_data()
