"""Load an analysis plan: the shipped ``conf/analysis/claims.yaml`` or ``--plan FILE`` (a file that does not exist
says so), every field checked by ``poolbench.report.claims.plan_reader``; and ``respecify``, the same plan with
some cells pinned elsewhere (the robustness map re-decides every primary endpoint that way)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poolbench.errors import ConfigError
from poolbench.report.claims.plan import Plan, default_plan_path, plan_error
from poolbench.report.claims.plan_reader import Reader


def read_plan(data: Any, path: Path | str = "(plan)") -> Plan:
    """A plan from its parsed YAML (``load_plan`` reads the file), checked field by field."""
    return Reader(Path(path)).plan(data)


def load_plan(path: Path | str | None = None) -> Plan:
    """The plan at ``path`` (default: the shipped ``conf/analysis/claims.yaml``), checked field by field."""
    import yaml

    plan_path = Path(path) if path is not None else default_plan_path()
    if not plan_path.is_file():
        raise ConfigError(
            "--plan",
            str(plan_path),
            "an existing YAML file (default: the shipped poolbench/conf/analysis/claims.yaml)",
            f"the file {plan_path} does not exist: check the path, or leave --plan out for the shipped plan",
            problem="Analysis plan not found",
        )
    try:
        data = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise plan_error(plan_path, "(file)", str(error).splitlines()[0], "valid YAML") from None
    return read_plan(data, plan_path)


def respecify(
    plan: Plan,
    pins: Mapping[str, Mapping[str, Any]],
    metrics: Mapping[str, str] | None = None,
    sesoi: str | None = None,
    waive_convergence: bool = False,
) -> Plan:
    """The same plan with the named cells pinned elsewhere (``{"fmnist_1k": {"backbone.depth": 2}}``: a key given
    replaces or adds that pin; ``None``: a key the runs do not set). ``judge_claims`` on it re-decides every
    primary endpoint in that specification, Holm within it. The primaries that read a re-pinned cell may also
    read another metric (``metrics``: {metric: instead}, in ``metric`` or ``minus``; judged by the plan's SESOI
    named ``sesoi`` where given) and drop their convergence requirement (``waive_convergence``). The result is
    checked like the plan; its hash stays the plan's (the specification is part of that plan)."""
    data = json.loads(json.dumps(plan.data, default=str))
    for name, changed in pins.items():
        if name not in data.get("cells", {}):
            raise plan_error(plan.path, f"cells.{name}", None, "a declared cell: " + ", ".join(data.get("cells", {})))
        data["cells"][name]["pins"] = {**data["cells"][name]["pins"], **changed}
    for claim in data.get("claims") or []:
        for endpoint in claim.get("primary") or []:
            if not {endpoint.get("cell"), endpoint.get("versus")} & set(pins):
                continue
            for key in ("metric", "minus"):
                if endpoint.get(key) in (metrics or {}):
                    endpoint[key] = (metrics or {})[endpoint[key]]
                    endpoint["sesoi"] = sesoi or endpoint["sesoi"]
            if waive_convergence:
                endpoint["converged"] = False
    section = data.pop("robustness", None)  # checked against the plan's own cells: carried over as read
    moved = read_plan(data, plan.path)
    if section is not None:
        data["robustness"] = section
    return dataclasses.replace(moved, sha256=plan.sha256, robustness=plan.robustness)
