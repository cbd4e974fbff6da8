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


def respecify(plan: Plan, pins: Mapping[str, Mapping[str, Any]]) -> Plan:
    """The same plan with the named cells pinned elsewhere (``{"fmnist_1k": {"backbone.depth": 2}}``: a key given
    replaces or adds that pin), every endpoint unchanged. ``judge_claims`` on it re-decides every primary endpoint
    in that specification, Holm within it. Its hash stays the plan's (the specification is part of that plan)."""
    data = json.loads(json.dumps(plan.data, default=str))
    for name, changed in pins.items():
        if name not in data.get("cells", {}):
            raise plan_error(plan.path, f"cells.{name}", None, "a declared cell: " + ", ".join(data.get("cells", {})))
        data["cells"][name]["pins"] = {**data["cells"][name]["pins"], **changed}
    return dataclasses.replace(read_plan(data, plan.path), sha256=plan.sha256)
