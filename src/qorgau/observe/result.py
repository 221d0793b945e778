"""What an import hands back: the observations it could read and the rows it could not.

One bad row in a ten-thousand-line export must not cost the other rows, and the person who
exported the file must be able to find the bad row again: hence a problem names the file and
line (``None`` where the format has no meaningful lines, e.g. one saved page or a JSON tree)
and says in plain words what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from qorgau.detect.model import Observation


@dataclass(frozen=True)
class ImportProblem:
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """``skipped`` counts records left out on purpose rather than for being broken (Telegram
    service messages such as "X joined the group", a second saved copy of the same ad), so a
    summary can account for every record in the file without reporting those as problems."""

    observations: list[Observation] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: int = 0
