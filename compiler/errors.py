"""One error hierarchy for the whole toolchain.

Every error names what it is about (a node, a tensor, a file) so the CLI can print it on one
line; ``assert`` is kept for internal invariants only. The CLI maps ``UsageError`` to exit
code 2 and every other ``EdgecError`` to exit code 1.
"""


class EdgecError(Exception):
    """Base of all errors a user can cause; the message is the whole story."""

    kind = "error"


class UsageError(EdgecError):
    """Bad command-line usage (exit code 2)."""

    kind = "usage error"


class FrontendError(EdgecError):
    """The model file cannot be read or imported (corrupt, unsupported ops, bad shapes)."""

    kind = "import error"


class VerifyError(EdgecError):
    """The IR breaks an invariant; the message names the node and how to fix it."""

    kind = "verify error"


class PassError(EdgecError):
    """A compression pass failed; the message names the pass."""

    kind = "pass error"


class LoweringError(EdgecError):
    """TVM lowering or compilation failed."""

    kind = "lowering error"


class TargetError(EdgecError):
    """Unknown target, or the target's toolchain is missing."""

    kind = "target error"


class InputError(EdgecError):
    """Run-time inputs do not match the model (missing name, wrong shape or dtype)."""

    kind = "input error"


class ArtifactError(EdgecError):
    """A compiled artifact is missing, incomplete or from another edgec version."""

    kind = "artifact error"


def last_line(err: BaseException) -> str:
    """The last non-empty line of an exception's message: what a TVM error says after its pages of
    context, for a one-line error."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
