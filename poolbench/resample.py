"""The hierarchical bootstrap of a latency ratio over timing processes and rounds (no torch, no pandas).

Timings come from k independent processes, each with R rounds that interleave the heads; a round gives one paired
ratio (head's latency / the other head's, same process, same round). The estimate is the geometric mean of the
paired ratios; its CI resamples processes with replacement, then rounds within each drawn process (the two
levels at which timing noise enters: a process's placement and state, and a round's background load), and takes
the percentile interval of the resampled geometric means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_DRAWS = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class RatioCI:
    ratio: float
    ci_low: float
    ci_high: float
    processes: int
    rounds: int

    def within(self, sesoi: float) -> bool:
        """Whether the whole CI lies within ±``sesoi`` of 1 (the difference is negligible)."""
        return 1 - sesoi <= self.ci_low and self.ci_high <= 1 + sesoi


def hierarchical_ratio(
    log_ratios: Mapping[object, Sequence[float]], draws: int = BOOTSTRAP_DRAWS, seed: int = 0, level: float = LEVEL
) -> RatioCI:
    """``log_ratios``: per process, the log of each round's paired ratio. NaN everywhere when there are none."""
    groups = [np.asarray(values, dtype=float) for values in log_ratios.values() if len(values)]
    if not groups:
        return RatioCI(float("nan"), float("nan"), float("nan"), 0, 0)
    estimate = float(np.exp(np.mean(np.concatenate(groups))))
    means = bootstrap_means(groups, draws, np.random.default_rng(seed))
    tail = (1 - level) / 2
    low, high = np.exp(np.quantile(means, [tail, 1 - tail]))
    return RatioCI(estimate, float(low), float(high), len(groups), sum(len(g) for g in groups))


def bootstrap_means(groups: list[np.ndarray], draws: int, rng: np.random.Generator) -> np.ndarray:
    """The mean of each two-level resample: processes with replacement, then rounds within each drawn process
    (vectorised when every process has the same number of rounds, the usual case)."""
    k = len(groups)
    if len({len(g) for g in groups}) == 1:
        table = np.stack(groups)  # k x R
        picked = rng.integers(0, k, (draws, k))
        rounds = rng.integers(0, table.shape[1], (draws, k, table.shape[1]))
        return table[picked[..., None], rounds].mean(axis=(1, 2))
    means = np.empty(draws)
    for draw in range(draws):
        chosen = [groups[i] for i in rng.integers(0, k, k)]
        means[draw] = np.mean(np.concatenate([g[rng.integers(0, len(g), len(g))] for g in chosen]))
    return means


def paired_log_ratios(
    rounds: Sequence[Mapping[str, object]], head: str, against: str, key: str = "latency_ms"
) -> dict[object, list[float]]:
    """Per process, log(head's value / against's value) for every round both were timed in (``rounds``: rows
    with ``process``, ``round``, ``head`` and ``key``, of one cell and one runtime)."""
    values: dict[tuple[object, object, object], float] = {}
    for row in rounds:
        values[(row["process"], row["round"], row["head"])] = float(row[key])  # type: ignore[arg-type]
    out: dict[object, list[float]] = {}
    for (process, index, name), value in sorted(values.items(), key=lambda item: str(item[0])):
        other = values.get((process, index, against))
        if name == head and other is not None and value > 0 and other > 0:
            out.setdefault(process, []).append(float(np.log(value / other)))
    return out
