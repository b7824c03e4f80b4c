"""The review report: one context built from results/ and the config, rendered to HTML and Markdown."""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from .config import SCHEMA_DIR, TEMPLATE_DIR, WORKFLOW_DIR
from .constants import (
    OUTCOME_AWAITING,
    OUTCOME_EXCLUDED,
    OUTCOME_INCLUDED,
    RATIO_NAMES,
    REGISTERS,
    column_label,
    direction_words,
    hksj_words,
    ratio_direction_note,
    shown_groups,
    shown_interval,
    shown_sign,
    subgroup_label,
    wald_test_beside_knapp_hartung,
    window_text,
)
from .errors import InputFormatError
from .prisma import update_notes
from .runs import RunFile, already_archived_note, list_runs, load_manifest, run_sort_key, sha256_file
from .tables import format_fixed, read_json, read_tsv, workdir_relative, write_text

LOG = logging.getLogger(__name__)

PACKAGES: tuple[str, ...] = (
    "livingreview",
    "snakemake",
    "biopython",
    "rapidfuzz",
    "statsmodels",
    "pandas",
    "numpy",
    "scipy",
    "matplotlib",
    "jinja2",
    "lxml",
    "jsonschema",
    "pyyaml",
    "cairosvg",
)
ROB_DOMAINS: tuple[str, ...] = ("D1", "D2", "D3", "D4", "D5", "overall")
ROB_COLOURS = {"low": "#4caf50", "some concerns": "#ffc107", "high": "#e53935"}
ROB_SCHEMA = SCHEMA_DIR / "risk_of_bias.schema.yaml"
MEASURE_WORDS = {
    "MD": "mean difference",
    "SMD": "standardized mean difference",
    "RR": "risk ratio",
    "OR": "odds ratio",
    "RD": "risk difference",
}


# --- small pure helpers ----------------------------------------------------------------------


def strip_xml_prolog(svg: str) -> str:
    """An SVG document without its XML declaration and DOCTYPE, ready to inline in HTML."""
    svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg)
    return re.sub(r"^\s*<!DOCTYPE[^>]*>\s*", "", svg)


def svg_data_uri(svg: str) -> str:
    """A data: URI of an SVG (figures from matplotlib share element ids, so they are not inlined raw)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def number(value: Any, digits: int = 2) -> str:
    """A number written with fixed decimals ('' for None)."""
    if value is None or value == "":
        return ""
    return format_fixed(float(value), digits)


def effect_in_words(entry: Mapping[str, Any], *, measure: str, log_scale: bool, sign: float = 1.0) -> str:
    """'12.70 (95% CI 2.55 to 22.85)' for a study or pooled estimate; ratios back-transformed, and with
    ``sign`` -1 (constants.shown_sign: a ratio of a lower-is-better outcome) turned back from the harmonised
    log(control / intervention) into the ratio intervention / control."""
    est, lo, hi = entry.get("yi", entry.get("estimate")), entry.get("ci_low"), entry.get("ci_high")
    if est is None:
        return "not estimable"
    est, lo, hi = shown_interval(est, lo, hi, sign)
    if log_scale:
        est, lo, hi = (math.exp(float(x)) if x is not None else None for x in (est, lo, hi))
    text = number(est)
    if lo is not None and hi is not None:
        text += f" (95% CI {number(lo)} to {number(hi)})"
    return text


def prediction_in_words(summary: Mapping[str, Any], *, log_scale: bool) -> str:
    """'95% prediction interval -1.33 to 2.28' (ratios back-transformed, as intervention / control), or why there is none."""
    lo, hi = summary.get("pi_low"), summary.get("pi_high")
    if lo is None or hi is None:
        return "no prediction interval (fixed-effect model, or fewer than 3 studies)"
    _, lo, hi = shown_interval(None, lo, hi, shown_sign(summary))
    if log_scale:
        lo, hi = math.exp(float(lo)), math.exp(float(hi))
    return f"95% prediction interval {number(lo)} to {number(hi)}"


def count_words(n: int, singular: str, plural: str | None = None) -> str:
    """'1 trial', '5 trials'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


# --- context ---------------------------------------------------------------------------------


def search_methods(config: Mapping[str, Any], runs_root: str | os.PathLike[str]) -> dict[str, Any]:
    """PRISMA-S facts: strategies from the config and every archived run's manifest."""
    runs = []
    for run_dir in list_runs(runs_root):
        manifest = load_manifest(run_dir)
        runs.append(
            {
                "run_id": manifest.run_id,
                "date_run": manifest.date_run,
                "description": manifest.description,
                "files": [
                    {
                        "name": f.name,
                        "path": f"{Path(runs_root).as_posix()}/{manifest.run_id}/{f.name}",
                        "database": f.database,
                        "platform": f.platform,
                        "format": f.format,
                        "query": f.query,
                        "query_translation": f.query_translation,
                        "limits": date_limits_in_words(f.date_limits),  # with pdat / edat for a live search
                        "count_reported": f.count_reported,
                        "count_in_file": f.count_in_file,
                        "sha256": f.sha256,
                        "notes": f.notes,
                        "left_out": left_out_note(f),
                    }
                    for f in sorted(manifest.files, key=lambda f: f.name)
                ],
            }
        )
    searches = config["searches"]
    sources = []
    for s in searches["sources"]:
        source = dict(s)
        source["archived"] = archived_queries(runs, str(s["database"]))
        source["not_in_config"] = False
        strategy = _squash(source.get("strategy", ""))
        source["protocol_differs"] = bool(source["archived"]) and bool(strategy) and all(_squash(q["query"]) != strategy for q in source["archived"])
        sources.append(source)
    configured = {str(s["database"]) for s in searches["sources"]}
    for database in sorted({f["database"] for run in runs for f in run["files"]} - configured):
        archived = archived_queries(runs, database)
        sources.append({"database": database, "platform": archived[0]["platform"] or database, "strategy": "", "not_in_config": True,
                        "kind": "register" if database in REGISTERS else "database", "archived": archived, "protocol_differs": False})
    return {
        "reconstructed": bool(searches.get("reconstructed")),
        "reconstruction_note": str(searches.get("reconstruction_note") or ""),
        "date_from": searches.get("date_from", ""),
        "date_to": searches.get("date_to", ""),
        "sources": sources,
        "runs": runs,
        # records of an archived search that earlier runs hold: left out of its run (left_out_note)
        "left_out": [{"run_id": run["run_id"], "path": f["path"], "note": f["left_out"]} for run in runs for f in run["files"] if f["left_out"]],
    }


def left_out_note(f: RunFile) -> str:
    """What the search table says about records of an archived search that earlier runs hold ("" when none):
    for an export archived whole (add-run), the note on the records its manifest lists as already
    archived; for a `search pubmed` run, which keeps them out of its file, the part of its notes that
    says how many and which runs hold them. They are not records identified by this run (PRISMA)."""
    if f.already_archived:
        return already_archived_note(f.already_archived, f.count_in_file)
    return next((part.strip() for part in f.notes.split("; ") if "already archived and left out" in part), "")


def _squash(text: str | None) -> str:
    """A query compared across config and manifests: the same words, whitespace (and line breaks) aside."""
    return " ".join(str(text or "").split())


def date_limits_in_words(limits: Mapping[str, Any]) -> str:
    """'inception to 2025/09/30' (with the date type when recorded) for one archived file's manifest
    date_limits; 'from X' or 'to Y' when it records only one end, 'not reported' when it records
    neither (an export archived by add-run without --date-from/--date-to)."""
    start, end = limits.get("from") or "", limits.get("to") or ""
    text = f"{start} to {end}" if start and end else f"from {start}" if start else f"to {end}" if end else "not reported"
    return text + (f" ({limits['datetype']})" if limits.get("datetype") else "")


def archived_queries(runs: Sequence[Mapping[str, Any]], database: str) -> list[dict[str, Any]]:
    """The exact queries the archived manifests record for ``database``, each once, with every search
    (run, date run, file, date limits) that ran it, oldest run first. PRISMA-S asks for the strategy as
    run; the config's strategy is only the protocol's (the next search's)."""
    groups: dict[str, dict[str, Any]] = {}
    for run in runs:
        for f in run["files"]:
            if f["database"] != database:
                continue
            query, translation = str(f.get("query") or ""), str(f.get("query_translation") or "")
            group = groups.setdefault(_squash(query), {"query": query, "translations": [], "platform": f.get("platform", ""), "searches": []})
            group["searches"].append({"run_id": run["run_id"], "date_run": run["date_run"], "file": f["name"], "limits": f["limits"]})
            if translation:
                # the database's translation of the same query can change between runs (MeSH updates)
                same = next((t for t in group["translations"] if _squash(t["text"]) == _squash(translation)), None)
                if same is None:
                    group["translations"].append({"text": translation, "runs": [run["run_id"]]})
                elif run["run_id"] not in same["runs"]:
                    same["runs"].append(run["run_id"])
    return list(groups.values())


