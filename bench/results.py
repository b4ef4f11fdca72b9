"""The measurements of a run: a grid of outcomes by (scenario, contender), each a set of samples or a reason."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Measured:
    """The samples of one cell, one per round for each metric (``"us"``, ``"rps"``, ``"cpu_us"``, ...)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    #: Problems met while measuring (wrk errors, a worker restarted), shown under the table.
    notes: list[str] = field(default_factory=list)

    def add(self, **values: float) -> None:
        for metric, value in values.items():
            self.samples.setdefault(metric, []).append(value)

    def median(self, metric: str) -> float | None:
        values = self.samples.get(metric)
        return statistics.median(values) if values else None


@dataclass(frozen=True)
class Skipped:
    """A cell with no number, and the text shown instead."""

    text: str


Outcome = Measured | Skipped

#: A contender that serves files, but not this kind of request.
NO_SUPPORT = Skipped("n/a (no support)")
#: A scenario that does not apply to the contender (nginx has no app; the bare app has no files).
NOT_APPLICABLE = Skipped("—")


@dataclass
class Grid:
    """Outcomes by (scenario key, contender key)."""

    cells: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    def __setitem__(self, key: tuple[str, str], outcome: Outcome) -> None:
        self.cells[key] = outcome

    def get(self, scenario: str, contender: str) -> Outcome | None:
        return self.cells.get((scenario, contender))

    def median(self, scenario: str, contender: str, metric: str) -> float | None:
        outcome = self.cells.get((scenario, contender))
        return outcome.median(metric) if isinstance(outcome, Measured) else None

    def measured(self) -> dict[tuple[str, str], Measured]:
        return {key: outcome for key, outcome in self.cells.items() if isinstance(outcome, Measured)}

    def wrong(self) -> dict[tuple[str, str], Skipped]:
        """The cells whose response failed its check."""
        return {
            key: outcome
            for key, outcome in self.cells.items()
            if isinstance(outcome, Skipped) and outcome.text.startswith("wrong")
        }
