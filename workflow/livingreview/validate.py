"""`livingreview validate`: the config and every human-edited table, checked before any job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import validate_config


def validate_inputs(config: dict[str, Any], *, where: str = "config/config.yaml") -> dict[str, Any]:
    """Validate the config (filling defaults), each human-edited table it names and every search run's manifest.

    Returns a summary {what: count}. Raises a LivingReviewError naming file and line on the first error.
    """
    from .decisions import load_decisions
    from .dedup import load_dedup_decisions
    from .extraction import load_outcomes, load_studies
    from .report import load_risk_of_bias
    from .runs import list_runs, load_manifest
    from .screening import load_rules

    validate_config(config, where=where)
    summary: dict[str, Any] = {}
    rules = load_rules(config["screening"]["rules"])
    summary["screening rules"] = len(rules.rules)
    dedup_path = config["dedup"]["decisions"]
    if Path(dedup_path).exists():
        summary["dedup decisions"] = len(load_dedup_decisions(dedup_path))
    summary["screening decisions"] = len(load_decisions(config["screening"]["decisions"], rules.reasons))
    studies = load_studies(config["extraction"]["studies"])
    summary["studies"] = len(studies)
    summary["outcome rows"] = len(load_outcomes(config["extraction"]["outcomes"], studies))
    rob_path = config["extraction"].get("risk_of_bias")
    if rob_path and Path(rob_path).exists():
        summary["risk-of-bias rows"] = len(load_risk_of_bias(rob_path, {s.study_id for s in studies}))
    manifests = [load_manifest(run_dir) for run_dir in list_runs(config["searches"]["root"])]
    summary["search runs"] = len(manifests)
    summary["archived search files"] = sum(len(m.files) for m in manifests)
    return summary