def other_methods(search: Mapping[str, Any]) -> dict[str, Any]:
    """PRISMA 2020 item 6 / PRISMA-S items 4-7 for this build: the sources its archived runs searched
    (``search_methods``), the configured ones not yet searched, and the sources the config declares
    of kind ``other`` (websites, citation searching, ...); the pipeline itself runs nothing else."""
    searched = [str(s.get("platform") or s["database"]) for s in search["sources"] if s["archived"]]
    planned = [str(s.get("platform") or s["database"]) for s in search["sources"] if not s["archived"]]
    other = [str(s.get("platform") or s["database"]) for s in search["sources"] if s.get("kind") == "other"]
    text = (f"This build searched only {_and(searched)}, through the archived search runs listed above" if searched
            else "This build has searched no source yet (no archived search run)")
    if planned:
        text += f"; {_and(planned)} {'is' if len(planned) == 1 else 'are'} in config/config.yaml but not yet searched"
    if other:
        text += (f". Other methods: only the sources config/config.yaml declares of kind other ({_and(other)}), whose records enter as "
                 "archived runs; the pipeline itself ran no citation searching and contacted no authors.")
    else:
        text += (". No other methods were run by this pipeline: no citation searching (reference lists or citing articles), no contacting "
                 "of authors, experts or manufacturers, no browsing of websites (config/config.yaml declares no source of kind other).")
    return {"searched": searched, "not_yet_searched": planned, "other_declared": other, "text": text}


def _and(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}" if items else ""


# The pair features of dedup.MATCH_RULES in words (their values are shown as the rules hold them).
DEDUP_FEATURE_WORDS = {
    "title": "title similarity",
    "title_length": "title length",
    "title_numbers": "numbers in the titles",
    "title_words": "content words of the titles",
    "year": "year",
    "first_author": "first author",
    "authors": "author-list similarity",
    "journal": "journal",
    "volume": "volume",
    "page": "first page",
}


def match_rule_in_words(conditions: Sequence[tuple[str, str, Any]]) -> str:
    """One fuzzy dedup rule's conditions, read from the rule itself: 'title similarity ≥ 0.95; year same or adjacent; ...'."""
    parts = []
    for name, op, value in conditions:
        label = DEDUP_FEATURE_WORDS.get(name, name)
        if op == "in":
            parts.append(f"{label} {' or '.join(str(v) for v in value)}")
        elif op == ">=" and float(value) >= 1.0:
            parts.append(f"{label} {format_fixed(float(value), 2)} (identical after normalisation)")
        else:
            parts.append(f"{label} {'≥' if op == '>=' else '≤'} {format_fixed(float(value), 2)}")
    return "; ".join(parts)


def deduplication(
    config: Mapping[str, Any],
    ledger: Sequence[Mapping[str, str]],
    maybe_pairs: Sequence[Mapping[str, str]],
    decisions_path: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """PRISMA-S item 16: how duplicates were found and how many each rule removed.

    The identifiers, fuzzy rules and thresholds are those dedup.py applies (RULE_PMID, RULE_DOI,
    MATCH_RULES, MAYBE_LOW, LONG_TITLE); the duplicates per rule are the ledger's dedup rows (all search
    runs); ``maybe_pairs`` are the rows of results/dedup/maybe_pairs.tsv and ``decisions_path`` the
    human link / keep-apart decisions (config dedup.decisions; None or a missing file: none).
    """
    from . import dedup as dd
    from .constants import OUTCOME_DUPLICATE

    removed = Counter(r["reason"] for r in ledger if r["stage"] == dd.DEDUP_STAGE and r["outcome"] == OUTCOME_DUPLICATE)
    rules = [
        {"id": dd.RULE_HUMAN, "kind": "human", "what": f"a person's link decision ({config.get('dedup', {}).get('decisions', '')})"},
        {"id": dd.RULE_PMID, "kind": "exact", "what": "the same PMID"},
        {"id": dd.RULE_DOI, "kind": "exact", "what": "the same DOI (normalised: lower case, no resolver prefix)"},
        *({"id": r.id, "kind": "fuzzy", "what": match_rule_in_words(r.conditions)} for r in dd.MATCH_RULES),
    ]
    known = {r["id"] for r in rules}
    rules += [{"id": rid, "kind": "other", "what": "a rule this code no longer has (recorded in the ledger)"} for rid in sorted(set(removed) - known)]
    for r in rules:
        r["removed"] = removed.get(r["id"], 0)
    below = sum(1 for p in maybe_pairs if p.get("rule") == "below rules")
    exists = bool(decisions_path) and Path(str(decisions_path)).exists()
    decisions = dd.load_dedup_decisions(decisions_path) if exists else []
    path = str(config.get("dedup", {}).get("decisions", "") or "")
    method = (
        "Records of all search runs are deduplicated together (workflow/livingreview/dedup.py). Exact identifiers link first: "
        f"the same PMID ({dd.RULE_PMID}), then the same DOI ({dd.RULE_DOI}). Then every pair of records that share a blocking key "
        "(the beginning or end of the title, first author and year, first author and first page) and have a title similarity of at "
        f"least {format_fixed(dd.MAYBE_LOW, 2)} is linked by the first fuzzy rule below whose conditions all hold. A link is refused "
        "when its cluster would hold two DOIs, two PMIDs, two kinds of report (publication, registration, erratum, retraction, "
        "preprint, conference abstract), two trial registrations or two records a person kept apart. The identifiers, rules and "
        "thresholds are those of the code; the dedup section of config/config.yaml names the file of human link and keep-apart "
        f"decisions ({path or 'none'}), which apply before any rule."
    )
    legend = (
        "Similarities run from 0 to 1 (rapidfuzz: ratio of the normalised titles; token-set ratio of the author lists). "
        "same, differ and missing compare a field of the two records (missing: absent from either); a year adjacent is one "
        f"year apart; a title length long is both normalised titles at least {dd.LONG_TITLE} characters; content words same or typo: "
        "every content word of one title is in the other, or one edit from one of its words."
    )
    n = len(maybe_pairs)
    left = (f"Near-matches left to people: {n} pair{'' if n == 1 else 's'} of records not linked automatically "
            f"({below} below the rules, {n - below} matching a rule or identifier but refused), listed in results/dedup/maybe_pairs.tsv "
            "for a person to decide." if n else "Near-matches left to people: none (results/dedup/maybe_pairs.tsv is empty).")
    link = sum(1 for d in decisions if d.decision == dd.DECISION_LINK)
    if decisions:
        left += (f" Human dedup decisions: {len(decisions)} in {path} ({link} link{'' if link == 1 else 's'}, "
                 f"{len(decisions) - link} keep apart).")
    else:
        left += f" Human dedup decisions: none ({path} holds no decision)." if exists else f" Human dedup decisions: none ({path or 'no file'} is absent)."
    return {
        "method": method,
        "legend": legend,
        "rules": rules,
        "removed_total": sum(removed.values()),
        "left": left,
        "maybe_pairs": n,
        "maybe_below_rules": below,
        "decisions": len(decisions),
        "decisions_link": link,
    }


# Screening stages of agreement.json: (label, what is screened, singular, plural).
SCREENING_STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("title_abstract", "Title/abstract", "record", "records"),
    ("full_text", "Full text", "report", "reports"),
)


