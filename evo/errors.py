"""The one exception type the CLI turns into a one-line error (exit code 2) instead of a traceback."""


class EvoError(Exception):
    """Bad input or setup: the message names what is wrong (file, key, line) in one line."""
