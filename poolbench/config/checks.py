"""The vocabulary of config checks: what a key may hold, and the words a user sees when it does not.

Each check answers ``accepts(value)`` and ``describe()`` (the "Allowed: ..." text of a ``ConfigError``).
``poolbench.config.settings`` attaches one to every typed setting; ``poolbench.config.validate`` applies them.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Protocol


class Check(Protocol):
    def accepts(self, value: Any) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Number:
    """A real number (or an integer) within optional bounds; booleans and strings are not numbers."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.integer and not isinstance(value, numbers.Integral):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high:g}"
        return kind


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == option and type(value) is type(option) for option in self.options)

    def describe(self) -> str:
        return "one of " + ", ".join(str(o).lower() if isinstance(o, bool) else str(o) for o in self.options)


@dataclass(frozen=True)
class Boolean:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text:
    pattern: str = r".+"
    description: str = "a non-empty string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class NumberList:
    item: Number
    length: int | None = None
    min_length: int = 1

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length:
            return False
        return (self.length is None or len(value) == self.length) and all(self.item.accepts(v) for v in value)

    def describe(self) -> str:
        size = f"{self.length} " if self.length is not None else ""
        return f"a list of {size}values, each {self.item.describe()}"


@dataclass(frozen=True)
class ChoiceList:
    """A list of distinct options, each one of ``options``, that holds every option of ``required``."""

    options: tuple[str, ...]
    required: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or len(set(value)) != len(value):
            return False
        return all(v in self.options for v in value) and all(r in value for r in self.required)

    def describe(self) -> str:
        needs = f" including {', '.join(self.required)}" if self.required else ""
        return f"a list of distinct values from {', '.join(self.options)}{needs}"


@dataclass(frozen=True)
class Rule:
    """What one config key may hold. ``optional``: null allowed. ``required``: the key must be present.
    ``block``: the optional settings block the key belongs to (``logger.mlflow``); absent block, no check."""

    key: str
    check: Check
    example: str
    optional: bool = False
    required: bool = False
    block: str | None = None

    def allowed(self) -> str:
        return self.check.describe() + (", or null" if self.optional else "")


POSITIVE = Number(0, low_open=True)
NON_NEGATIVE = Number(0)
FRACTION = Number(0, 1, high_open=True)  # [0, 1)
OPEN_FRACTION = Number(0, 1, low_open=True, high_open=True)  # (0, 1)
COUNT = Number(1, integer=True)
SIZE = Number(0, integer=True)
AUTO_OR_BOOL = Choice(("auto", True, False))
FOLDER_NAME = Text(r"[^/\\]+", "a folder name (no slashes)")
DEVICE = Text(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps")
