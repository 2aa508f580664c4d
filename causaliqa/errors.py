"""User-facing errors: one line naming where, what was expected and what was got."""

from __future__ import annotations


class CausaliqaError(Exception):
    """A mistake in user input (file, field, query, path, image).

    The CLI prints ``str(err)`` on one line and exits with status 2; no traceback.
    """

    def __init__(self, where: str, field: str | None, expected: str, got: object) -> None:
        self.where = where
        self.field = field
        self.expected = expected
        self.got = got
        location = f"{where}: {field}" if field else where
        got_text = " ".join(str(got).split())
        if len(got_text) > 160:
            got_text = got_text[:157] + "..."
        super().__init__(f"{location}: expected {expected}, got {got_text}")


class CausaliqaWarning(UserWarning):
    """Something the user should know that does not stop the run; the CLI always prints it as ``warning: ...``."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during scoring; what was scored is on disk. The CLI exits with 128 + the signal number."""

    def __init__(self, kept: int, out, signum: int, complete: bool = False) -> None:
        self.kept, self.out, self.signum = kept, out, signum
        if complete:  # the signal came after the last row: nothing is left to score
            super().__init__(f"interrupted after the last row: all {kept} variants this run scored are in {out}")
        else:
            super().__init__(f"interrupted: {kept} variants kept in {out}; run the same command to resume")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
