"""`livingreview validate`: the config and every human-edited table, checked before any job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import _key_line, utf8_text, validate_config
from .errors import ConfigError, InputFormatError
from .workflow_support import RunLayout, run_layout


def validate_inputs(config: dict[str, Any], *, where: str = "config/config.yaml") -> dict[str, Any]:
    """Validate the config (filling defaults), each human-edited table it names and every search run's manifest.

    Returns a summary {what: count}. Raises a LivingReviewError naming file and line on the first error.
    """
    return check_inputs(config, where=where)[0]


# Files the config names that must exist: (section, key). dedup.decisions and
# extraction.risk_of_bias are optional (absent = no overrides / no assessment).
REQUIRED_FILES: tuple[tuple[str, str], ...] = (
    ("screening", "rules"),
    ("screening", "decisions"),
    ("extraction", "studies"),
    ("extraction", "outcomes"),
)


def _require_file(config: dict[str, Any], section: str, key: str, where: str) -> None:
    """A file named by ``section.key`` that does not exist: ConfigError naming the config line
    that names it (the loaders would say 'file not found' with a fix about re-running a stage)."""
    path = config[section][key]
    if Path(path).is_file():
        return
    line = _key_line(where, (section,), key) if Path(where).is_file() else None
    raise ConfigError(
        f"{section}.{key} names {path}, which {'is not a file' if Path(path).exists() else 'does not exist'}",
        where=f"{where}:{line}" if line else where,
        fix=f"correct the path under {section}: {key}: (relative to the review folder, where snakemake and livingreview run), or create the file",
    )


def check_inputs(config: dict[str, Any], *, where: str = "config/config.yaml") -> tuple[dict[str, Any], RunLayout]:
    """``validate_inputs`` plus the runs' layout it read (Snakemake's start reads each manifest once)."""
    from .decisions import load_decisions
    from .dedup import load_dedup_decisions
    from .extraction import check_column_names, load_outcomes, load_studies
    from .report import load_risk_of_bias
    from .screening import load_rules

    validate_config(config, where=where)
    for section, key in REQUIRED_FILES:
        _require_file(config, section, key, where)
    summary: dict[str, Any] = {}
    rules = load_rules(config["screening"]["rules"])
    summary["screening rules"] = len(rules.rules)
    dedup_path = config["dedup"]["decisions"]
    if Path(dedup_path).exists():
        utf8_text(dedup_path, error=InputFormatError)  # its loader would raise a UnicodeDecodeError traceback
        summary["dedup decisions"] = len(load_dedup_decisions(dedup_path))
    summary["screening decisions"] = len(load_decisions(config["screening"]["decisions"], rules.reasons))
    studies = load_studies(config["extraction"]["studies"])
    summary["studies"] = len(studies)
    summary["outcome rows"] = len(load_outcomes(config["extraction"]["outcomes"], studies))
    rob_path = config["extraction"].get("risk_of_bias")
    if rob_path and Path(rob_path).exists():
        utf8_text(rob_path, error=InputFormatError)
        check_column_names(rob_path)
        summary["risk-of-bias rows"] = len(load_risk_of_bias(rob_path, {s.study_id for s in studies}))
    root = config["searches"]["root"]
    if not Path(root).is_dir():  # list_runs would find no run: a review of nothing, built without a word
        line = _key_line(where, ("searches",), "root") if Path(where).is_file() else None
        raise ConfigError(
            f"searches.root names {root}, which is not a folder, so no archived search run would be read",
            where=f"{where}:{line}" if line else where,
            fix="correct the path under searches: root: (relative to the review folder), or archive a first run with `livingreview search pubmed` or `livingreview add-run`",
        )
    layout = run_layout(config)
    summary["search runs"] = len(layout.run_ids)
    summary["archived search files"] = len(layout.files)
    return summary, layout
