"""The report's own options checked against the records it reads: ``--group-by`` keys and ``--baseline``.

A key that splits rows must say *how the runs were made*: a config key of ``config.yaml`` (``trainer.lr``) or a
record field that describes the run (``GROUPING_FIELDS``: ``epochs``, ``device``, ...). A measured result
(``test_acc``, ``params_total``, a learned pool parameter) is what a row reports, not what tells rows apart; the
seed is what a row averages over and what the paired comparison pairs on. Each is refused with one line naming
what can be used instead (``ReportInputError``: exit 2), as are keys no record holds and an unknown baseline.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import fields

from poolbench.config.run_folder import flatten
from poolbench.record import RunRecord
from poolbench.report.aggregate import run_config
from poolbench.report.collect import Collection, ReportInputError
from poolbench.report.variants import IDENTITY, semantic_flat_config, varying_keys

# Record fields that describe how a run was made (grouping by them is like grouping by a config key).
GROUPING_FIELDS = (
    "epochs",
    "run_key",
    "content_key",
    "device",
    "torch_version",
    "poolbench_version",
    "git_sha",
    "deploy_batch_size",
    "deploy_threads",
)
SHOWN = 10  # keys listed in a message at most


def check_group_keys(collection: Collection, keys: Sequence[str]) -> None:
    """Every ``--group-by`` key splits rows, or ReportInputError says why not and what to use instead."""
    configs = [run_config(run) for run in collection.runs]
    config_keys = {key for config in configs for key in flatten(config)}
    measured = {f.name for f in fields(RunRecord)} - set(GROUPING_FIELDS) - set(IDENTITY) - {"seed"}
    measured |= {name for run in collection.runs for name in run.record.pool_params}
    identities = [(run.record.dataset, run.record.backbone, run.record.head) for run in collection.runs]
    varying = varying_keys(zip(identities, map(semantic_flat_config, configs)))
    which = f"one that differs here: {_listed(varying)}" if varying else "any dotted key of a run's config.yaml"
    usable = f"group by a config key ({which}) or a field that says how a run was made ({_listed(GROUPING_FIELDS)})"
    for key in keys:
        if key == "seed":
            raise ReportInputError(
                "--group-by seed: each row is the mean ± std over its seeds, and the paired comparison pairs heads "
                "on the seed, so the seed cannot split rows. Fix: to see one seed, report its run dirs alone."
            )
        if key in IDENTITY or key in GROUPING_FIELDS or key in config_keys:
            continue
        if key in measured:
            raise ReportInputError(
                f"--group-by {key}: {key} is a metric (what the runs measured), not a grouping key; the tables "
                f"report it per row. Fix: {usable}."
            )
        inside = sorted(k for k in config_keys if k.startswith(f"{key}."))
        if inside:
            raise ReportInputError(
                f"--group-by {key}: a group of config keys, not one. Fix: name one of {_listed(inside)}."
            )
        guess = difflib.get_close_matches(key, sorted(config_keys | set(GROUPING_FIELDS)), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        raise ReportInputError(
            f"--group-by {key}: no record or config.yaml of these runs has this key{hint}. Fix: {usable}."
        )


def check_baseline(collection: Collection, baseline: str) -> None:
    """An explicit ``--baseline`` must be a head that these records ran."""
    heads = sorted({run.record.head for run in collection.runs})
    if baseline in heads or not heads:
        return
    guess = difflib.get_close_matches(baseline, heads, n=1)
    hint = f" (did you mean {guess[0]}?)" if guess else ""
    raise ReportInputError(
        f"--baseline {baseline}: no run of that head here{hint}. Fix: --baseline with one of {_listed(heads)}."
    )


def _listed(keys: Iterable[str]) -> str:
    keys = list(keys)
    more = f", ... ({len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more
