"""How numbers read in Markdown and LaTeX: percentages, mean ± std, clipped CIs, p-values with two
significant digits ("<0.001" below 0.001), counts, and a real minus sign (U+2212; ``$-$`` in LaTeX).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from poolbench.record.fields import Unit

EMPTY = "—"


MINUS = "\u2212"  # the minus sign; a hyphen is not one


P_FLOOR = 0.001


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def signed_text(number: float, digits: int, plus: bool = False) -> str:
    """``-1.50`` as ``−1.50`` (a real minus); ``+1.50`` when ``plus``; a rounded -0.00 prints as 0.00."""
    text = f"{number:.{digits}f}"
    if text.lstrip("-").strip("0.") == "":  # rounds to zero: no sign
        return text.lstrip("-")
    if text.startswith("-"):
        return MINUS + text[1:]
    return f"+{text}" if plus else text


def pct(value: Any, digits: int = 2, plus: bool = False) -> str:
    return EMPTY if is_missing(value) else signed_text(100 * float(value), digits, plus)


def pct_pm(mean: Any, std: Any, digits: int = 2, signed: bool = False) -> str:
    if is_missing(mean):
        return EMPTY
    center = pct(mean, digits, plus=signed)
    return center if is_missing(std) else f"{center} ± {pct(std, digits)}"


def num_pm(mean: Any, std: Any, digits: int = 3) -> str:
    if is_missing(mean):
        return EMPTY
    center = signed_text(float(mean), digits)
    return center if is_missing(std) else f"{center} ± {float(std):.{digits}f}"


def clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def ci_text(low: Any, high: Any, digits: int = 2, bounds: tuple[float, float] = (0.0, 1.0)) -> str:
    """A CI in percent (or pp), clipped to ``bounds`` (fractions): [0, 1] for accuracies, [-1, 1] for differences."""
    if is_missing(low) or is_missing(high):
        return EMPTY
    low, high = clip(float(low), *bounds), clip(float(high), *bounds)
    return f"[{pct(low, digits)}, {pct(high, digits)}]"


def count(value: Any) -> str:
    return EMPTY if is_missing(value) else f"{int(value):,}"


def short_count(value: Any) -> str:
    """Parameter counts for a narrow column, three significant digits: 650, 1.34k, 24.1k, 272k, 1.27M."""
    if is_missing(value):
        return EMPTY
    value = float(value)
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{int(value)}"


def format_p(p_value: Any) -> str:
    """Two significant digits (``0.0066``, ``0.50``, ``1.0``); ``<0.001`` below 0.001; EMPTY when undefined."""
    if is_missing(p_value):
        return EMPTY
    p_value = float(p_value)
    return f"<{P_FLOOR:g}" if p_value < P_FLOOR else f"{p_value:#.2g}".rstrip(".")


def p_value_text(p_value: Any, test: str) -> str:
    """The p-value, or why there is none (``not enough seeds``)."""
    return test if is_missing(p_value) else format_p(p_value)


def declared_text(unit: Unit, mean: Any, std: Any = None) -> str:
    """A declared field's value as its unit says (``poolbench.record.fields.Unit``): scaled, fixed decimals,
    thousands separators where asked, ``± std`` for a unit with ``spread``; EMPTY when missing."""
    if is_missing(mean):
        return EMPTY
    value = float(mean) * unit.scale
    center = f"{value:,.{unit.digits}f}" if unit.thousands else signed_text(value, unit.digits)
    if not unit.spread or is_missing(std):
        return center
    return f"{center} ± {float(std) * unit.scale:.{unit.digits}f}"
