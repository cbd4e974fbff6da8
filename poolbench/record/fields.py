"""How a run-record field is declared: once, next to its type, with everything the report needs to know of it.

A ``RunRecord`` field is a dataclass field made by ``declare``: its name and type are the dataclass's, its
``Declared`` metadata says what it means (display label, unit, role), how the summary aggregates it over seeds
and which outputs show it. The runs frame, the summary tables (Markdown, LaTeX, CSV), the trackers and the
claims' metric names read these declarations (``declarations(RunRecord)``), so a new metric is its declaration
plus the code that measures it. The same pattern as the typed settings (``poolbench.config.settings.setting``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

DECLARATION = "poolbench.declared"
# What a field is: the run's identity (averaged over or grouped by), a setting it ran with, a measured accuracy
# or loss, a cost (parameters, multiply-adds, bytes), a timing (wall-clock, differs between two equal runs), the
# record's own status, or where it came from.
ROLES = ("identity", "config", "accuracy", "cost", "timing", "status", "provenance")
# How the summary table aggregates a field over the seeds of a row: ``mean`` -> FIELD_mean and FIELD_std (sample
# std) and with ``ci`` FIELD_ci_low/high; ``first`` -> FIELD (the same for every seed of a config: a count);
# ``none`` -> runs.csv only.
AGGREGATIONS = ("mean", "first", "none")
# Where a field is shown besides runs.csv: the Markdown summary and summary.tex (``summary``: accuracy and
# generalization), the Markdown summary and cost.tex (``cost``), the Markdown summary alone (``markdown``),
# main.tex (``main``, compact), the trackers' final metrics (``trackers``).
OUTPUTS = ("summary", "cost", "markdown", "main", "trackers")


@dataclass(frozen=True)
class Unit:
    """How a value reads: ``value * scale`` with ``digits`` decimals (``thousands``: 12,345), ``± std`` where
    ``spread`` (accuracies and losses; costs and timings show the mean alone). ``name`` is what a number of the
    field is in (``pp`` for accuracies: differences read in percentage points)."""

    name: str
    scale: float = 1.0
    digits: int = 3
    thousands: bool = False
    spread: bool = False


ACCURACY = Unit("pp", 100.0, 2, spread=True)  # a fraction shown in %, its differences in percentage points
LOSS = Unit("", 1.0, 3, spread=True)
COUNT = Unit("", 1.0, 0, thousands=True)
MILLIONS = Unit("", 1e-6, 2)
KILOBYTES = Unit("KB", 1e-3, 0, thousands=True)
SECONDS = Unit("s", 1.0, 1)
MILLISECONDS = Unit("ms", 1.0, 2)
PER_SECOND = Unit("img/s", 1.0, 0, thousands=True)
EPOCHS = Unit("epochs", 1.0, 1)
PLAIN = Unit("")  # text, flags, keyed values: shown as they are


@dataclass(frozen=True)
class Declared:
    """A field's meaning. ``label``: its Markdown column header (with the unit); ``latex``: its LaTeX header
    (two lines split at a newline, LaTeX markup; default: from the label)."""

    label: str
    unit: Unit
    role: str
    aggregate: str = "none"
    shown: tuple[str, ...] = ()
    latex: str = ""
    ci: bool = False
    keyed: bool = False  # {key: value}: spread into runs-frame columns FIELD_KEY

    def __post_init__(self) -> None:
        unknown = [v for v in (self.role, self.aggregate, *self.shown) if v not in (*ROLES, *AGGREGATIONS, *OUTPUTS)]
        if self.role not in ROLES or self.aggregate not in AGGREGATIONS or unknown:
            raise ValueError(f"declaration {self.label!r}: role, aggregate or shown not one of the known words")
        if self.shown and self.aggregate == "none" and set(self.shown) - {"trackers"}:
            raise ValueError(f"declaration {self.label!r}: a table shows aggregated values; say how to aggregate")


def declare(
    label: str,
    unit: Unit,
    role: str,
    aggregate: str = "none",
    shown: tuple[str, ...] = (),
    *,
    latex: str = "",
    ci: bool = False,
    default: Any = None,
) -> Any:
    """A record field with its declaration; ``default=MISSING``: required."""
    return field(default=default, metadata={DECLARATION: Declared(label, unit, role, aggregate, shown, latex, ci)})


def declare_keyed(label: str, unit: Unit, role: str) -> Any:
    """A record field holding ``{key: value}`` (the translation test's pixels, the input sizes): the runs frame
    spreads it into FIELD_KEY columns; it starts empty."""
    return field(default_factory=dict, metadata={DECLARATION: Declared(label, unit, role, keyed=True)})


def declarations(record_type: type) -> dict[str, Declared]:
    """Every field of a record dataclass with its declaration, in field order; a field without one is a bug."""
    found = {f.name: f.metadata.get(DECLARATION) for f in fields(record_type)}
    undeclared = [name for name, declared in found.items() if declared is None]
    if undeclared:
        raise TypeError(f"{record_type.__name__} fields without a declaration: {', '.join(undeclared)} (use declare)")
    return {name: declared for name, declared in found.items() if declared is not None}


def named(
    record_type: type, *, aggregate: str | None = None, shown: str | None = None, role: str | None = None
) -> list[str]:
    """The declared field names that aggregate as ``aggregate``, are shown in ``shown``, have ``role``."""
    return [
        name
        for name, declared in declarations(record_type).items()
        if (aggregate is None or declared.aggregate == aggregate)
        and (shown is None or shown in declared.shown)
        and (role is None or declared.role == role)
    ]
