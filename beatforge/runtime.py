"""Where inference runs and how many CPU threads it takes: one home for ``--device`` and the thread policy.

Why a policy at all: torch's CPU kernels default to one OpenMP thread per core, and OpenMP's threads spin while they
wait for work. Two such processes on one machine (the page and a CLI run, two CLI runs, a game beside it) each spin
on the cores the other needs: measured on the 2-core CI machine, a ``beatforge generate`` took 5x its quiet time
beside a second one, where sharing two cores fairly costs 2x. Two rules fix that, and both must hold before torch
loads its OpenMP runtime, so :func:`configure_threads` runs first thing in every command that uses torch:

* waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``, set only when the user has not chosen one): a thread whose
  core is taken yields it instead of spinning, so two runs share the cores instead of fighting for them (measured:
  two ``beatforge generate`` at once took 1.2-1.4x one alone on 2 cores, where sharing fairly costs up to 2x);
* the thread count is the cores this process may use (its CPU affinity, not the machine's count: a container or
  ``taskset`` limit is honoured). ``BEATFORGE_THREADS`` (or ``OMP_NUM_THREADS``) overrides it.

Why not fewer threads when the machine is busy: torch's results depend on the thread count in the last bits (a
reduction split two ways adds in another order), and those bits decide some notes, so the same ``--seed`` would
give another chart whenever something else happened to run. The count depends only on the machine; the wait policy
is what makes sharing fair.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from beatforge.constants import DEVICES
from beatforge.errors import BeatforgeError

if TYPE_CHECKING:
    import torch


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def choose_threads(cores: int | None = None) -> int:
    """Threads for torch's CPU kernels: this process's cores (see the module docstring).

    ``BEATFORGE_THREADS`` wins, then ``OMP_NUM_THREADS``; ``cores`` is for tests (default: :func:`available_cores`)."""
    for name in ("BEATFORGE_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return max(1, available_cores() if cores is None else cores)


def configure_threads(threads: int | None = None) -> int:
    """Apply the thread policy to this process (before or after torch is imported); returns the thread count.

    The wait policy can only take effect before torch loads OpenMP, so the CLI calls this before any import of
    torch; calling it later still sets the thread count."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")  # the same rule for Intel's OpenMP, where torch links that one
    n = threads or choose_threads()
    if "torch" in sys.modules:
        _set_torch_threads(n)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", str(n))
        os.environ.setdefault("MKL_NUM_THREADS", str(n))
    return n


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)  # beatforge runs one graph at a time; allowed only before the first op
    except RuntimeError:
        pass


def cache_home() -> Path:
    """beatforge's cache (song activations, ONNX graphs): ``$BEATFORGE_CACHE`` or ``~/.cache/beatforge``."""
    return Path(os.environ.get("BEATFORGE_CACHE") or Path.home() / ".cache" / "beatforge")


def torch_is_cpu_only() -> bool:
    """Is the installed torch a CPU-only build on a system without Apple's MPS? Then ``--device auto`` is the CPU,
    known without importing torch (2 s): a CPU wheel's version ends in ``+cpu``."""
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return True
    return version.endswith("+cpu") and sys.platform != "darwin"


def onnx_enabled() -> bool:
    """May the CPU networks run on ONNX Runtime (installed, and not turned off with ``BEATFORGE_ONNX=0``)?"""
    if os.environ.get("BEATFORGE_ONNX", "").strip() == "0":
        return False
    return importlib.util.find_spec("onnxruntime") is not None


def runs_on_onnx(device: str | None) -> bool:
    """Do the osu!mania networks run on ONNX Runtime for this ``--device``? Yes where it is the CPU (named, or
    ``auto`` without a GPU) and ONNX Runtime may be used (:mod:`beatforge.generation.learned.onnx_models`)."""
    name = (device or "auto").lower()
    if name not in ("auto", "cpu") or not onnx_enabled():
        return False
    return name == "cpu" or torch_is_cpu_only() or resolve_device(name).type == "cpu"


def resolve_device(name: str | None = "auto") -> torch.device:
    """``--device``: ``auto`` is the GPU when torch sees one (CUDA, else Apple's MPS), else the CPU; a device that
    is asked for by name and is missing is an error, not a silent fall back to the CPU."""
    import torch

    name = (name or "auto").lower()
    if name not in DEVICES:
        raise BeatforgeError(f"--device {name}: must be one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise BeatforgeError("--device cuda: torch sees no CUDA GPU here (a CPU-only torch, or no driver); use "
                             "--device cpu or auto")
    if name == "mps" and not mps:
        raise BeatforgeError("--device mps: Apple's Metal (MPS) is not available here; use --device cpu or auto")
    return torch.device(name)


__all__ = ["available_cores", "cache_home", "choose_threads", "configure_threads", "onnx_enabled", "resolve_device",
           "runs_on_onnx", "torch_is_cpu_only"]