def screening_reviewers(
    agreement: Mapping[str, Any], ledger: Sequence[Mapping[str, str]], *, decisions_file: str = "resources/screening/decisions.tsv"
) -> dict[str, Any]:
    """PRISMA 2020 item 8: how many people screened each record (title/abstract) and each report (full
    text) and whether independently, from results/screening/agreement.json (decisions.agreement), with
    the number screened from the ledger. Returns {"stages": [{"stage", "label", "text"}], "limitations": [...]}.

    Raises:
        InputFormatError: agreement.json lacks a stage or a stage's ``reviewers`` / ``pairs``.
    """
    where, fix = "results/screening/agreement.json", "re-run the screen_records rule"
    stages, single = [], []
    outcomes = Counter((r["stage"], r["outcome"]) for r in ledger)  # one pass over the ledger for both stages
    for stage, label, item, items in SCREENING_STAGES:
        entry = agreement.get(stage)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("reviewers"), list) or not isinstance(entry.get("pairs"), list):
            raise InputFormatError(f"stage {stage!r} lacks its 'reviewers' or 'pairs'", where=where, fix=fix)
        reviewers = [str(r) for r in entry["reviewers"]]
        n = outcomes[stage, OUTCOME_INCLUDED] + outcomes[stage, OUTCOME_EXCLUDED]
        screened = f"{n} {item if n == 1 else items}"
        # records still awaiting a decision at this stage: PRISMA counts them as screened, no one decided them yet
        waiting = outcomes[stage, OUTCOME_AWAITING]
        every = f"every {item} decided so far" if waiting else f"every {item}"
        if not reviewers:
            text = f"{label}: no {item} was decided by a person ({entry.get('why') or 'no human decisions at this stage'})."
        elif len(reviewers) == 1:
            # the reviewer between commas, not in parentheses: a name may hold some ("curation (shared/evidence)")
            text = f"{label}: one reviewer, {reviewers[0]}, screened {every} ({screened}); no {item} was screened by a second, independent reviewer."
            single.append((label.lower(), item, screened, reviewers[0]))
        else:
            text = (f"{label}: {screened} screened by {len(reviewers)} reviewers ({', '.join(reviewers)}), independently: each reviewer's "
                    f"decision is a row of its own in {decisions_file}, a disagreement is settled by a consensus (resolution) row, and "
                    "agreement compares each reviewer's first decision, made before any discussion changed it.")
            for pair in entry["pairs"]:
                a, b = (str(x) for x in pair["reviewers"])
                k = int(pair["n"])
                agreed = round(float(pair["agreement"]) * k)
                kappa = (f"Cohen's kappa {format_fixed(float(pair['kappa']), 2)}" if pair.get("kappa") is not None
                         else f"Cohen's kappa not defined ({pair.get('why') or 'no variation in decisions'})")
                both = f"all {screened}" if k == n else f"{k} of the {screened}"
                text += f" {a} and {b} both screened {both}: {kappa}; they agreed on {agreed} of {k}."
            if entry["pairs"]:
                # records no two reviewers decided: single screening, however many reviewers the stage had
                one_only = max(n - _screened_by_two(entry, stage), 0)
                if one_only:
                    text += f" The other {one_only} {item if one_only == 1 else items} were screened by one reviewer only."
                    single.append((label.lower(), item, f"{one_only} of the {screened}", ""))
            else:
                text += f" No {item} was screened by two of them ({entry.get('why', '')})."
                single.append((label.lower(), item, screened, " or ".join(reviewers)))
        if waiting:
            text += f" {waiting} {item if waiting == 1 else items} {'awaits' if waiting == 1 else 'await'} a decision."
        stages.append({"stage": stage, "label": label, "reviewers": reviewers, "n": n, "text": text})
    limitations = []
    if single:
        who = {s[3] for s in single}
        by = f"one reviewer, {single[0][3]}," if len(who) == 1 and single[0][3] else "one reviewer"
        # a whole stage: "each record at title/abstract (18 records)"; part of one: "18 of the 19 records at title/abstract"
        what = _and([f"each {item} at {stage} ({screened})" if who_ else f"{screened} at {stage}" for stage, item, screened, who_ in single])
        limitations.append(f"Single-reviewer screening: {by} screened {what}, with no independent second reviewer; "
                           "single screening is known to miss eligible studies that independent dual screening finds, so studies may have been missed.")
    return {"stages": stages, "limitations": limitations}


def _screened_by_two(entry: Mapping[str, Any], stage: str) -> int:
    """The records of a stage of agreement.json that two or more reviewers decided. An agreement.json
    written before it held that count gives it only when one pair of reviewers shared records."""
    if "screened_by_two_or_more" in entry:
        return int(entry["screened_by_two_or_more"])
    if len(entry["pairs"]) == 1:
        return int(entry["pairs"][0]["n"])
    raise InputFormatError(f"stage {stage!r} lacks 'screened_by_two_or_more'", where="results/screening/agreement.json", fix="re-run the screen_records rule")


