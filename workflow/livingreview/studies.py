"""Report-to-study linking: full-text-included reports resolved to the studies of studies.tsv."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .constants import LEDGER_FIELDS, LIST_SEP, OUTCOME_INCLUDED
from .decisions import ClusterIndex, build_index
from .errors import ConfigError
from .gcpause import collector_paused
from .records import split_list
from .screen_stage import FULL_TEXT, read_canonical, read_clusters
from .tables import read_tsv, write_tsv

LOG = logging.getLogger(__name__)

STUDY_REQUIRED: tuple[str, ...] = ("study_id", "reports", "primary_report")
INCLUDED_STUDY_FIELDS: tuple[str, ...] = ("study_id", "primary_record_id", "record_ids", "n_reports")
REPORT_FIELDS: tuple[str, ...] = ("record_id", "cluster_id", "study_id", "role")
ROLE_PRIMARY = "primary"
ROLE_SECONDARY = "secondary"


@dataclass
class StudyLinks:
    """What linking produced: included studies, their reports, study ledger rows, and explanations."""

    studies: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    not_included: list[str] = field(default_factory=list)  # one line per study not included, and why
    characteristic_fields: tuple[str, ...] = ()


def split_keys(cell: str) -> list[str]:
    """Report keys of a studies.tsv ``reports`` cell (joined by "; ")."""
    return split_list(cell)


def link_studies(
    included: Mapping[str, str],
    study_rows: Sequence[Mapping[str, str]],
    index: ClusterIndex,
    *,
    states: Mapping[str, str] | None = None,
    source: str = "resources/extraction/studies.tsv",
) -> StudyLinks:
    """Link full-text-included clusters to studies.

    ``included`` maps cluster_id -> canonical record_id of every cluster included at full text;
    ``study_rows`` are studies.tsv rows (with ``_line``); ``states`` (cluster_id -> last screening
    state) only words the explanations. Several reports of one study count once. Errors
    (ConfigError naming studies.tsv:line): duplicate study_id, unknown or ambiguous report key, a
    report listed by two studies, a primary_report not among the reports, an included report in no
    study, a study with some but not all reports included. A study with no included report is not
    included and is explained in ``not_included``.
    """
    states = states or {}
    links = StudyLinks()
    seen_ids: dict[str, str] = {}
    owner: dict[str, tuple[str, str]] = {}  # cluster_id -> (study_id, where)
    parsed: list[tuple[Mapping[str, str], str, list[str], str]] = []
    for row in study_rows:
        where = f"{source}:{row.get('_line', '?')}"
        sid = (row.get("study_id") or "").strip()
        if not sid:
            raise ConfigError("empty study_id", where=where, fix="give every study a unique id")
        if sid in seen_ids:
            raise ConfigError(f"study_id {sid!r} appears twice (also {seen_ids[sid]})", where=where, fix="merge the rows or rename one study")
        seen_ids[sid] = where
        keys = split_keys(row.get("reports") or "")
        if not keys:
            raise ConfigError(f"study {sid} lists no reports", where=where, fix="put its report keys (PMID, DOI or record_id) in the reports column, joined by '; '")
        clusters: list[str] = []
        for key in keys:
            cid = index.resolve_one(key, where=where)
            if cid in owner and owner[cid][0] != sid:
                raise ConfigError(
                    f"report {key} ({index.canonical_of.get(cid, cid)}) is listed by study {sid} and by study {owner[cid][0]} ({owner[cid][1]})",
                    where=where,
                    fix="a report belongs to one study; remove it from one of them",
                )
            owner[cid] = (sid, where)
            if cid not in clusters:
                clusters.append(cid)
        primary_key = (row.get("primary_report") or "").strip()
        if not primary_key:
            raise ConfigError(f"study {sid} has no primary_report", where=where, fix="name one of its reports as primary_report")
        primary = index.resolve_one(primary_key, where=where)
        if primary not in clusters:
            raise ConfigError(f"primary_report {primary_key} of study {sid} is not among its reports", where=where, fix="add it to reports or correct primary_report")
        parsed.append((row, sid, clusters, primary))

    orphans = sorted(cid for cid in included if cid not in owner)
    if orphans:
        names = ", ".join(included[c] for c in orphans)
        raise ConfigError(
            f"{len(orphans)} report(s) included at full text belong to no study: {names}",
            where=source,
            fix="add each report to the reports of its study (or a new study row) in studies.tsv",
        )

    extra = [c for c in (study_rows[0].keys() if study_rows else ()) if c not in INCLUDED_STUDY_FIELDS and c not in ("study_id", "_line")]
    links.characteristic_fields = tuple(extra)
    for row, sid, clusters, primary in sorted(parsed, key=lambda p: p[1]):
        inc = [c for c in clusters if c in included]
        if not inc:
            why = ", ".join(f"{index.canonical_of.get(c, c)} ({states.get(c, 'not screened in')})" for c in clusters)
            links.not_included.append(f"study {sid} not included: no report included at full text: {why}")
            continue
        if len(inc) != len(clusters):
            missing = [c for c in clusters if c not in included]
            why = ", ".join(f"{index.canonical_of.get(c, c)} ({states.get(c, 'not screened in')})" for c in missing)
            raise ConfigError(
                f"study {sid} has included reports but these reports are not included at full text: {why}",
                where=f"{source}:{row.get('_line', '?')}",
                fix="include those reports at full text in decisions.tsv, or remove them from the study's reports",
            )
        if primary not in included:
            raise ConfigError(f"primary report of study {sid} is not included", where=f"{source}:{row.get('_line', '?')}", fix="include it or name another primary_report")
        ordered = [primary] + sorted(c for c in inc if c != primary)
        record_ids = [included[c] for c in ordered]
        study_row: dict[str, Any] = {
            "study_id": sid,
            "primary_record_id": included[primary],
            "record_ids": LIST_SEP.join(record_ids),
            "n_reports": len(ordered),
        }
        for name in extra:
            study_row[name] = row.get(name, "")
        links.studies.append(study_row)
        for c in ordered:
            role = ROLE_PRIMARY if c == primary else ROLE_SECONDARY
            links.reports.append({"record_id": included[c], "cluster_id": c, "study_id": sid, "role": role})
            links.ledger.append(
                {
                    "record_id": included[c],
                    "cluster_id": c,
                    "stage": "study",
                    "outcome": OUTCOME_INCLUDED,
                    "reason": f"{role} report of study {sid}",
                    "reference": sid,
                    "evidence": f"{source}:{row.get('_line', '?')}; {len(ordered)} report(s) of this study counted once",
                }
            )
    links.reports.sort(key=lambda r: r["record_id"])
    links.ledger.sort(key=lambda r: r["record_id"])
    return links


@collector_paused()
def run_link_studies(
    *,
    screening: str | os.PathLike[str],
    canonical: str | os.PathLike[str],
    clusters: str | os.PathLike[str],
    studies: str | os.PathLike[str],
    studies_out: str | os.PathLike[str],
    reports_out: str | os.PathLike[str],
    ledger_out: str | os.PathLike[str],
) -> StudyLinks:
    """Rule ``link_studies``: write included_studies.tsv, reports.tsv and the study ledger fragment."""
    index = build_index(read_canonical(canonical), read_clusters(clusters))
    included: dict[str, str] = {}
    states: dict[str, str] = {}
    for row in read_tsv(screening, required=("cluster_id", "record_id", "stage", "decision")):
        states[row["cluster_id"]] = f"{row['stage']} {row['decision']}" + (f": {row['reason']}" if row.get("reason") else "")
        if row["stage"] == FULL_TEXT and row["decision"] == OUTCOME_INCLUDED:
            included[row["cluster_id"]] = row["record_id"]
    rows = read_tsv(studies, required=STUDY_REQUIRED)
    links = link_studies(included, rows, index, states=states, source=str(studies))
    for line in links.not_included:
        LOG.info("%s", line)
    write_tsv(studies_out, INCLUDED_STUDY_FIELDS + links.characteristic_fields, links.studies)
    write_tsv(reports_out, REPORT_FIELDS, links.reports)
    write_tsv(ledger_out, LEDGER_FIELDS, links.ledger)
    LOG.info("%d included reports -> %d included studies", len(links.reports), len(links.studies))
    return links
