"""The device and thread policy (beatforge.runtime): --device resolves to a real device or fails in one line, and
the thread count follows the free cores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from beatforge.errors import BeatforgeError
from beatforge.runtime import choose_threads, resolve_device
from tests.conftest import REPO


def test_threads_are_the_cores_whatever_the_load(monkeypatch) -> None:
    """The thread count depends on the machine only (torch's last bits depend on it: the same seed must give the
    same chart whether or not something else runs), and the user's setting wins."""
    monkeypatch.delenv("BEATFORGE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(cores=2) == 2
    assert choose_threads(cores=16) == 16
    assert choose_threads(cores=0) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(cores=2) == 3
    monkeypatch.setenv("BEATFORGE_THREADS", "1")
    assert choose_threads(cores=2) == 1


def test_policy_is_set_before_torch_loads() -> None:
    """The CLI sets the OpenMP wait policy and thread count before torch is imported (they are read only then)."""
    code = ("import os, sys, json\nfrom beatforge.runtime import configure_threads\nn = configure_threads()\n"
            "assert 'torch' not in sys.modules\nimport torch\n"
            "print(json.dumps([n, os.environ['OMP_WAIT_POLICY'], torch.get_num_threads()]))")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    n, policy, torch_threads = json.loads(out.stdout)
    assert policy == "PASSIVE" and torch_threads == n >= 1


def test_device_auto_is_the_cpu_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert resolve_device("auto").type in ("cpu", "mps")
    assert resolve_device("cpu") == torch.device("cpu")


def test_a_missing_device_is_one_clear_error() -> None:
    with pytest.raises(BeatforgeError, match="--device tpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BeatforgeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_generate_on_a_missing_gpu_exits_2_in_one_line(tmp_path, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    import numpy as np
    import soundfile as sf

    from beatforge.cli import main

    song = tmp_path / "song.wav"
    t = np.arange(8 * 22050) / 22050
    sf.write(song, (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32), 22050)
    assert main(["generate", str(song), "--device", "cuda", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda" in err[0]
    assert not (tmp_path / "out").exists()
