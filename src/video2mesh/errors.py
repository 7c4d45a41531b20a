"""The one exception type for problems a user can fix, printed as a single line."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or configuration: names the scene, the cause and what to do.

    The CLI prints ``str(error)`` as one line and exits with status 2, so a Snakemake
    log shows exactly this line instead of a traceback.
    """

    def __init__(self, cause: str, hint: str, scene: str | None = None) -> None:
        self.cause = cause
        self.hint = hint
        self.scene = scene
        super().__init__(self.format())

    def format(self) -> str:
        where = f"scene '{self.scene}': " if self.scene else ""
        return f"{where}{self.cause.rstrip('.')}. What to do: {self.hint}"

    def for_scene(self, scene: str | None) -> UserError:
        """The same error, attributed to ``scene`` when it names none yet."""
        if self.scene or not scene:
            return self
        return UserError(self.cause, self.hint, scene)
