"""`livingreview validate`: the config and every human-edited table, checked before any job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigSources, validate_config
from .errors import ConfigError
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


def _require_file(config: dict[str, Any], section: str, key: str, where: str | ConfigSources) -> None:
    """A file named by ``section.key`` that does not exist: ConfigError naming the config line
    that names it (the loaders would say 'file not found' with a fix about re-running a stage)."""
    path = config[section][key]
    if Path(path).is_file():
        return
    raise ConfigError(
        f"{section}.{key} names {path}, which {'is not a file' if Path(path).exists() else 'does not exist'}",
        where=ConfigSources.of(where).at((section, key)),
        fix=f"correct the path under {section}: {key}: (relative to the review folder, where snakemake and livingreview run), or create the file",
    )


def check_domains(config: dict[str, Any], reported: set[str], *, where: str | ConfigSources = "config/config.yaml") -> None:
    """An analysis ``domain`` or a ``direction_domains`` entry that is the domain of no outcomes.tsv
    row and no key of ``synthesis.domain_labels`` is a ConfigError naming its config line: domains
    are the protocol's own ids (no fixed list in the schema), so a misspelt one would silently select
    no outcome (k = 0, an empty SWiM column). A domain no study has reported yet is declared by
    giving it a label."""
    import difflib

    synthesis = config.get("synthesis") or {}
    known = reported | set(synthesis.get("domain_labels") or {})
    uses: list[tuple[str, tuple[Any, ...], Any]] = [
        (f"analysis '{a.get('id')}': domain", ("synthesis", "analyses", i), "domain") for i, a in enumerate(synthesis.get("analyses") or [])
    ]
    uses += [("direction_domains entry", ("synthesis", "direction_domains"), i) for i in range(len(synthesis.get("direction_domains") or []))]
    for what, parents, last in uses:
        value: Any = synthesis
        for key in (*parents[1:], last):
            value = value[key]
        if value in known:
            continue
        close = difflib.get_close_matches(value, sorted(known), n=1)
        raise ConfigError(
            f"{what} '{value}' is the domain of no row of {config['extraction']['outcomes']} and has no synthesis.domain_labels entry, "
            "so it would select no outcome",
            where=ConfigSources.of(where).at((*parents, last)),
            fix=(f"did you mean '{close[0]}'? " if close else "")
            + f"use a domain of outcomes.tsv ({', '.join(sorted(reported)) or 'none yet'}); for a domain no study has reported yet, "
            "give it a label under synthesis: domain_labels:",
        )


def check_inputs(config: dict[str, Any], *, where: str | ConfigSources = "config/config.yaml") -> tuple[dict[str, Any], RunLayout]:
    """``validate_inputs`` plus the runs' layout it read (Snakemake's start reads each manifest once)."""
    from .decisions import load_decisions, refuse_future_dates
    from .dedup_decisions import load_dedup_decisions
    from .effects import check_analyses
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
        dedup = load_dedup_decisions(dedup_path)
        refuse_future_dates((d.date, d.where) for d in dedup)
        summary["dedup decisions"] = len(dedup)
    decisions = load_decisions(config["screening"]["decisions"], rules.reasons)
    refuse_future_dates((d.date, f"{d.source}:{d.line}") for d in decisions)
    summary["screening decisions"] = len(decisions)
    studies = load_studies(config["extraction"]["studies"])
    summary["studies"] = len(studies)
    outcomes = load_outcomes(config["extraction"]["outcomes"], studies)
    summary["outcome rows"] = len(outcomes)
    check_domains(config, {o.domain for o in outcomes}, where=where)
    # the effects stage's refusals of ties and of ratio analyses mixing directions, from the tables alone
    check_analyses(config["synthesis"], studies, outcomes, source=str(config["extraction"]["outcomes"]))
    rob_path = config["extraction"].get("risk_of_bias")
    if rob_path and Path(rob_path).exists():
        check_column_names(rob_path)
        summary["risk-of-bias rows"] = len(load_risk_of_bias(rob_path, {s.study_id for s in studies}))
    root = config["searches"]["root"]
    if not Path(root).is_dir():  # list_runs would find no run: a review of nothing, built without a word
        raise ConfigError(
            f"searches.root names {root}, which is not a folder, so no archived search run would be read",
            where=ConfigSources.of(where).at(("searches", "root")),
            fix="correct the path under searches: root: (relative to the review folder), or archive a first run with `livingreview search pubmed` or `livingreview add-run`",
        )
    layout = run_layout(config)
    summary["search runs"] = len(layout.run_ids)
    summary["archived search files"] = len(layout.files)
    return summary, layout