def automation_rules(rules_path: str | os.PathLike[str], ledger: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Each screening rule in plain words with the number of records it excluded (from the ledger)."""
    from .screening import load_rules

    ruleset = load_rules(rules_path)
    excluded = Counter(r["reference"] for r in ledger if r["stage"] == "automation" and r["outcome"] == OUTCOME_EXCLUDED)
    return [
        {
            "id": rule.id,
            "label": rule.label,
            "description": rule.description,
            "reason": ruleset.reasons.get(rule.reason, rule.reason),
            "excluded": excluded.get(rule.id, 0),
        }
        for rule in ruleset.rules
    ]


def exclusions(ledger: Sequence[Mapping[str, str]], titles: Mapping[str, str], stage: str) -> list[dict[str, str]]:
    """Records excluded at ``stage`` with reason, reference and title, sorted by reason then record."""
    rows = [
        {
            "record_id": r["record_id"],
            "cluster_id": r["cluster_id"],
            "reason": r["reason"],
            "reference": r["reference"],
            "title": titles.get(r["record_id"], ""),
        }
        for r in ledger
        if r["stage"] == stage and r["outcome"] == OUTCOME_EXCLUDED
    ]
    return sorted(rows, key=lambda r: (r["reason"], r["record_id"]))


def reason_counts(rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """[{reason, n}] most frequent first, then alphabetical."""
    counter = Counter(r["reason"] for r in rows)
    return [{"reason": k, "n": v} for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def analysis_context(summary: Mapping[str, Any], figures: Mapping[str, str]) -> dict[str, Any]:
    """One analysis for the report: the numbers written out in words and its figures.

    A ratio is written as intervention / control whatever the outcome's direction (constants.shown_sign)."""
    measure = summary.get("measure", "")
    log_scale = bool(summary.get("log_scale"))
    sign = shown_sign(summary)
    words = MEASURE_WORDS.get(measure, measure)
    studies = []
    for s in summary.get("studies", []):
        studies.append(
            {
                "study": s["study"],
                "scale": s.get("scale", ""),
                "outcome_id": s.get("outcome_id", ""),
                "inferred": bool(s.get("inferred")),
                # how the drawn estimate and CI came from the numbers as reported (outcomes.tsv), e.g.
                # "Feder2014#1: MD 12.7 (95% CI 2.5 to 22.8); vi from the CI; ...": the CI drawn is yi +/- 1.96 SE
                "how": s.get("how", "") or "",
                "text": f"{s['study']}: {words} {effect_in_words(s, measure=measure, log_scale=log_scale, sign=sign)}"
                + (f" on {s['scale']}" if s.get("scale") else "")
                + (" (inferred value)" if s.get("inferred") else ""),
            }
        )
    pooled = bool(summary.get("pooled"))
    if pooled:
        text = (
            f"Pooled {words} ({summary.get('method')}{', ' + hksj_words(True, bool(summary.get('hksj_adhoc'))) if summary.get('hksj') else ''}, k = {summary.get('k')}): "
            f"{effect_in_words(summary, measure=measure, log_scale=log_scale, sign=sign)}; {prediction_in_words(summary, log_scale=log_scale)}; "
            f"tau² {number(summary.get('tau2'), 3)}{_tau2_ci_words(summary)}; I² {number(summary.get('i2'), 1)}%{_q_words(summary)}."
        )
    else:
        text = f"Not pooled: {summary.get('reason', 'no reason recorded')}."
    return {
        "id": summary.get("analysis", ""),
        "title": summary.get("title", summary.get("analysis", "")),
        "primary": bool(summary.get("primary")),
        "measure": words,
        "direction": (
            ratio_direction_note(measure, str(summary.get("intervention_label") or "the intervention"), lower_is_better=bool(summary.get("lower_is_better")))
            if log_scale and measure in RATIO_NAMES and summary.get("direction") else summary.get("direction", "")
        ),
        "pooled": pooled,
        "summary_text": text,
        "subgroups": subgroups_in_words(summary, measure=measure, log_scale=log_scale, sign=sign) if pooled else subgroups_not_run_words(summary),
        "sensitivity": leave_one_out_in_words(summary, log_scale=log_scale) if pooled else "",
        "studies": studies,
        "not_estimable": [dict(n) for n in summary.get("not_estimable", [])],
        "egger": summary.get("egger"),
        "funnel_drawn": bool((summary.get("funnel") or {}).get("drawn")) and "funnel" in figures,
        "reporting_bias": reporting_bias_in_words(summary),
        "figures": dict(figures),
    }


def _tau2_ci_words(summary: Mapping[str, Any]) -> str:
    """' (95% CI 0.000 to 2.188)' for the Q-profile CI of tau², '' when the JSON has none (fixed effect)."""
    lo, hi = summary.get("tau2_ci_low"), summary.get("tau2_ci_high")
    return f" (95% CI {number(lo, 3)} to {number(hi, 3)})" if lo is not None and hi is not None else ""


def _q_words(summary: Mapping[str, Any]) -> str:
    """'; Q = 7.03 (df = 3, p = 0.071)' (Cochran's Q of the pooled studies), '' when the JSON has none."""
    q, q_p, k = summary.get("q"), summary.get("q_p"), summary.get("k")
    return f"; Q = {number(q)} (df = {int(k) - 1}, p = {number(q_p, 3)})" if q is not None and q_p is not None and k else ""


def subgroups_in_words(summary: Mapping[str, Any], *, measure: str, log_scale: bool, sign: float = 1.0) -> list[str]:
    """One sentence per configured subgroup analysis of a pooled analysis: each subgroup's estimate
    with its 95% CI and k (studies with no value for the column last, marked as not in the test), and
    the test for subgroup differences (Q-between, with the standard errors it used when the subgroup CIs
    are Knapp-Hartung) and which studies are not in it, or why there is no test."""
    out: list[str] = []
    for column, sub in sorted((summary.get("subgroups") or {}).items()):
        column = subgroup_label(column, sub)  # the column in words (analysis JSON, else constants)
        if not sub.get("run"):
            out.append(f"Subgroups by {column}: not run ({sub.get('reason') or 'no reason recorded'}).")
            continue
        parts = []
        for name, g in shown_groups(sub):
            est = effect_in_words(g, measure=measure, log_scale=log_scale, sign=sign)  # "0.99 (95% CI -0.27 to 2.25)"
            label, extra = (f"{column} not reported", "; not in the test") if g.get("reported") is False else (name, "")
            parts.append(f"{label} {est[:-1]}; k = {g.get('k')}{extra})" if est.endswith(")") else f"{label} {est} (k = {g.get('k')}{extra})")
        text = "; ".join(parts)
        if sub.get("q_between") is not None:
            text += f"; test for subgroup differences Q = {number(sub['q_between'])}, df = {sub.get('df')}, p = {number(sub.get('p'), 3)}"
            text += subgroup_test_se_words(summary, sub)
            if sub.get("not_in_test"):
                text += f"; {sub['not_in_test']['why']}"
        else:
            text += f"; no test for subgroup differences ({sub.get('reason') or 'fewer than 2 subgroups'})"
        out.append(f"Subgroups by {column}: {text}.")
    return out


def subgroups_not_run_words(summary: Mapping[str, Any]) -> list[str]:
    """For an analysis that was not pooled: its configured subgroup analyses, not run, with the reason
    ('Subgroups by active or inactive comparator, dose, single or repeated infusions: not run (analysis not
    pooled).', each column in words as the analysis JSON labels it), so the report does
    not promise subgroup analyses in its methods and then pass over them; [] when none is configured."""
    by_reason: dict[str, list[str]] = {}
    for column, sub in sorted((summary.get("subgroups") or {}).items()):
        if not sub.get("run"):
            by_reason.setdefault(str(sub.get("reason") or "no reason recorded"), []).append(subgroup_label(column, sub))
    return [f"Subgroups by {', '.join(columns)}: not run ({reason})." for reason, columns in by_reason.items()]


def subgroup_test_se_words(summary: Mapping[str, Any], sub: Mapping[str, Any]) -> str:
    """' (from each subgroup's Wald standard error, not the Knapp-Hartung one of its CI)' when the test used
    Wald standard errors and the subgroup CIs are Knapp-Hartung; '' otherwise (the test's SEs are those shown)."""
    if wald_test_beside_knapp_hartung(summary, sub):
        return " (from each subgroup's Wald standard error, not the Knapp-Hartung one of its CI)"
    return ""


def leave_one_out_in_words(summary: Mapping[str, Any], *, log_scale: bool) -> str:
    """'Leave-one-out: the pooled estimate ranged from a (without X) to b (without Y).' ('' below 3 studies)."""
    rows = [r for r in summary.get("leave_one_out") or [] if r.get("estimate") is not None]
    if not rows:
        return ""
    sign = shown_sign(summary)  # a ratio of a lower-is-better outcome is shown as intervention / control, exp(-estimate)
    low, high = min(rows, key=lambda r: sign * r["estimate"]), max(rows, key=lambda r: sign * r["estimate"])
    tf = math.exp if log_scale else float
    return (f"Leave-one-out: the pooled estimate ranged from {number(tf(sign * low['estimate']))} (without {low['omitted']}) "
            f"to {number(tf(sign * high['estimate']))} (without {high['omitted']}).")


def reporting_bias_in_words(summary: Mapping[str, Any]) -> str:
    """The funnel plot and Egger's test of one analysis in words: drawn/run, or why not."""
    funnel = summary.get("funnel") or {}
    egger = summary.get("egger") or {}
    if funnel.get("drawn"):
        words = [f"Funnel plot: drawn from {summary.get('k')} studies (below)."]
    else:
        words = [f"Funnel plot: not drawn ({funnel.get('reason') or 'no reason recorded'})."]
    if egger.get("run"):
        # as the funnel plot draws it: a ratio as intervention / control (sign -1: the harmonised
        # log(control / intervention) of a lower-is-better outcome turned back), back-transformed
        sign = shown_sign(summary)
        limit = egger.get("limit_estimate")
        if limit is not None:
            limit = math.exp(sign * float(limit)) if summary.get("log_scale") else float(limit)
        t = egger.get("t")
        words.append(f"Egger's test (metafor regtest, model \"lm\"): t = {number(None if t is None else sign * float(t))}, df = {egger.get('df')}, "
                     f"p = {number(egger.get('p'), 3)}; limit estimate {number(limit)}"
                     + (f" ({MEASURE_WORDS.get(str(summary.get('measure')), '')}, {summary.get('intervention_label') or 'intervention'} / control)"
                        if summary.get("log_scale") else "") + ".")
    else:
        words.append(f"Egger's test: not run ({egger.get('reason') or 'no reason recorded'}).")
    return " ".join(words)


METHOD_WORDS = {
    "REML": "restricted maximum likelihood (REML)",
    "DL": "DerSimonian-Laird (DL)",
    "PM": "Paule-Mandel (PM)",
}


def _window_words(window: Mapping[str, Any] | None) -> str:

    return window_text(window, " after the start of the intervention")


def analysis_order(synthesis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The configured analyses in the one order the report uses (synthesis methods and results): the
    primary analysis first, then the others in the order of the config's synthesis.analyses."""
    return sorted(synthesis.get("analyses") or [], key=lambda a: not a.get("primary"))


def synthesis_methods(synthesis: Mapping[str, Any]) -> list[str]:
    """The synthesis methods (PRISMA 2020 items 12-15) in words, from the config's ``synthesis`` and
    what the effects and pooling stages do; protocol-neutral apart from the intervention's name."""
    label = str(synthesis.get("intervention_label") or "intervention")
    min_k = int(synthesis.get("min_k", 2))
    funnel_k = int(synthesis.get("funnel_min_k", 3))
    egger_k = int(synthesis.get("egger_min_k", 10))
    out: list[str] = []
    measures = set()
    for a in analysis_order(synthesis):
        measure, method = a["measure"], a.get("method", "REML")
        measures.add(measure)
        if method == "FE":
            model = "a fixed-effect (inverse-variance) model with a normal-theory 95% CI"
        else:
            ci = (f"{hksj_words(True, bool(a.get('hksj_adhoc')), long=True)} and 95% CI from the t distribution with k − 1 degrees of freedom"
                  if a.get("hksj") else "a normal-theory (Wald) 95% CI")
            model = f"a random-effects model, τ² by {METHOD_WORDS.get(method, method)}, with {ci}"
        scale = " (studies on one scale only)" if measure == "MD" else ""
        out.append(f"{a.get('title', a['id'])}{', the primary analysis' if a.get('primary') else ''}: {MEASURE_WORDS.get(measure, measure)}{scale}, "
                   f"{_window_words(a.get('timepoint_days'))}; {model}; pooled when at least {min_k} studies give an estimate.")
    ratios = " and ".join(f"{MEASURE_WORDS[m]}s" for m in ("RR", "OR") if m in measures)
    out.append(f"Every effect is signed so that positive values favour {label} (whether lower or higher scores are better is set per outcome)"
               + (f"; {ratios} above 1 favour {label} for an outcome where more events are better (response) and below 1 for one where "
                  f"fewer are (relapse, an adverse event): each ratio is shown as {label} / control and pooled on the log scale, and the "
                  "studies of one ratio analysis share one direction" if ratios else "") + ".")
    out.append("One estimate per study and analysis: primary-endpoint rows first, then arm-level data before reported contrasts. "
               "A multi-arm study contributes one comparison (arms are not combined), so a shared control group is never counted twice; "
               "when two comparisons (two arms, or two timepoints in the window) tie on that order and differ, the reviewers choose one "
               "(outcomes.tsv primary_endpoint), and each effect's derivation names the rows not used and why. "
               "No missing standard deviation was imputed: a mean difference without SDs gives no standardized mean difference.")
    if "SMD" in measures:
        out.append("Standardized mean differences from arm-level data are Hedges' g (metafor escalc); a standardized mean difference or "
                   "Cohen's d reported with its 95% CI is used as reported, without a small-sample correction.")
    if measures & {"RR", "OR", "RD"}:
        out.append("Ratios and differences come from 2x2 counts; 0.5 is added to every cell only when a cell is zero, and a study with no "
                   "events (or only events) in both arms gives no ratio.")
    out.append("Crossover trials: a paired (within-participant) estimate is used as reported; arm-level data from a crossover are "
               "analysed as parallel groups (conservative).")
    subgroups = sorted({c for a in synthesis.get("analyses", []) for c in a.get("subgroups", [])})
    sub_words = ""
    if subgroups:
        with_sub = [a for a in synthesis.get("analyses", []) if a.get("subgroups")]
        kh = any(a.get("hksj") for a in with_sub)
        tau = "τ² estimated separately within each subgroup, " if any(a.get("method", "REML") != "FE" for a in with_sub) else ""
        names = ", ".join(column_label(c, synthesis.get("subgroup_labels")) for c in subgroups)
        sub_words = (f"; subgroup analyses by {names} with a test for subgroup differences (Q-between: a fixed-effect Q across "
                     f"the subgroup estimates, {tau}each estimate with its Wald standard error"
                     + (", not the Knapp-Hartung one of the subgroup CI, which holds only with its t(k − 1) quantile" if kh else "")
                     + "; Cochrane Handbook 10.11.3.1); studies with no value for the subgroup variable are shown as a 'not reported' "
                     "subgroup and are not in the test")
    out.append("Heterogeneity: τ² with its Q-profile 95% CI, I² computed from τ², Cochran's Q and, from 3 studies, a 95% prediction interval "
               f"(estimate ± t(k − 2) × √(SE² + τ²); Higgins, Thompson & Spiegelhalter 2009){sub_words}.")
    out.append("Sensitivity: Leave-one-out analysis from 3 pooled studies; cumulative meta-analysis by publication year.")
    out.append(f"Reporting bias: a funnel plot from {funnel_k} studies and Egger's test from {egger_k} studies; below those numbers the "
               "report says why none is shown. Studies without usable numbers are shown by direction of effect (SWiM); no p values are combined.")
    out.append("The certainty of the evidence (GRADE) was not assessed.")
    return out


def limitations(
    studies: Sequence[Mapping[str, str]],
    direction: Sequence[Mapping[str, str]],
    primary: Mapping[str, Any] | None,
    *,
    analyses: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Limitations the data force, computed from the included studies and the synthesis outputs.

    ``analyses`` are the analysis JSONs: a crossover trial is said to give a within-participant
    estimate only when one of them used its paired estimate (its ``how`` says which). A study whose
    studies.tsv ``outside_population`` names participants outside the review's population is said so.
    """
    out: list[str] = []
    n = len(studies)
    included = {s["study_id"] for s in studies}
    if primary is not None:
        usable = {e["study"] for e in primary.get("studies", [])} & included
        outcome = f"the primary outcome, {primary.get('title', primary.get('analysis', ''))},"  # between commas: a title may hold parentheses
    else:
        usable = {r["study_id"] for r in direction if r.get("numbers") == "yes"} & included
        outcome = "any outcome of the effect-direction domains"
    if n and len(usable) < n:
        out.append(
            f"{n - len(usable)} of {n} included trials reported no usable numbers for {outcome} in the sources read; "
            "they appear in the effect-direction table only."
        )
    if primary is not None and not primary.get("pooled"):
        out.append(f"The primary analysis could not be pooled: {primary.get('reason', '')}.")
    small = sorted(s["study_id"] for s in studies if s.get("n_randomized") and int(s["n_randomized"]) < 50)
    if small:
        out.append(f"{count_words(len(small), 'trial')} randomized fewer than 50 participants ({', '.join(small)}).")
    crossover = sorted(s["study_id"] for s in studies if s.get("crossover") == "true")
    if crossover:
        hows: dict[str, list[str]] = defaultdict(list)
        for summary in analyses:
            for entry in summary.get("studies", []):
                hows[entry.get("study", "")].append(str(entry.get("how") or ""))
        paired = [s for s in crossover if any("paired (within-participant)" in h for h in hows[s])]
        parallel = [s for s in crossover if s not in paired and any("analysed as parallel groups" in h for h in hows[s])]
        other = [s for s in crossover if s not in paired and s not in parallel and hows[s]]
        none = [s for s in crossover if not hows[s]]
        parts = []
        if paired:
            parts.append(f"the estimate{'s' if len(paired) > 1 else ''} of {', '.join(paired)} {'are' if len(paired) > 1 else 'is'} within-participant (paired analysis, as reported)")
        if parallel:
            parts.append(f"the crossover arms of {', '.join(parallel)} were analysed as parallel groups (conservative)")
        if other:
            parts.append(f"{', '.join(other)} gave an estimate from its crossover data")
        if none:
            parts.append(f"{', '.join(none)} gave no estimate")
        out.append(f"{count_words(len(crossover), 'trial')} used a crossover design ({', '.join(crossover)}): {'; '.join(parts)}.")
    # studies.tsv outside_population: who, among a trial's randomized participants, is outside the review's population
    outside = sorted((s["study_id"], s.get("n_randomized") or "", " ".join(str(s.get("outside_population") or "").split())) for s in studies)
    outside = [o for o in outside if o[2]]
    if outside:
        each = "; ".join(f"{sid}'s {n} randomized participants include {who}" if n else f"{sid}'s randomized participants, number not reported, include {who}"
                         for sid, n, who in outside)
        counted = "; they are counted in the participant total" if any(n for _, n, _ in outside) else ""
        out.append(f"Participants outside the review's population in {count_words(len(outside), 'trial')}: {each}{counted}.")
    return out


def participants(studies: Sequence[Mapping[str, str]], report_config: Mapping[str, Any]) -> dict[str, Any]:
    """Randomized participants summed from the included studies vs the published figure."""
    total = sum(int(s["n_randomized"]) for s in studies if s.get("n_randomized"))
    published = report_config.get("published_participants")
    return {
        "total": total,
        "published": published,
        "difference": (total - int(published)) if published is not None else None,
        "explanation": report_config.get("participants_explanation", ""),
    }


def load_risk_of_bias(path: str | os.PathLike[str], study_ids: Collection[str] | None = None) -> list[dict[str, str]]:
    """Read and validate the optional RoB 2 table (workflow/schemas/risk_of_bias.schema.yaml).

    Raises InputFormatError naming file:line on a missing column, a bad cell, a study_id given
    twice or (when ``study_ids`` is given) a study_id that is not a row of studies.tsv.
    """
    from .extraction import _validate_rows

    rows = read_tsv(path, required=("study_id", *ROB_DOMAINS))
    _validate_rows(rows, ROB_SCHEMA, path)
    seen: dict[str, str] = {}
    for row in rows:
        where = f"{path}:{row['_line']}"
        sid = row["study_id"]
        if sid in seen:
            raise InputFormatError(f"duplicate study_id {sid!r} (first at line {seen[sid]})", where=where, fix="give each study one row")
        seen[sid] = row["_line"]
        if study_ids is not None and sid not in study_ids:
            raise InputFormatError(
                f"study_id {sid!r} is not a row of studies.tsv", where=where, fix="use the study_id of studies.tsv or delete the row"
            )
    return rows


def risk_of_bias(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """RoB 2 rows and traffic-light cells when the optional table exists."""
    if not path or not Path(path).exists():
        return {"available": False, "rows": [], "domains": ROB_DOMAINS}
    rows = load_risk_of_bias(path)
    cells = []
    for r in rows:
        cells.append(
            {
                "study_id": r["study_id"],
                "judgements": [
                    {"domain": d, "value": r[d], "colour": ROB_COLOURS.get(r[d].strip().lower(), "#9e9e9e")} for d in ROB_DOMAINS
                ],
            }
        )
    return {"available": True, "rows": sorted(cells, key=lambda c: c["study_id"]), "domains": ROB_DOMAINS}


def git_commit(path: str | os.PathLike[str] = WORKFLOW_DIR) -> str:
    """The code's git commit (with '+ uncommitted changes' when the tree is dirty), or 'not available'.

    ``path`` is the checkout's ``workflow/`` folder. When the checkout holds its own ``.git`` (a
    clone), git reads that repository explicitly (``--git-dir``), even when another user owns it (a
    shared lab folder, a container's bind mount: git would refuse with "dubious ownership"): it is
    the code this process runs, so trusting its config adds no risk. Otherwise (a downloaded copy, or
    the project inside a larger repository) git finds the repository above as usual, with its own
    ownership check: a repository another user made above the code (``/tmp/.git``) could otherwise
    run any command through its config (``core.fsmonitor``) and name its own commit as the code's.
    """
    checkout = Path(path).resolve().parent
    if (checkout / ".git").exists():
        git = ["git", "-c", "safe.directory=*", f"--git-dir={checkout / '.git'}", f"--work-tree={checkout}"]
    else:
        git = ["git", "-C", str(path)]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not available"
    return head + (" + uncommitted changes" if dirty else "")


def provenance(files: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """sha256 of every input file given, package versions and the git commit (no timestamps)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    hashed = sorted({Path(f).as_posix() for f in files if Path(f).exists()})
    return {
        "files": [{"path": p, "sha256": sha256_file(p)} for p in hashed],
        "packages": [{"name": k, "version": v} for k, v in versions.items()],
        "git_commit": git_commit(),
    }


# Rows of the report's PRISMA table: label, key in counts.json (this update's flow) and in its
# ``all_runs`` flow, and whether the row is shown only when a column is not zero.
PRISMA_TABLE_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("Duplicate records removed", "duplicates", False),
    ("Records marked ineligible by automation tools", "excluded_automatic", False),
    ("Records removed for other reasons", "excluded_other", True),
    ("Records screened", "records_screened", False),
    ("Records excluded", "records_excluded", False),
    ("Records awaiting a decision (title/abstract)", "records_awaiting", True),
    ("Reports sought for retrieval", "dbr_sought_reports", False),
    ("Reports not retrieved", "dbr_notretrieved_reports", False),
    ("Reports assessed for eligibility", "dbr_assessed", False),
    ("Reports awaiting a decision (full text)", "dbr_awaiting", True),
    ("Reports excluded", "dbr_excluded_total", False),
)


def _flow_count(flow: Mapping[str, Any], key: str, *, strict: bool = False) -> int:
    """One PRISMA count of a counts.json flow (strict: a missing key is a KeyError, else 0); reports
    excluded add up their reasons when the total is absent."""
    if key == "dbr_excluded_total" and key not in flow:
        return sum(int(r["n"]) for r in flow.get("dbr_excluded", []))
    return int(flow[key]) if strict else int(flow.get(key, 0))


def prisma_table(counts: Mapping[str, Any], sources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's PRISMA 2020 table, every number read from counts.json (prisma.compute_counts).

    No previous version: one column ``n``. With a previous version (``counts["previous"]``) three
    columns: the previous version, this update (the main keys of counts.json)
    and the total over all runs (``all_runs``; records identified per database from ``runs``). The
    previous-version column is the total minus this update: the records of the earlier runs and the
    clusters they first found, as the previous version counted them (with ``previous["flow"]``, the
    decisions dated before ``previous["decided_before"]``, this update's first search; counts.json's
    update flow then holds the decisions made since on earlier records, so an awaiting row may fall).
    Rows of records removed for other reasons and of records or reports awaiting a decision are shown
    only when a column is not zero.

    A person's dedup link or keep-apart dated on or after that date is this update's too: the previous
    version is counted with the clusters it had (``previous["dedup_since"]``), so this update's
    duplicates are the total's minus the previous version's, and a report of the previous version
    merged since into another (``previous["reports_not_carried"]``) is not in the total.

    Returns {"columns": [...], "rows": [{"label", "cells"}], "previous_runs", "update_runs",
    "decided_before", "decided_since", "dedup_since", "reports_not_carried", "update_notes"}
    (``update_notes``: prisma.update_notes in words, one per row of this update's column it explains).

    Raises:
        InputFormatError: counts.json has a previous version but lacks ``all_runs`` or ``runs``,
            or its columns do not add up.
    """
    where = "results/prisma/counts.json"
    fix = "re-run the prisma_counts rule"
    previous = counts.get("previous")
    if not previous:
        rows = [
            ("Records identified from databases", [counts["database_results"]]),
            ("Records identified from registers", [counts["register_results"]]),
        ]
        for label, key, optional in PRISMA_TABLE_ROWS:
            value = _flow_count(counts, key)
            if value or not optional:
                rows.append((label, [value]))
        rows += [("Studies included", [counts["total_studies"]]), ("Reports of included studies", [counts["total_reports"]])]
        return {"columns": ["n"], "rows": [{"label": k, "cells": v} for k, v in rows], "previous_runs": [], "update_runs": [], "decided_before": "", "decided_since": [], "dedup_since": [], "reports_not_carried": [], "update_notes": []}

    all_runs, runs = counts.get("all_runs"), counts.get("runs")
    if not all_runs or not runs:
        raise InputFormatError("counts.json has a previous version but no 'all_runs' or 'runs' flow", where=where, fix=fix)
    # database or register as prisma.compute_counts decides it: the config's kind, else REGISTERS
    kinds = {str(s["database"]): s.get("kind", "database") for s in sources}
    total_identified = {"database": 0, "register": 0}
    for run in runs:
        for database, n in run["by_database"].items():
            kind = kinds.get(database, "register" if database in REGISTERS else "database")
            total_identified["register" if kind == "register" else "database"] += n

    def columns(update: int, total: int) -> list[int]:
        return [total - update, update, total]

    rows = [
        ("Records identified from databases", columns(counts["database_results"], total_identified["database"])),
        ("Records identified from registers", columns(counts["register_results"], total_identified["register"])),
    ]
    if rows[0][1][0] + rows[1][1][0] != previous["records_identified"]:
        raise InputFormatError(
            f"records identified in the previous version: {previous['records_identified']}, but its databases and "
            f"registers add up to {rows[0][1][0] + rows[1][1][0]}",
            where=where,
            fix=fix,
        )
    then = previous.get("flow")  # the previous version as it stood (decisions dated before previous["decided_before"])
    for label, key, optional in PRISMA_TABLE_ROWS:
        values = columns(_flow_count(counts, key, strict=True), _flow_count(all_runs, key, strict=True))
        if then is not None and key != "duplicates" and values[0] != _flow_count(then, key, strict=True):
            raise InputFormatError(
                f"{label}: the previous version had {_flow_count(then, key, strict=True)} (previous.flow), but the total minus this update is {values[0]}",
                where=where,
                fix=fix,
            )
        if any(values) or not optional:
            rows.append((label, values))
    rows += [
        ("Studies included", [counts["previous_studies"], counts["new_studies"], counts["total_studies"]]),
        ("Reports of included studies", [counts["previous_reports"], counts["new_reports"], counts["total_reports"]]),
    ]
    # the totals count what is included now: a report of the previous version that a dedup link made
    # since merged into another is in the previous column only (previous.reports_not_carried)
    if counts["previous_reports"] + counts["new_reports"] - len(previous.get("reports_not_carried", [])) != counts["total_reports"]:
        raise InputFormatError(
            f"reports: previous {counts['previous_reports']} + new {counts['new_reports']} - not carried "
            f"{len(previous.get('reports_not_carried', []))} is not the total {counts['total_reports']}",
            where=where,
            fix=fix,
        )
    if counts["total_reports"] != all_runs["reports"]:
        raise InputFormatError(
            f"total reports {counts['total_reports']}, but the all-runs flow has {all_runs['reports']}", where=where, fix=fix
        )
    negative = [label for label, values in rows if min(values[0], values[2]) < 0]
    if negative:
        raise InputFormatError(f"the previous-version column is negative for: {', '.join(negative)}", where=where, fix=fix)
    # this update's cells may fall only when records of earlier runs were decided since the previous
    # version (an awaiting row; the reports assessed, for a report then marked not retrieved)
    negative = [label for label, values in rows if values[1] < 0]
    if negative and not previous.get("decided_since") and not previous.get("dedup_since"):
        raise InputFormatError(f"this update's column is negative for: {', '.join(negative)}", where=where, fix=fix)
    notes = update_notes(counts)
    return {
        "columns": ["Previous version", "This update", "Total"],
        "rows": [{"label": k, "cells": v} for k, v in rows],
        "previous_runs": list(previous["runs"]),
        "update_runs": list(counts.get("newest_runs", [])),
        "decided_before": str(previous.get("decided_before", "")),
        "decided_since": [dict(d) for d in previous.get("decided_since", [])],
        "dedup_since": [dict(d) for d in previous.get("dedup_since", [])],
        "reports_not_carried": [dict(d) for d in previous.get("reports_not_carried", [])],
        # why a cell of this update holds records of earlier searches (a negative one, or one a dedup
        # decision made since changed): "Records screened: -1: records of earlier searches merged by ..."
        "update_notes": [
            f"{label}: {counts[key]} in this update, of which {'; '.join(notes[key])}"
            for label, key, _optional in PRISMA_TABLE_ROWS
            if key in notes
        ],
    }


def pooled_by_run(primary: Mapping[str, Any] | None) -> dict[str, str]:
    """The primary analysis's pooled estimate after each search run, and its change, in words, by run id
    (from the analysis JSON's ``by_run``): 'SMD 0.71 (95% CI ...), k = 2; was not pooled, k = 1',
    'unchanged', or 'not pooled, k = 1'. A run that leaves the analysis not pooled for another reason
    than too few studies gives it ('not pooled, k = 2: a mean difference needs one scale, ...'), since
    k alone would read as too few. No parentheses around k: the estimate and the reason hold some.
    {} without a primary analysis."""
    if not primary:
        return {}
    measure, log_scale, sign = str(primary.get("measure", "")), bool(primary.get("log_scale")), shown_sign(primary)

    def words(step: Mapping[str, Any]) -> str:
        return f"{measure} {effect_in_words(step, measure=measure, log_scale=log_scale, sign=sign)}" if step["pooled"] else "not pooled"

    def k_now(step: Mapping[str, Any]) -> str:
        reason = str(step.get("reason") or "")
        return f"k = {step['k']}: {reason}" if reason and not step["pooled"] and not reason.startswith("k = ") else f"k = {step['k']}"

    out: dict[str, str] = {}
    before: Mapping[str, Any] | None = None
    for entry in primary.get("by_run", []):
        if before is None:
            out[entry["run_id"]] = f"{words(entry)}, {k_now(entry)}"
        elif entry["k"] == before["k"]:
            out[entry["run_id"]] = "unchanged"
        else:
            out[entry["run_id"]] = f"{words(entry)}, {k_now(entry)}; was {words(before)}, k = {before['k']}"
        before = entry
    return out


def whats_new(summaries: Sequence[Mapping[str, Any]], primary: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per search run, oldest first (run_sort_key: a day's -10 after its -2), with the primary
    analysis's pooled estimate after the run and its change (``pooled``, "" without a primary analysis).
    The records retrieved split into already seen (duplicates of earlier runs), duplicates within the
    run and new records; a summary whose parts do not add up raises InputFormatError."""
    pooled = pooled_by_run(primary)
    for s in summaries:
        parts = (s["duplicates_of_earlier_runs"], s.get("duplicates_within_run"), s["new_clusters"])
        if parts[1] is None or s["records_retrieved"] != sum(parts):
            raise InputFormatError(
                f"run {s['run_id']}: {s['records_retrieved']} records retrieved, but already seen ({parts[0]}) + duplicates within "
                f"the run ({parts[1] if parts[1] is not None else 'missing'}) + new records ({parts[2]}) do not add up to it",
                where=f"results/update/{s['run_id']}/summary.json",
                fix="re-run the whats_new rule",
            )
    return [
        {
            "run_id": s["run_id"],
            "records_retrieved": s["records_retrieved"],
            "duplicates_of_earlier_runs": s["duplicates_of_earlier_runs"],
            "duplicates_within_run": s["duplicates_within_run"],
            "new_records": s["new_clusters"],
            "awaiting_decision": s["awaiting_decision"],
            "new_included_studies": ", ".join(s["new_included_studies"]) or "none",
            "included_studies_total": s["included_studies_total"],
            "pooled": pooled.get(s["run_id"], ""),
        }
        for s in sorted(summaries, key=lambda s: run_sort_key(s["run_id"]))
    ]


def _direction_row(row: Mapping[str, str], synthesis: Mapping[str, Any]) -> dict[str, str]:
    """An effect-direction row in the protocol's words: the direction as the effect-direction plot's legend
    says it (constants.direction_words: "favours <synthesis.intervention_label>", "no difference reported",
    "direction unclear", "not reported", ...; never the outcomes.tsv code, e.g. "none" or "not_reported")
    and the domain by its label (synthesis.domain_labels)."""
    out = dict(row)
    # the scale with its unit or qualifier ("duration of response (days)"); an older table without the column: its key
    if "scale" in out or "scale_text" in out:
        out["scale_text"] = str(out.get("scale_text") or out.get("scale") or "")
    if "favours" in out:
        out["favours"] = direction_words(str(out.get("favours") or ""), str(synthesis.get("intervention_label") or "intervention"))
    out["domain"] = str((synthesis.get("domain_labels") or {}).get(out.get("domain", ""), out.get("domain", "")))
    return out


def build_context(
    *,
    config: Mapping[str, Any],
    ledger: Sequence[Mapping[str, str]],
    counts: Mapping[str, Any],
    prisma_svg: str,
    canonical: Sequence[Mapping[str, str]],
    studies: Sequence[Mapping[str, str]],
    direction: Sequence[Mapping[str, str]],
    direction_svg: str,
    analyses: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]],
    summaries: Sequence[Mapping[str, Any]],
    runs_root: str | os.PathLike[str],
    rob_path: str | os.PathLike[str] | None,
    provenance_files: Sequence[str | os.PathLike[str]],
    agreement: Mapping[str, Any],
    maybe_pairs: Sequence[Mapping[str, str]] = (),
    dedup_decisions: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Everything the templates show; pure apart from reading the manifests, rules, dedup decisions and hashes named.

    Provenance hashes ``provenance_files`` plus every run's manifest and archived files. ``agreement``
    is results/screening/agreement.json, ``maybe_pairs`` the rows of results/dedup/maybe_pairs.tsv and
    ``dedup_decisions`` the human dedup decisions file (None or missing: none).
    """
    titles = {r["record_id"]: r["title"] for r in canonical}
    report_config = config.get("report", {})
    order = {a["id"]: i for i, a in enumerate(analysis_order(config.get("synthesis", {})))}
    analysis_rows = [analysis_context(s, figs) for s, figs in analyses]
    analysis_rows.sort(key=lambda a: (order.get(a["id"], len(order)), a["id"]))  # as the methods list them
    primary = next((s for s, _ in analyses if s.get("primary")), None)
    full_text = exclusions(ledger, titles, "full_text")
    title_abstract = exclusions(ledger, titles, "title_abstract")
    reports_by_study: dict[str, list[str]] = defaultdict(list)
    for r in ledger:
        if r["stage"] == "study" and r["outcome"] == OUTCOME_INCLUDED:
            reports_by_study[r["reference"]].append(r["record_id"])
    study_rows = []
    for s in sorted(studies, key=lambda s: (s.get("year", ""), s["study_id"])):
        row = dict(s)
        row["report_titles"] = [
            {"record_id": rid, "title": titles.get(rid, "")} for rid in sorted(reports_by_study.get(s["study_id"], []))
        ]
        study_rows.append(row)
    search = search_methods(config, runs_root)
    screening = screening_reviewers(agreement, ledger, decisions_file=str(config["screening"].get("decisions", "")))
    archived = [
        path
        for run in search["runs"]
        for path in (f"{Path(runs_root).as_posix()}/{run['run_id']}/manifest.json", *(f["path"] for f in run["files"]))
    ]
    return {
        "review": dict(config["review"]),
        "show_dose": any(s.get("dose") for s in studies),
        "show_infusions": any(s.get("infusions") or s.get("infusion_schedule") for s in studies),
        "dose_header": f"Dose ({config.get('synthesis', {}).get('dose_unit')})" if config.get("synthesis", {}).get("dose_unit") else "Dose",
        "search": search,
        "other_methods": other_methods(search),
        "dedup": deduplication(config, ledger, maybe_pairs, dedup_decisions),
        "screening_reviewers": screening["stages"],
        "rules": automation_rules(config["screening"]["rules"], ledger),
        "counts": dict(counts),
        "prisma_table": prisma_table(counts, config["searches"]["sources"]),
        "prisma_svg": strip_xml_prolog(prisma_svg),
        "studies": study_rows,
        "participants": participants(studies, report_config),
        "full_text_exclusions": full_text,
        "title_abstract_reasons": reason_counts(title_abstract),
        "direction": [_direction_row(r, config.get("synthesis", {})) for r in direction],
        "direction_figure": svg_data_uri(direction_svg),
        "analyses": analysis_rows,
        "synthesis_methods": synthesis_methods(config.get("synthesis", {})),
        "limitations": limitations(studies, direction, primary, analyses=[s for s, _ in analyses]) + screening["limitations"],
        "risk_of_bias": risk_of_bias(rob_path),
        "whats_new": whats_new(summaries, primary),
        "whats_new_analysis": f"{primary.get('title', primary.get('analysis', ''))}" if primary else "",
        "provenance": provenance([*provenance_files, *archived]),
    }


# --- rendering -------------------------------------------------------------------------------


_MD_ESCAPES = str.maketrans({"\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|"})
# "<" that could open raw HTML (a tag, comment, declaration or processing instruction: "<" then a letter,
# "/", "!" or "?") or an autolink ("<scheme:...>", "<name@host>"); "&" that could start an entity
# ("&amp;", "&#60;"). Only these are backslash-escaped (CommonMark 2.4: "\<" and "\&" are the literal
# characters), so "k = 2 < 3", ">= 30%" and "Knapp & Hartung" stay as written.
_MD_HTML_START = re.compile(r"<(?=[A-Za-z/!?]|[^\s<>]*[@:][^\s<>]*>)|&(?=#?[A-Za-z0-9]+;)")


# What opens a block at the start of a line or of a list item (CommonMark 4-5): a block quote ">", an ATX
# heading "# ", a bullet "- ", "+ ", "* ", a thematic break "---", "***", "___" (spaces allowed between),
# a code fence "~~~" (a backtick is always escaped); an ordered-list start "1. " or "1) ".
_MD_BLOCK_START = re.compile(r">|#{1,6}(?: |$)|[-+*](?: |$)|([-*_])(?: ?\1){2,} ?$|~~~")
_MD_ORDERED_START = re.compile(r"(\d{1,9})[.)](?: |$)")


def md_escape(value: Any, *, block: bool = True) -> str:
    """Text safe in Markdown: no raw HTML, no pipes, one line, and no link, image or code span (a title
    "![x](https://...)" would load an image from the network where report.md is shown).

    Plain characters stay plain ("k = 2 < 3", ">= 30%", "Knapp & Hartung": report.md is read as text
    too, so no HTML entity); a "<" that could open raw HTML or an autolink and an "&" that could start an
    entity are backslash-escaped. For text that starts a line or a list item (``block``, the ``md``
    filter), a start that would open a block there (a block quote ">", a heading "# ", a bullet "- ", a
    thematic break "---", a fence "~~~", an ordered list "1. ") is escaped too; in a table cell, a heading
    or the middle of a line (``md_inline``) those are the characters themselves."""
    text = " ".join(str("" if value is None else value).split())
    text = _MD_HTML_START.sub(lambda m: "\\" + m.group(0), text.translate(_MD_ESCAPES))
    if not block:
        return text
    ordered = _MD_ORDERED_START.match(text)
    if ordered:  # "1. " / "1) ": the delimiter escaped ("1\. "), the number kept
        return f"{ordered.group(1)}\\{text[ordered.end(1):]}"
    return "\\" + text if _MD_BLOCK_START.match(text) else text


def md_inline(value: Any) -> str:
    """``md_escape`` for text that does not start a line or a list item: a table cell (GitHub tables hold
    inline content only), a heading's text, the middle of a sentence; a leading ">" is left as it is."""
    return md_escape(value, block=False)


def md_code(value: Any) -> str:
    """Text as a fenced Markdown code block, its lines kept. The fence is longer than any run of
    backticks in the text, so no line of it (a query line "```") can close the block and turn
    what follows into Markdown or raw HTML (CommonMark: a closing fence is at least as long)."""
    text = str("" if value is None else value)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def md_span(value: Any, table: bool = True) -> str:
    """Text as a Markdown code span, delimiters included: "`text`" for text without backticks; else
    delimited by a longer run of backticks (padded with a space where the text starts or ends with
    one), so a backtick in a record id or file name cannot end the span and turn the rest into
    Markdown or raw HTML. In a table cell (``table``) a "|" is written "\\|" (GitHub's tables split a
    cell at a bare pipe, inside a code span too)."""
    text = " ".join(str("" if value is None else value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def environment(template_dir: str | os.PathLike[str] = TEMPLATE_DIR) -> jinja2.Environment:
    """Jinja environment: HTML autoescaped, undefined names are errors, Markdown filters ``md`` and ``md_inline``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2", "svg.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape  # text that starts a line or a list item
    env.filters["md_inline"] = md_inline  # a table cell, a heading, the middle of a line
    env.filters["md_code"] = md_code
    env.filters["md_span"] = md_span
    env.filters["num"] = number
    return env


def render(context: Mapping[str, Any], *, template: str | os.PathLike[str]) -> str:
    """Render one template file with the context."""
    path = Path(template)
    return environment(path.parent).get_template(path.name).render(**context)


def run_render_report(
    *,
    config: Mapping[str, Any],
    ledger: str,
    counts: str,
    prisma: str,
    canonical: str,
    studies: str,
    direction_tsv: str,
    direction_svg: str,
    analyses: Sequence[str],
    update_summaries: Sequence[str],
    runs_root: str,
    template_html: str,
    template_md: str,
    html_out: str,
    md_out: str,
    agreement: str,
    maybe_pairs: str,
    risk_of_bias_tsv: Sequence[str] | None = None,
    configfiles: Sequence[str | os.PathLike[str]] = ("config/config.yaml",),
    dedup_decisions: Sequence[str] | None = None,
) -> None:
    """Pipeline step: read results/, write results/report/index.html and report.md.

    ``risk_of_bias_tsv`` is the rule's optional input ([] when the review has no RoB 2 table);
    None reads the path from config extraction.risk_of_bias. ``configfiles`` are the config files
    the run read (Snakemake's ``workflow.configfiles``: config/config.yaml plus any ``--configfile``);
    the provenance hashes each of them. ``agreement`` is results/screening/agreement.json and
    ``maybe_pairs`` results/dedup/maybe_pairs.tsv; ``dedup_decisions`` is the rule's optional input
    (config dedup.decisions, [] when absent; None reads the path from the config).
    """
    analysis_inputs = []
    for path in analyses:
        summary = read_json(path, fix="re-run the pool_analysis rule")
        stem = str(path)[: -len(".json")]
        figures = {}
        for kind in ("forest", "cumulative", "funnel"):
            svg = Path(f"{stem}_{kind}.svg")
            if svg.exists():
                figures[kind] = svg_data_uri(svg.read_text(encoding="utf-8"))
        analysis_inputs.append((summary, figures))
    if risk_of_bias_tsv is None:
        rob = config.get("extraction", {}).get("risk_of_bias")
    else:
        rob = risk_of_bias_tsv[0] if risk_of_bias_tsv else None
    if dedup_decisions is None:
        dedup_path = config.get("dedup", {}).get("decisions") or None
    else:
        dedup_path = dedup_decisions[0] if dedup_decisions else None
    provenance_files = [
        *(workdir_relative(f) for f in configfiles),
        config["screening"]["rules"],
        config["screening"]["decisions"],
        config.get("dedup", {}).get("decisions", ""),
        config["extraction"]["studies"],
        config["extraction"]["outcomes"],
        rob or "",
    ]
    context = build_context(
        config=config,
        ledger=read_tsv(ledger),
        counts=read_json(counts, fix="re-run the prisma_counts rule"),
        prisma_svg=Path(prisma).read_text(encoding="utf-8"),
        canonical=read_tsv(canonical),
        studies=read_tsv(studies),
        direction=read_tsv(direction_tsv),
        direction_svg=Path(direction_svg).read_text(encoding="utf-8"),
        analyses=analysis_inputs,
        summaries=[read_json(p, fix="re-run the whats_new rule") for p in update_summaries],
        runs_root=runs_root,
        rob_path=rob,
        provenance_files=[f for f in provenance_files if f],
        agreement=read_json(agreement, fix="re-run the screen_records rule"),
        maybe_pairs=read_tsv(maybe_pairs, required=("record_a", "record_b", "rule")),
        dedup_decisions=dedup_path,
    )
    html = render(context, template=template_html)
    md = render(context, template=template_md)
    write_text(html_out, html)
    write_text(md_out, md)
    LOG.info("report: %s (%d bytes), %s (%d bytes)", html_out, len(html), md_out, len(md))
