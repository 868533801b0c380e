"""The error a board gives: it does not answer, answers garbage, faults, or refuses a request."""

from compiler.errors import TargetError


class BoardError(TargetError):
    """A Cortex-M board (emulated or real) did not answer the protocol as it should."""

    kind = "board error"


class BoardTimeout(BoardError):
    """The board did not answer before the deadline."""
