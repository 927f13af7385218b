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
