"""Exception types, split by who has to act: the user's input or the machine.

The CLI maps ``UsageError`` to exit code 2 and ``SandboxError`` to exit code 3, so every
message here is written as one line that says what is wrong and what to do.
"""


class VerifixError(Exception):
    """Base of every error verifix reports as a one-line message."""


class UsageError(VerifixError):
    """The input or configuration is wrong: the user can fix it by changing what they passed."""


class SandboxError(VerifixError):
    """The machine could not do the work: Docker, an image, an environment build."""


class EngineUnavailable(SandboxError):
    """No Docker engine answers."""


class EngineLost(SandboxError):
    """The engine answered once, then went away or stopped answering mid-run."""


class SetupFailed(SandboxError):
    """A setup command failed while building an environment image."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output
