"""One exception type for every user-facing failure.

The CLI catches :class:`BeatforgeError` and prints its message as one line with exit code 2, so any
message raised here must make sense to a user without a traceback: name the file and what is wrong.
"""


class BeatforgeError(Exception):
    """A failure caused by the user's input (bad file, bad flag), reported as one clear line."""


class ChartError(BeatforgeError):
    """A chart file that cannot be read or holds nothing playable."""


class AudioError(BeatforgeError):
    """An audio file that cannot be decoded, is silent, empty or absurdly long."""


class ArchiveError(BeatforgeError):
    """An .osz / .qp archive that is corrupt, unsafe (zip slip) or too large (zip bomb)."""


def message_of(exc: object, limit: int = 200) -> str:
    """An exception's message as one line of at most ``limit`` characters (all whitespace, newlines included,
    collapsed; the type's name when it has no message): what goes after "error:" when a library's own exception
    is reported."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


def check_flag_range(flag: str, value: float | None, low: float, high: float | None = None) -> None:
    """Refuse a flag's ``value`` outside [``low``, ``high``] (``high`` None: no upper bound; ``value`` None: the
    flag was not given), naming the bound it broke."""
    if value is None:
        return
    if value < low:
        raise BeatforgeError(f"{flag} {value}: at least {low}")
    if high is not None and value > high:
        raise BeatforgeError(f"{flag} {value}: at most {high}")

