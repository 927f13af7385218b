"""The one error boundary every entry point shares: ``beatforge``, the seed guides' root scripts (main.py,
train.py, sample.py, generate_beatmap_idx.py) and the page's jobs.

What a user sees when something goes wrong is one line on stderr and an exit code a script can act on:

* 2: bad input (a :class:`~beatforge.errors.BeatforgeError`, an unreadable or unwritable path, input too large
  for memory, or a value a reader did not expect: a stranger's file must never show a traceback);
* 130: Ctrl-C; 143: SIGTERM (a scheduler must not read success): both arrive as exceptions, so every
  ``atomic_path`` on the way out deletes its temporary file and nothing is left half-written;
* 1: a bug of beatforge's own, still one line (``BEATFORGE_DEBUG=1`` re-raises with the traceback).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from beatforge.errors import BeatforgeError, message_of

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

# Errors a reader raises on a value it did not expect: bad input that slipped past a check, so exit 2
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, OverflowError, ZeroDivisionError, RecursionError, UnicodeError, TypeError, KeyError, IndexError,
)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt (a BaseException: ``except Exception`` in
    library code does not swallow it)."""


# The last signal the handlers below raised. A signal can land inside a library's ``finally`` or ``except``
# block (omegaconf restoring flags on a half-built node): the block then fails with an error of its own that names
# no signal and, in omegaconf's case, drops the chain. The user sent a signal, so the exit code must say so.
_received: list[type[BaseException]] = []


def _raise_terminated(signum, frame) -> None:
    _received.append(Terminated)
    raise Terminated()


def _raise_interrupted(signum, frame) -> None:
    _received.append(KeyboardInterrupt)
    signal.default_int_handler(signum, frame)


def install_sigterm() -> None:
    """SIGTERM becomes :class:`Terminated`, Ctrl-C stays KeyboardInterrupt; both are remembered (only the main
    thread may install a handler)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _raise_interrupted)


def _signal_behind(exc: BaseException) -> type[BaseException] | None:
    """The signal ``exc`` came from: one in its chain, or one the handlers saw (the chain may have been cut)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, (KeyboardInterrupt, Terminated)):
            return type(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return _received[-1] if _received else None


def _call(fn: Callable[[], int | None]) -> int:
    try:
        return int(fn() or 0)
    except Exception as exc:
        signalled = _signal_behind(exc)
        if signalled is not None:
            raise signalled() from exc
        raise


def run_guarded(prog: str, fn: Callable[[], int | None]) -> int:
    """``fn()``'s exit code, or the boundary's (see the module docstring) with one line on stderr."""
    debug = bool(os.environ.get("BEATFORGE_DEBUG"))
    install_sigterm()
    _received.clear()
    try:
        return _call(fn)
    except SystemExit:
        raise
    except BeatforgeError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (re-run the same command to continue)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{prog}: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # `beatforge analyze X | head`: the reader left; not an error. Point stdout at nothing so the
        # interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or message_of(exc, 300)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print(f"{prog}: error: out of memory (the input is too large for this machine)", file=sys.stderr)
        return EXIT_USAGE
    except INPUT_ERRORS as exc:
        if debug:
            raise
        print(f"{prog}: error: unexpected input ({type(exc).__name__}: {message_of(exc, 300)}); "
              "BEATFORGE_DEBUG=1 shows where", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:
        if debug:
            raise
        text = message_of(exc, 300)
        if "allocate memory" in text or "out of memory" in text.lower():
            print(f"{prog}: error: out of memory (the input is too large for this machine)", file=sys.stderr)
            return EXIT_USAGE
        print(f"{prog}: internal error (RuntimeError: {text}); please report it with BEATFORGE_DEBUG=1's "
              "traceback", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001  (the boundary: a bug still gets one line, not a traceback)
        if debug:
            raise
        print(f"{prog}: internal error ({type(exc).__name__}: {message_of(exc, 300)}); please report it with "
              "BEATFORGE_DEBUG=1's traceback", file=sys.stderr)
        return 1


def exit_process(code: int) -> NoReturn:
    """Leave the process with ``code`` the way ``sys.exit`` would, without the interpreter's teardown.

    Why: once torch is imported, tearing the interpreter down (clearing every module's globals and collecting
    torch's objects) takes about a second on a 2-core CPU, a seventh of a whole ``beatforge generate`` (measured: a
    bare ``import torch`` exits in 2.9-3.1 s, in 1.8-2.1 s this way). Everything an exit must still do runs first:
    the ``atexit`` handlers (temporary folders, logging, multiprocessing's workers) and the flush of stdout and
    stderr. Where another Python thread is still running (a page's server, say), the normal exit waits for it, and
    under a profiler, debugger or coverage tool (which write their results after the program returns), so that one
    is taken instead."""
    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left (`| head`) or a closed stream: nothing more to say
            pass
    os._exit(code & 0xFF if code >= 0 else 1)


__all__ = ["EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_USAGE", "INPUT_ERRORS", "Terminated", "exit_process",
           "install_sigterm", "run_guarded"]
