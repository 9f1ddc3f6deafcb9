"""The exceptions the CLI turns into a one-line error instead of a traceback."""


class EvoError(Exception):
    """Bad input or setup: the message names what is wrong (file, key, line) in one line (exit code 2)."""


class RunFailed(EvoError):
    """The run could not do its work: its baseline failed, or its operator cannot propose (exit code 1). `detail`
    holds what helps to see why, e.g. the end of the failed run's log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
