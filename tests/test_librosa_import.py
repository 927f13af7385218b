"""librosa's numba cache survives several processes importing it at once (numba issue #10128).

Without beatforge's import lock, 4 fresh processes sharing an empty numba cache segfaulted in every round tried, and
left a cache that crashed every later process: that is what failed CI (a pytest worker died in the beat tracker).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import numpy as np
    from beatforge.audio import import_librosa

    librosa = import_librosa()
    env = np.abs(np.random.default_rng(1).standard_normal(2000)).astype(np.float32)
    librosa.util.localmax(env)
    librosa.beat.beat_track(onset_envelope=env, sr=22050, hop_length=512)
    librosa.onset.onset_detect(onset_envelope=env, sr=22050)
""")


@pytest.mark.slow
def test_processes_importing_librosa_at_once_share_one_sound_cache(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "OMP_NUM_THREADS": "1"}

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    at_once = [start() for _ in range(3)]
    later = []
    for proc in at_once:
        out, _ = proc.communicate(timeout=600)
        later.append((proc.returncode, out[-2000:]))
    for _ in range(2):  # processes that only load the cache the first ones wrote
        proc = start()
        out, _ = proc.communicate(timeout=600)
        later.append((proc.returncode, out[-2000:]))
    assert [rc for rc, _ in later] == [0] * 5, later
    assert any((tmp_path / "numba-cache").rglob("*.nbc")), "numba wrote no cache: the test proved nothing"


def test_no_writable_temporary_folder_imports_librosa_unguarded(tmp_path: Path, monkeypatch) -> None:
    """The lock lives in the temporary folder; where that cannot be written, librosa is still imported."""
    import tempfile

    from beatforge.audio import import_librosa

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "a-file" / "tmp"))  # cannot be made, even as root
    librosa = import_librosa.__wrapped__()  # past the per-process cache
    assert hasattr(librosa.beat, "beat_track") and (tmp_path / "a-file").is_file()
