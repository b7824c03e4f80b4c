"""PRISMA 2020 flow counts computed from the audit ledger, reconciled, and written as JSON and PRISMA2020 CSV."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .constants import (
    LEDGER_FIELDS,
    OUTCOME_AWAITING,
    OUTCOME_CANONICAL,
    OUTCOME_DUPLICATE,
    OUTCOME_EXCLUDED,
    OUTCOME_IDENTIFIED,
    OUTCOME_INCLUDED,
    OUTCOME_NOT_RETRIEVED,
    OUTCOME_PASSED,
    OUTCOME_RETRIEVED,
    PASSING_OUTCOMES,
    PRISMA_KEYS,
    REGISTERS,
    STAGE_ORDER,
    STAGES,
)
from .decisions import PMID_DATABASES
from .errors import InputFormatError, ReconciliationError
from .gcpause import collector_paused
from .runs import run_sort_key, version_closes
from .tables import read_tsv, read_tsv_columns, write_json, write_text

LOG = logging.getLogger(__name__)

# Outcomes allowed at each ledger stage, and the outcome that lets a record go on to the next stage.
STAGE_OUTCOMES: dict[str, frozenset[str]] = {
    "identification": frozenset({OUTCOME_IDENTIFIED}),
    "dedup": frozenset({OUTCOME_CANONICAL, OUTCOME_DUPLICATE}),
    "automation": frozenset({OUTCOME_PASSED, OUTCOME_EXCLUDED}),
    "title_abstract": frozenset({OUTCOME_INCLUDED, OUTCOME_EXCLUDED, OUTCOME_AWAITING}),
    "retrieval": frozenset({OUTCOME_RETRIEVED, OUTCOME_NOT_RETRIEVED}),
    "full_text": frozenset({OUTCOME_INCLUDED, OUTCOME_EXCLUDED, OUTCOME_AWAITING}),
    "study": frozenset({OUTCOME_INCLUDED}),
}
GO_ON = PASSING_OUTCOMES  # the outcome that lets a record go on to the next stage

# Rows of the PRISMA2020 Shiny app's CSV (data, node, box, description, boxtext, tooltips, url, n).
# Our own wording of the PRISMA 2020 box texts; ``n`` is filled from the counts.
PRISMA_CSV_FIELDS: tuple[str, ...] = ("data", "node", "box", "description", "boxtext", "tooltips", "url", "n")
_CSV_ROWS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    # data, node, box, description, boxtext, tooltips, url anchor (an id of results/report/index.html)
    ("NA", "node4", "prevstud", "Grey title box; Previous studies", "Previous studies", "Previous version of the review", "whatsnew"),
    ("previous_studies", "node5", "box1", "Studies included in previous version of review", "Studies included in previous version of review", "Studies included in the previous version", "whatsnew"),
    ("previous_reports", "NA", "box1", "Reports of studies included in previous version of review", "Reports of studies included in previous version of review", "NA", "whatsnew"),
    ("NA", "node6", "newstud", "Yellow title box; Identification of new studies via databases and registers", "Identification of new studies via databases and registers", "Identification via databases and registers", "search"),
    ("database_results", "node7", "box2", "Records identified from: Databases", "Databases", "Records identified from databases and registers", "search"),
    ("database_specific_results", "NA", "box2", "Records identified from: specific databases", "Specific Databases", "NA", "search"),
    ("register_results", "NA", "box2", "Records identified from: Registers", "Registers", "NA", "search"),
    ("register_specific_results", "NA", "box2", "Records identified from: specific registers", "Specific Registers", "NA", "search"),
    ("NA", "node16", "othstud", "Grey title box; Identification of new studies via other methods", "Identification of new studies via other methods", "Identification via other methods", "search"),
    ("website_results", "node17", "box11", "Records identified from: Websites", "Websites", "Records identified from websites, organisations and citation searching", "search"),
    ("organisation_results", "NA", "box11", "Records identified from: Organisations", "Organisations", "NA", "search"),
    ("citations_results", "NA", "box11", "Records identified from: Citation searching", "Citation searching", "NA", "search"),
    ("duplicates", "node8", "box3", "Duplicate records", "Duplicate records", "Duplicate records removed", "prisma"),
    ("excluded_automatic", "NA", "box3", "Records marked as ineligible by automation tools", "Records marked as ineligible by automation tools", "NA", "screening"),
    ("excluded_other", "NA", "box3", "Records removed for other reasons", "Records removed for other reasons", "NA", "prisma"),
    ("records_screened", "node9", "box4", "Records screened (databases and registers)", "Records screened", "Records screened (databases and registers)", "prisma"),
    ("records_excluded", "node10", "box5", "Records excluded (databases and registers)", "Records excluded", "Records excluded (databases and registers)", "prisma"),
    ("dbr_sought_reports", "node11", "box6", "Reports sought for retrieval (databases and registers)", "Reports sought for retrieval", "Reports sought for retrieval (databases and registers)", "prisma"),
    ("dbr_notretrieved_reports", "node12", "box7", "Reports not retrieved (databases and registers)", "Reports not retrieved", "Reports not retrieved (databases and registers)", "prisma"),
    ("other_sought_reports", "node18", "box12", "Reports sought for retrieval (other)", "Reports sought for retrieval", "Reports sought for retrieval (other)", "prisma"),
    ("other_notretrieved_reports", "node19", "box13", "Reports not retrieved (other)", "Reports not retrieved", "Reports not retrieved (other)", "prisma"),
    ("dbr_assessed", "node13", "box8", "Reports assessed for eligibility (databases and registers)", "Reports assessed for eligibility", "Reports assessed for eligibility (databases and registers)", "prisma"),
    ("dbr_excluded", "node14", "box9", "Reports excluded (databases and registers): reasons and numbers separated by ;", "Reports excluded", "Reports excluded (databases and registers)", "exclusions"),
    ("other_assessed", "node20", "box14", "Reports assessed for eligibility (other)", "Reports assessed for eligibility", "Reports assessed for eligibility (other)", "prisma"),
    ("other_excluded", "node21", "box15", "Reports excluded (other): reasons and numbers separated by ;", "Reports excluded", "Reports excluded (other)", "prisma"),
    ("new_studies", "node15", "box10", "New studies included in review", "New studies included in review", "New studies included in review", "studies"),
    ("new_reports", "NA", "box10", "Reports of new included studies", "Reports of new included studies", "NA", "studies"),
    ("total_studies", "node22", "box16", "Total studies included in review", "Total studies included in review", "Total studies included in review", "studies"),
    ("total_reports", "NA", "box16", "Reports of total included studies", "Reports of total included studies", "NA", "studies"),
    ("identification", "node1", "identification", "Blue identification box", "Identification", "Identification", "search"),
    ("screening", "node2", "screening", "Blue screening box", "Screening", "Screening", "prisma"),
    ("included", "node3", "included", "Blue included box", "Included", "Included", "studies"),
    # Not in the PRISMA2020 app's layout (it has no node for them; readers that select rows by `data`
    # skip them): without these an update's column does not add up while records wait for people.
    ("records_awaiting", "NA", "box4", "Records awaiting a title/abstract decision (not a PRISMA2020 app row)", "Records awaiting a decision", "NA", "screening"),
    ("dbr_awaiting", "NA", "box8", "Reports awaiting a full-text decision (not a PRISMA2020 app row)", "Reports awaiting a decision", "NA", "exclusions"),
)


# This update's cells that records of earlier searches can change (counts.json previous.changed_since).
CHANGE_KEYS: tuple[str, ...] = (
    "duplicates",
    "excluded_automatic",
    "excluded_other",
    "records_screened",
    "records_excluded",
    "records_awaiting",
    "dbr_sought_reports",
    "dbr_notretrieved_reports",
    "dbr_assessed",
    "dbr_excluded_total",
    "dbr_awaiting",
)


def update_notes(counts: Mapping[str, Any]) -> dict[str, list[str]]:
    """Why a cell of this update's column holds records of earlier searches, by counts.json key: for
    each cell that is negative, or that a dedup decision made since changed, the part that comes from
    dedup decisions made since ("-1: records of earlier searches merged by a duplicate link made
    since") and from screening decisions made since. PRISMA 2020's update boxes count this update's
    search; without these a box may read "Records screened (n = -1)" with nothing to say why.
    {} without a previous version or when no cell needs a note."""
    previous = counts.get("previous") or {}
    changed = previous.get("changed_since") or {}
    dedup, decided = changed.get("dedup") or {}, changed.get("decisions") or {}
    kinds = {d.get("decision") for d in previous.get("dedup_since") or []}
    how = (
        "merged by a duplicate link made since"
        if kinds == {"link"}
        else "split off by a keep-apart made since"
        if kinds == {"keep_apart"}
        else "changed by duplicate links or keep-aparts made since"
    )
    notes: dict[str, list[str]] = {}
    for key in CHANGE_KEYS:
        value = counts.get(key, 0)
        if not (isinstance(value, int) and value < 0) and not dedup.get(key):
            continue
        lines = []
        if dedup.get(key):
            lines.append(f"{dedup[key]:+d}: records of earlier searches {how}")
        if decided.get(key):
            lines.append(f"{decided[key]:+d}: records of earlier searches decided since the previous version")
        if lines:
            notes[key] = lines
    return notes


class LedgerRow(NamedTuple):
    """One ledger row with the line it came from (for messages). A NamedTuple: a ledger holds a few
    rows per record, hundreds of thousands at scale, and tuples are the cheapest to build."""

    record_id: str
    cluster_id: str
    stage: str
    outcome: str
    reason: str
    reference: str
    evidence: str
    where: str


assert LedgerRow._fields[:-1] == LEDGER_FIELDS  # _to_rows builds rows by position


@dataclass
class _Record:
    """All rows of one record, in ledger order."""

    record_id: str
    rows: list[LedgerRow]

    def row(self, stage: str) -> LedgerRow | None:
        for r in self.rows:
            if r.stage == stage:
                return r
        return None

    def stage_rows(self) -> dict[str, LedgerRow]:
        """The row of each stage the record has (the first, as ``row`` finds it), by stage."""
        return {r.stage: r for r in reversed(self.rows)}

    @property
    def run_id(self) -> str:
        first = self.rows[0]  # the identification row comes first once _group has checked the path
        r = first if first.stage == "identification" else self.row("identification")
        return r.evidence if r else ""

    @property
    def database(self) -> str:
        first = self.rows[0]
        r = first if first.stage == "identification" else self.row("identification")
        return r.reason if r else ""

    @property
    def cluster_id(self) -> str:
        return self.rows[0].cluster_id


def _to_rows(ledger_rows: Sequence[Mapping[str, Any] | LedgerRow], source: str) -> list[LedgerRow]:
    out: list[LedgerRow] = []
    make = LedgerRow._make
    for i, row in enumerate(ledger_rows):
        if isinstance(row, LedgerRow):
            out.append(row)
            continue
        get = row.get
        values = [get(f, "") for f in LEDGER_FIELDS]
        for v in values:
            if v.__class__ is not str:  # dicts built in code may hold None or numbers
                values = [v if v.__class__ is str else str(v or "") for v in values]
                break
        values.append(f"{source}:{get('_line') or i + 2}")
        out.append(make(values))
    return out


def _check_path(rec: _Record, stages: list[str]) -> None:
    """Check the stages of a record's path (``stages``, its rows' stages in ledger order)."""
    if stages.count("identification") != 1:
        raise ReconciliationError(
            f"record {rec.record_id} has {stages.count('identification')} identification rows (must have exactly 1)",
            where=rec.rows[0].where,
            fix="re-run the import stage; every record is identified exactly once",
        )
    if len(set(stages)) != len(stages) or stages != sorted(stages, key=STAGE_ORDER.__getitem__):
        raise ReconciliationError(
            f"record {rec.record_id} has stages out of order or repeated ({' > '.join(stages)})",
            where=rec.rows[0].where,
            fix="re-run assemble_ledger; each record gets at most one row per stage, in stage order",
        )
    if stages[0] != "identification" or (len(stages) > 1 and stages[1] != "dedup"):
        raise ReconciliationError(
            f"record {rec.record_id} path starts {' > '.join(stages[:2])}; it must start identification > dedup",
            where=rec.rows[0].where,
            fix="re-run the dedup stage",
        )


def _group(rows: list[LedgerRow]) -> dict[str, _Record]:
    """Group rows per record and check the local shape of each record's path."""
    records: dict[str, _Record] = {}
    for r in rows:
        if not r.record_id:
            raise InputFormatError("ledger row without record_id", where=r.where, fix="re-run the stage that wrote this row")
        if r.stage not in STAGE_OUTCOMES:
            raise InputFormatError(
                f"unknown stage '{r.stage}' (allowed: {', '.join(STAGES)})", where=r.where, fix="re-run the stage that wrote this row"
            )
        if r.outcome not in STAGE_OUTCOMES[r.stage]:
            raise InputFormatError(
                f"outcome '{r.outcome}' is not allowed at stage {r.stage} (allowed: {', '.join(sorted(STAGE_OUTCOMES[r.stage]))})",
                where=r.where,
                fix="re-run the stage that wrote this row",
            )
        if not r.cluster_id:
            raise InputFormatError(
                f"record {r.record_id} has no cluster_id", where=r.where, fix="re-run assemble_ledger (cluster_id is filled on every row)"
            )
        rec = records.get(r.record_id)
        if rec is None:
            rec = records[r.record_id] = _Record(r.record_id, [])
        rec.rows.append(r)
    checked_paths: set[tuple[str, ...]] = set()  # stage sequences that passed _check_path
    for rec in records.values():
        stages = [r.stage for r in rec.rows]
        path = tuple(stages)
        if path not in checked_paths:  # the path checks read only the stages: once per sequence of stages
            _check_path(rec, stages)
            checked_paths.add(path)
        if len({r.cluster_id for r in rec.rows}) != 1:
            raise ReconciliationError(
                f"record {rec.record_id} has rows in more than one cluster", where=rec.rows[0].where, fix="re-run assemble_ledger"
            )
        for prev, nxt in zip(rec.rows, rec.rows[1:]):
            if prev.outcome != GO_ON.get(prev.stage):
                raise ReconciliationError(
                    f"record {rec.record_id} has a {nxt.stage} row after its final outcome '{prev.outcome}' at {prev.stage}",
                    where=nxt.where,
                    fix="re-run the stage that wrote it; a record gets rows only for the stages it reaches",
                )
    return records


def _source_kinds(sources: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    kinds: dict[str, dict[str, str]] = {}
    for s in sources:
        kinds[str(s["database"])] = {"kind": str(s.get("kind", "database")), "platform": str(s.get("platform", ""))}
    return kinds


def _kind(database: str, kinds: Mapping[str, Mapping[str, str]]) -> str:
    if database in kinds:
        return "register" if kinds[database]["kind"] == "register" else "database"
    return "register" if database in REGISTERS else "database"


def _label(database: str, kinds: Mapping[str, Mapping[str, str]]) -> str:
    platform = kinds.get(database, {}).get("platform", "")
    return platform or database


def _reason_list(counter: Counter[str]) -> list[dict[str, Any]]:
    """Reasons by count (largest first), then alphabetically."""
    return [{"reason": k or "(no reason given)", "n": v} for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _flow(canonicals: list[_Record]) -> dict[str, Any]:
    """Stage counts for a set of canonical records, each counted from its own stage rows."""
    c: dict[str, Any] = {}
    rows_of = [r.stage_rows() for r in canonicals]
    auto = [s.get("automation") for s in rows_of]
    c["automation_excluded_rows"] = [a for a in auto if a is not None and a.outcome == OUTCOME_EXCLUDED]
    c["excluded_automatic"] = sum(1 for a in c["automation_excluded_rows"] if a.reference)
    c["excluded_other"] = sum(1 for a in c["automation_excluded_rows"] if not a.reference)
    ta = [s.get("title_abstract") for s in rows_of]
    ta = [t for t in ta if t is not None]
    c["records_screened"] = len(ta)
    c["records_excluded"] = sum(1 for t in ta if t.outcome == OUTCOME_EXCLUDED)
    c["records_awaiting"] = sum(1 for t in ta if t.outcome == OUTCOME_AWAITING)
    c["records_excluded_reasons"] = _reason_list(Counter(t.reason for t in ta if t.outcome == OUTCOME_EXCLUDED))
    rt = [s.get("retrieval") for s in rows_of]
    rt = [t for t in rt if t is not None]
    c["dbr_sought_reports"] = len(rt)
    c["dbr_notretrieved_reports"] = sum(1 for t in rt if t.outcome == OUTCOME_NOT_RETRIEVED)
    ft = [s.get("full_text") for s in rows_of]
    ft = [t for t in ft if t is not None]
    c["dbr_assessed"] = len(ft)
    c["dbr_excluded_total"] = sum(1 for t in ft if t.outcome == OUTCOME_EXCLUDED)
    c["dbr_excluded"] = _reason_list(Counter(t.reason for t in ft if t.outcome == OUTCOME_EXCLUDED))
    c["dbr_awaiting"] = sum(1 for t in ft if t.outcome == OUTCOME_AWAITING)
    c["fulltext_included"] = sum(1 for t in ft if t.outcome == OUTCOME_INCLUDED)
    study_rows = [s.get("study") for s in rows_of]
    c["study_rows"] = [s for s in study_rows if s is not None]
    c["reports"] = len(c["study_rows"])
    return c


def _stuck(canonicals: list[_Record], stage: str) -> list[str]:
    """Records whose last row lets them go on past ``stage`` but that have no later row."""
    out = []
    for r in canonicals:
        last = r.rows[-1]
        if STAGES.index(last.stage) <= STAGES.index(stage) and last.outcome == GO_ON.get(last.stage):
            out.append(f"{r.record_id} (ends at {last.stage} {last.outcome}, {last.where})")
    return out


def _reconcile(label: str, identified: int, duplicates: int, flow: Mapping[str, Any], canonicals: list[_Record]) -> None:
    """Stop with a ReconciliationError when the PRISMA arithmetic fails."""

    def fail(equation: str, stage: str) -> None:
        stuck = _stuck(canonicals, stage)
        detail = f"; records that stop without a final outcome: {', '.join(stuck[:5])}" + (" ..." if len(stuck) > 5 else "") if stuck else ""
        raise ReconciliationError(
            f"PRISMA counts do not add up ({label}): {equation}{detail}",
            where="results/audit/ledger.tsv",
            fix="every record needs a row for each stage it reaches and one final outcome; re-run the stage that dropped it (see `livingreview trace RECORD`)",
        )

    screened_expected = identified - duplicates - flow["excluded_automatic"] - flow["excluded_other"]
    if screened_expected != flow["records_screened"]:
        fail(
            f"identified {identified} - duplicates {duplicates} - automation {flow['excluded_automatic']} - other {flow['excluded_other']} "
            f"= {screened_expected}, but {flow['records_screened']} records were screened",
            "automation",
        )
    sought_expected = flow["records_screened"] - flow["records_excluded"] - flow["records_awaiting"]
    if sought_expected != flow["dbr_sought_reports"]:
        fail(
            f"screened {flow['records_screened']} - excluded {flow['records_excluded']} - awaiting {flow['records_awaiting']} "
            f"= {sought_expected}, but {flow['dbr_sought_reports']} reports were sought",
            "title_abstract",
        )
    assessed_expected = flow["dbr_sought_reports"] - flow["dbr_notretrieved_reports"]
    if assessed_expected != flow["dbr_assessed"]:
        fail(
            f"sought {flow['dbr_sought_reports']} - not retrieved {flow['dbr_notretrieved_reports']} = {assessed_expected}, "
            f"but {flow['dbr_assessed']} reports were assessed",
            "retrieval",
        )
    included_expected = flow["dbr_assessed"] - flow["dbr_excluded_total"] - flow["dbr_awaiting"]
    if included_expected != flow["fulltext_included"] or included_expected != flow["reports"]:
        fail(
            f"assessed {flow['dbr_assessed']} - excluded {flow['dbr_excluded_total']} - awaiting {flow['dbr_awaiting']} = {included_expected}, "
            f"but {flow['fulltext_included']} reports were included at full text and {flow['reports']} are linked to a study",
            "full_text",
        )


# Ledger stages a human decision (a decisions.tsv row) settles.
_HUMAN_STAGES: frozenset[str] = frozenset({"title_abstract", "retrieval", "full_text"})


def _before(
    rec: _Record, closed: str, decision_dates: Mapping[str, str], settled_then: Mapping[str, tuple[_Record, str]] | None = None
) -> tuple[_Record, str]:
    """A canonical record's path in the previous version, which closed on ``closed`` (the date of this
    update's first search run; the next day for a second search on a previous run's day). Returns the
    path and the date of the decision made since that moved it ("" when the path is unchanged).

    With ``settled_then`` (``_settled_before``: the paths of the clusters whose stages the screening
    stage settles otherwise with only the decisions.tsv rows dated before ``closed``) the path is that
    one, else the ledger's. Without it (only the dates of the rows the ledger cites are known) a
    decision dated on or after ``closed`` had not been made, so the record waits at the stage of the
    first such decision (a title/abstract decision: awaiting at title/abstract; a full-text one:
    sought for retrieval and awaiting at full text); this is the stage's settlement when each stage
    of a record has one decisions.tsv row."""
    rows: list[LedgerRow] = []
    for r in rec.rows:
        date = decision_dates.get(r.reference, "") if r.stage in _HUMAN_STAGES else ""
        if r.stage in _HUMAN_STAGES and r.reference and not date:
            # a decision of another file (or of its path spelled otherwise) would leave the previous
            # version with every later decision, silently
            raise ReconciliationError(
                f"the {r.stage} row of {rec.record_id} cites a decision ({r.reference}) that the decisions file read for its dates does not have",
                where=r.where,
                fix="count with the decisions.tsv the screening stage read, under the same path (config screening.decisions; "
                "`livingreview prisma --decisions`), or re-run the screening stage",
            )
        if settled_then is not None:
            continue  # every cited decision checked above; the path is settled_then's
        if date >= closed:
            note = f"decided on {date}, not before {closed} (this update's search)"
            if r.stage == "title_abstract":
                rows.append(r._replace(outcome=OUTCOME_AWAITING, reason="", reference="", evidence=note))
            else:
                ta = next((t for t in rows if t.stage == "title_abstract"), r)
                rows.append(r._replace(stage="retrieval", outcome=OUTCOME_RETRIEVED, reason="", reference=ta.reference, evidence=note))
                rows.append(r._replace(stage="full_text", outcome=OUTCOME_AWAITING, reason="", reference="", evidence=note))
            return _Record(rec.record_id, rows), date
        rows.append(r)
    if settled_then is not None:
        return settled_then.get(rec.cluster_id, (rec, ""))
    return rec, ""


def _since(total: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """The flow of this update: every count of ``total`` (all runs, every decision) minus ``before``
    (the previous version as it stood). The previous version's paths are the same records' paths cut
    at their first later decision, so an exclusion reason never falls; the awaiting counts (and the
    reports assessed, for a report awaiting full text then marked not retrieved) may."""
    out: dict[str, Any] = {}
    for key, value in total.items():
        if key in ("records_excluded_reasons", "dbr_excluded"):
            n: Counter[str] = Counter({r["reason"]: r["n"] for r in value})
            n.subtract({r["reason"]: r["n"] for r in before[key]})
            out[key] = _reason_list(Counter({k: v for k, v in n.items() if v}))
        elif isinstance(value, int):
            out[key] = value - before[key]
    return out


@dataclass
class DedupInputs:
    """What counting the previous version's clusters as they stood needs, when a person's dedup
    decision (resources/dedup/decisions.tsv) is dated on or after this update's first search:
    every record (records.tsv), the dedup decisions, the screening decisions and rules (to screen a
    cluster of the previous version that no longer exists), studies.tsv rows (its study) and
    canonical.tsv (to resolve a screening decision's key as the screening stage did)."""

    records: Callable[[], Sequence[Any]]  # reads the livingreview.records.Record of every run (only when needed)
    dedup_decisions: Sequence[Any]  # livingreview.dedup_decisions.DedupDecision
    screening_decisions: Sequence[Any]  # livingreview.decisions.Decision
    ruleset: Any
    study_rows: Sequence[Mapping[str, str]] = ()
    studies_source: str = "resources/extraction/studies.tsv"
    # reads canonical.tsv (each cluster's merged canonical record, which the screening stage resolves
    # decision keys with), only when a key needs it
    canonical: Callable[[], Sequence[Any]] | None = None
    canonical_source: str = ""

    def decision_dates(self) -> dict[str, str]:
        """The date of every screening decision, by the reference the ledger cites it with (what
        decisions.decision_dates reads from the same files)."""
        from .decisions import dates_by_reference

        return dates_by_reference(self.screening_decisions)


def _without_disagreements(decisions: Sequence[Any], index: Any) -> list[Any]:
    """The screening decisions (livingreview.decisions.Decision) without the stages that reviewers
    left unsettled: at a cluster and stage whose reviewers' last rows disagree and no resolution row
    settles them, the record was awaiting that decision (as ``_before`` counts a disagreement resolved
    only since), so that stage's rows and those of later stages are left out."""
    from .decisions import INCLUDE

    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for d in decisions:
        rows[(index.resolve_one(d.key, where=f"{d.source}:{d.line}"), d.stage)].append(d)
    open_from: dict[str, int] = {}  # cluster -> index in STAGES of its first unsettled stage
    for (cid, stage), group in rows.items():
        if any(d.is_resolution for d in group):
            continue
        finals = {d.reviewer: d for d in sorted(group, key=lambda d: d.line)}
        if len({d.decision == INCLUDE for d in finals.values()}) > 1:
            open_from[cid] = min(open_from.get(cid, len(STAGES)), STAGES.index(stage))
    return [
        d for (cid, stage), group in rows.items() for d in group if STAGES.index(stage) < open_from.get(cid, len(STAGES))
    ]


def _then_row(row: Mapping[str, Any], where: str) -> LedgerRow:
    """A ledger row of a previous version's path the screening stage rebuilt (screen_clusters' ledger
    dict), with ``where`` saying how it was rebuilt."""
    return LedgerRow._make([str(row[f] or "") for f in LEDGER_FIELDS] + [where])


def _no_study(inputs: DedupInputs, record_id: str, then: str) -> ReconciliationError:
    """The error for a record the previous version (``then``: how it was counted) included at full
    text that no studies.tsv row links to a study."""
    listed = f"no study in {inputs.studies_source} lists it" if inputs.studies_source else "no studies.tsv was given"
    return ReconciliationError(
        f"record {record_id} was included at full text in the previous version ({then}), but {listed}",
        where=inputs.studies_source or "studies.tsv (none given)",
        fix="count with the studies.tsv of the review (`livingreview prisma --studies`; run_prisma_counts studies=), "
        "or add the report's key to its study's reports",
    )


def _settled_before(
    inputs: DedupInputs, records: Mapping[str, _Record], canonical_of: Mapping[str, _Record], old_clusters: set[str], closed: str
) -> dict[str, tuple[_Record, str]]:
    """The previous version's path of each cluster of the previous version (``old_clusters``, today's
    clusters) that a screening decision dated on or after ``closed`` touches, where that path differs
    from the ledger's: each stage settled by the screening stage's own rule
    (decisions.resolve_decisions, after ``_without_disagreements``) on the decisions.tsv rows dated
    before ``closed``, and the path built by the stage (screen_stage.screen_clusters). So a lone
    reviewer's row dated before it settles its stage though a second reviewer agreed since, and a
    reviewer's decision changed since counts as it was. Returns {cluster_id: (path, date of the
    earliest of its rows dated since)}.

    Keys are resolved to clusters as the stage resolved them: the key of every row the ledger cites
    (its cluster), every record_id (and a PubMed record's PMID); another key (a DOI or PMID the
    ledger does not cite) with the stage's own index (decisions.build_index of canonical.tsv, whose
    merged PMID and DOI it matches, and the ledger's clusters).
    """
    decisions = inputs.screening_decisions
    if not any(d.date >= closed for d in decisions):
        return {}
    # imported here, past the usual return (no decision dated since): the stages' modules only when needed
    from .decisions import ClusterIndex, build_index, resolve_decisions
    from .records import Record
    from .screen_stage import screen_clusters
    from .screening import ScreenResult
    from .studies import split_keys

    # the ledger's clusters (rows as clusters.tsv): every record_id, and a PubMed record's PMID, names its cluster
    cluster_rows = [
        {"record_id": rid, "cluster_id": rec.cluster_id, "canonical_id": canonical_of[rec.cluster_id].record_id}
        for rid, rec in sorted(records.items())
    ]
    known = build_index((), cluster_rows)
    by_reference = {d.reference: d for d in decisions}
    for cid, canon in canonical_of.items():
        for r in canon.rows:
            if r.stage in _HUMAN_STAGES and r.reference in by_reference:
                known.add_key(by_reference[r.reference].key, cid)  # the key of every row the ledger cites
    stage_index: list[ClusterIndex] = []  # the screening stage's index, built only when a key needs it

    def clusters_of(key: str) -> set[str]:
        found = known.resolve(key)
        if found:
            return found
        if not stage_index:
            stage_index.append(_stage_index(inputs, canonical_of, cluster_rows))
        return stage_index[0].resolve(key)

    def cluster_of_decision(d: Any) -> str:
        found = clusters_of(d.key)
        if len(found) != 1:
            raise ReconciliationError(
                f"key {d.key!r} names {len(found)} clusters of the ledger, so the previous version (decisions dated before {closed}) "
                "cannot be settled",
                where=f"{d.source}:{d.line}",
                fix="count with the ledger, canonical.tsv and decisions.tsv of one build (re-run the pipeline), or write the record_id of the intended record as the key",
            )
        return next(iter(found))

    since: dict[str, str] = {}  # cluster -> date of its earliest row dated since
    for d in decisions:
        if d.date >= closed:
            cid = cluster_of_decision(d)
            since[cid] = min(since.get(cid, d.date), d.date)
    touched = {
        cid for cid in since
        if cid in old_clusters and canonical_of[cid].row("automation") is not None and canonical_of[cid].row("automation").outcome == OUTCOME_PASSED
    }  # a rule's exclusion stands whatever people decided (the stage stops on a human inclusion)
    if not touched:
        return {}
    index = ClusterIndex()
    kept = []
    for d in decisions:
        if d.date < closed:
            cid = cluster_of_decision(d)
            if cid in touched:
                index.add_key(d.key, cid)
                kept.append(d)
    for cid in touched:
        index.cluster_of[canonical_of[cid].record_id] = cid
        index.canonical_of[cid] = canonical_of[cid].record_id
    settled = resolve_decisions(_without_disagreements(kept, index), index)
    # people decide these clusters: no rule excluded them (the ledger's automation row says so)
    screened = screen_clusters([Record(record_id=canonical_of[cid].record_id) for cid in sorted(touched)], index, inputs.ruleset, settled,
                               screen=lambda r, _s: ScreenResult(r.record_id, False, "", "", "", ""))
    paths: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in screened.ledger:
        paths[str(row["cluster_id"])].append(row)
    where = "previous version settled with the decisions dated before " + closed
    out: dict[str, tuple[_Record, str]] = {}
    for cid in sorted(touched):
        rec = canonical_of[cid]
        now = [(r.stage, r.outcome, r.reason) for r in rec.rows if r.stage not in ("identification", "dedup", "study")]
        if [(r["stage"], r["outcome"], r["reason"]) for r in paths[cid]] == now:
            continue
        rows = [*rec.rows[:2], *(_then_row(r, where) for r in paths[cid])]
        if rows[-1].stage == "full_text" and rows[-1].outcome == OUTCOME_INCLUDED:
            study = rec.row("study")
            study_id = study.reference if study is not None else ""
            for srow in inputs.study_rows if not study_id else ():
                if any(clusters_of(key) == {cid} for key in split_keys(srow.get("reports") or "")):
                    study_id = str(srow.get("study_id") or "")
                    break
            if not study_id:
                raise _no_study(inputs, rec.record_id, f"the decisions dated before {closed}")
            rows.append(LedgerRow(rec.record_id, cid, "study", OUTCOME_INCLUDED, "", study_id, "", where))
        out[cid] = (_Record(rec.record_id, rows), since[cid])
    return out


def _stage_index(inputs: DedupInputs, canonical_of: Mapping[str, _Record], cluster_rows: Sequence[Mapping[str, str]]) -> Any:
    """The ClusterIndex the screening stage resolved decisions.tsv keys with: canonical.tsv (``inputs.canonical``)
    and the ledger's clusters (``cluster_rows``, as clusters.tsv; decisions.build_index)."""
    from .decisions import build_index

    where = inputs.canonical_source or "canonical.tsv (none given)"
    if inputs.canonical is None:
        raise ReconciliationError(
            "counting the previous version needs canonical.tsv (a decisions.tsv key is no record_id or PMID the ledger names)",
            where=where,
            fix="pass the canonical.tsv of the build (`livingreview prisma --canonical`; run_prisma_counts canonical=)",
        )
    canonical = inputs.canonical()
    odd = sorted({r.record_id for r in canonical} ^ {c.record_id for c in canonical_of.values()})
    if odd:
        raise ReconciliationError(
            f"canonical.tsv and the ledger disagree on the canonical records ({len(odd)} record(s), e.g. {odd[0]})",
            where=where,
            fix="re-run the pipeline so results/dedup/canonical.tsv and results/audit/ledger.tsv come from the same build",
        )
    return build_index(canonical, cluster_rows)


def _dedup_then(
    inputs: DedupInputs, records: Mapping[str, _Record], previous: set[str], closed: str
) -> tuple[Any, list[Any], set[str]] | None:
    """The previous runs' records deduplicated with the dedup decisions dated before ``closed``:
    (livingreview.dedup.DedupResult, the dedup decisions dated since that touch records of the
    previous version, the ids of those records); None when no such decision exists."""
    if not any(d.date >= closed for d in inputs.dedup_decisions):
        return None
    from .dedup import deduplicate  # the matcher (numpy, rapidfuzz) only when a dedup decision is dated since

    mine = [r for r in inputs.records() if r.run_id in previous]
    ids = {r.record_id for r in mine}
    ledger_ids = {rid for rid, rec in records.items() if rec.run_id in previous}
    if ids != ledger_ids:
        odd = sorted(ids ^ ledger_ids)
        raise ReconciliationError(
            f"records.tsv and the ledger disagree on the records of the previous version ({len(odd)} record(s), e.g. {odd[0]})",
            where="results/records/records.tsv",
            fix="re-run the pipeline so records.tsv and results/audit/ledger.tsv come from the same build",
        )
    since = [d for d in inputs.dedup_decisions if d.date >= closed and (d.record_a in ids or d.record_b in ids)]
    if not since:
        return None
    then = [d for d in inputs.dedup_decisions if d.date < closed and d.record_a in ids and d.record_b in ids]
    return deduplicate(mine, decisions=then), since, ids


def _screening_then(inputs: DedupInputs, index: Any, changed: set[str], closed: str) -> list[Any]:
    """The screening decisions dated before ``closed`` whose key names a ``changed`` cluster of the
    previous version (``index``: its ClusterIndex); a key naming two of its clusters then stops."""
    kept = []
    for d in inputs.screening_decisions:
        if d.date >= closed:
            continue
        found = index.resolve(d.key)  # a key no record of the previous version has is not its decision
        if found & changed:
            if len(found) > 1:
                listed = ", ".join(f"{c} ({index.canonical_of.get(c, '?')})" for c in sorted(found))
                raise ReconciliationError(
                    f"key {d.key!r} names {len(found)} clusters of the previous version (its runs deduplicated with the dedup "
                    f"decisions dated before {closed}): {listed}",
                    where=f"{d.source}:{d.line}",
                    fix="write the record_id of the intended record as the key",
                )
            kept.append(d)
    return kept


def _studies_then(
    inputs: DedupInputs,
    index: Any,
    changed: set[str],
    included: set[str],
    canonical: Mapping[str, Any],
    study_now: Callable[[str], str],
    since: Sequence[Any],
) -> dict[str, str]:
    """The study_id of each ``changed`` cluster of the previous version a studies.tsv row lists a report key of
    (of those ``included`` at full text then, the ones whose study counts).

    A keep-apart made since can split such a cluster into reports that studies.tsv now lists under
    two studies. The previous version counted the cluster as one report, its canonical record, so
    its study is that record's: the study the ledger links the record's cluster of today to
    (``study_now``, "" when none), else the one study whose row lists a key of the record itself
    (its record_id, PMID or DOI; ``canonical``: the livingreview.records.Record of each cluster's
    canonical record, by cluster). When neither tells one study, stop naming the keep-apart rather
    than take the study of whichever row comes last."""
    from .studies import split_keys

    named: dict[str, dict[str, list[str]]] = defaultdict(dict)  # cluster -> study_id -> the keys its row lists of the cluster
    lines: dict[str, str] = {}
    for row in inputs.study_rows:
        sid = str(row.get("study_id") or "")
        lines[sid] = f"{inputs.studies_source}:{row.get('_line', '?')}"
        for key in split_keys(row.get("reports") or ""):
            for cid in index.resolve(key) & changed:
                named[cid].setdefault(sid, []).append(key.strip().lower())
    study_of: dict[str, str] = {}
    for cid, studies in named.items():
        if len(studies) == 1:
            study_of[cid] = next(iter(studies))
            continue
        if cid not in included:  # no report of the previous version: no study to tell
            continue
        report = canonical[cid]
        now = study_now(report.record_id)
        if now in studies:
            study_of[cid] = now
            continue
        db, _, native = report.record_id.partition(":")
        own = {k.strip().lower() for k in (report.record_id, report.pmid, report.doi, native if db in PMID_DATABASES else "") if k}
        found = [sid for sid, keys in studies.items() if own & set(keys)]
        if len(found) == 1:
            study_of[cid] = found[0]
            continue
        members = set(index.members.get(cid, ()))
        split = [d for d in since if d.record_a in members and d.record_b in members] or list(since)
        listed = ", ".join(f"{sid} ({lines[sid]})" for sid in sorted(studies))
        raise ReconciliationError(
            f"the dedup decision made since splits a cluster of the previous version (report {report.record_id}, "
            f"records {', '.join(sorted(members))}) into reports of {len(studies)} studies ({listed}), and no single one of them "
            f"lists {report.record_id} itself, so the study the previous version linked it to cannot be told",
            where=min(split, key=lambda d: (d.date, d.where)).where,
            fix=f"list {report.record_id} (the record the previous version counted as the report) in the reports of the study "
            "it was a report of then, and of no other study, in studies.tsv",
        )
    return study_of


def _previous_clusters(
    inputs: DedupInputs, records: Mapping[str, _Record], previous: set[str], closed: str, old_clusters: set[str], clusters: Mapping[str, list[_Record]]
) -> tuple[set[str], list[_Record], int, list[dict[str, str]]] | None:
    """The previous version's clusters as they stood on ``closed``: deduplicate the previous runs'
    records with the dedup decisions dated before it. A cluster of the previous version whose
    records are not those of a cluster now (a link or keep-apart made since changed it) is screened
    as the previous version screened it (its canonical record, the rules, the screening decisions
    dated before ``closed``) and linked to its study.

    Returns None when the decisions made since changed no cluster of the previous version, else
    (ids of the clusters now that hold those changed records, the changed clusters' canonical
    records with their paths then, the number of clusters of the previous version, the dedup
    decisions made since that touch records of the previous version).
    """
    rebuilt = _dedup_then(inputs, records, previous, closed)
    if rebuilt is None:
        return None
    from .decisions import build_index, resolve_decisions
    from .records import Record
    from .screen_stage import screen_clusters
    from .screening import screen_record

    result, since, ids = rebuilt
    members_then: dict[str, set[str]] = defaultdict(set)
    for row in result.clusters:
        members_then[row["cluster_id"]].add(row["record_id"])
    parts_now = {frozenset(m.record_id for m in clusters[cid] if m.record_id in ids): cid for cid in old_clusters}
    changed = {cid for cid, m in members_then.items() if frozenset(m) not in parts_now}
    if not changed:
        return None
    changed_now = {records[rid].cluster_id for cid in changed for rid in members_then[cid]}
    canonical = [Record.from_row(r) for r in result.canonical]
    index = build_index(canonical, result.clusters)
    settled = resolve_decisions(_without_disagreements(_screening_then(inputs, index, changed, closed), index), index)
    screened = screen_clusters([c for c in canonical if index.cluster_of[c.record_id] in changed], index, inputs.ruleset, settled, screen=screen_record)
    included = {str(r["cluster_id"]) for r in screened.ledger if r["stage"] == "full_text" and r["outcome"] == OUTCOME_INCLUDED}

    def study_now(record_id: str) -> str:  # the study the ledger links the record's cluster of today to
        canon = next(m for m in clusters[records[record_id].cluster_id] if m.rows[1].outcome == OUTCOME_CANONICAL)
        study = canon.row("study")
        return study.reference if study is not None else ""

    canonical_then = {index.cluster_of[c.record_id]: c for c in canonical}
    study_of = _studies_then(inputs, index, changed, included, canonical_then, study_now, since)
    paths: dict[str, list[LedgerRow]] = defaultdict(list)
    where = "previous version rebuilt with the decisions dated before " + closed
    for row in screened.ledger:
        if row["stage"] == "full_text" and row["outcome"] == OUTCOME_INCLUDED and not study_of.get(str(row["cluster_id"])):
            raise _no_study(inputs, str(row["record_id"]), f"its runs deduplicated with the dedup decisions dated before {closed}")
    for row in screened.ledger:
        paths[row["record_id"]].append(_then_row(row, where))
    out: list[_Record] = []
    for c in canonical:
        cid = index.cluster_of[c.record_id]
        if cid not in changed:
            continue
        ident = records[c.record_id].rows[0]
        rows = [ident._replace(cluster_id=cid), LedgerRow(c.record_id, cid, "dedup", OUTCOME_CANONICAL, "", "", "", where), *paths[c.record_id]]
        if rows[-1].stage == "full_text" and rows[-1].outcome == OUTCOME_INCLUDED:
            rows.append(LedgerRow(c.record_id, cid, "study", OUTCOME_INCLUDED, "", study_of.get(cid, ""), "", where))
        out.append(_Record(c.record_id, rows))
    listed = [
        {"decision": d.decision, "record_a": d.record_a, "record_b": d.record_b, "date": d.date, "reference": d.where}
        for d in sorted(since, key=lambda d: (d.date, d.where))
    ]
    return changed_now, sorted(out, key=lambda r: r.record_id), len(members_then), listed


def _changed_since(
    old_flow: Mapping[str, Any], now_cut: Mapping[str, Any], all_flow: Mapping[str, Any], flow: Mapping[str, Any], dedup_duplicates: int
) -> dict[str, dict[str, int]]:
    """counts.json previous.changed_since: what of this update's cells comes from records of earlier
    searches rather than from its own search, nonzero cells only. ``dedup``: dedup decisions made
    since (the previous version's flow -> ``now_cut``, today's clusters of the previous version with
    each path cut at the cut; ``dedup_duplicates`` its duplicates); ``decisions``: screening decisions
    made since (``now_cut`` -> every decision: ``all_flow`` minus the newest runs' ``flow``)."""
    by_dedup = {k: now_cut[k] - old_flow[k] for k in CHANGE_KEYS if k != "duplicates"}
    by_dedup["duplicates"] = dedup_duplicates
    by_decisions = {k: all_flow[k] - flow[k] - now_cut[k] for k in CHANGE_KEYS if k != "duplicates"}
    return {
        "dedup": {k: v for k, v in sorted(by_dedup.items()) if v},
        "decisions": {k: v for k, v in sorted(by_decisions.items()) if v},
    }


def _not_carried(previous_reports: Sequence[Any], all_reports: Sequence[Any]) -> list[dict[str, str]]:
    """counts.json previous.reports_not_carried: the reports (study rows) of the previous version that
    are not reports now (a dedup link made since merged them into another cluster), sorted."""
    in_all = {(s.record_id, s.reference) for s in all_reports}
    return sorted(
        ({"record_id": p.record_id, "study_id": p.reference} for p in previous_reports if (p.record_id, p.reference) not in in_all),
        key=lambda d: (d["record_id"], d["study_id"]),
    )


def compute_counts(
    ledger_rows: Sequence[Mapping[str, Any] | LedgerRow],
    *,
    sources: Sequence[Mapping[str, Any]],
    previous_runs: Sequence[str] | None = None,
    source_name: str = "results/audit/ledger.tsv",
    decision_dates: Mapping[str, str] | None = None,
    dedup_inputs: DedupInputs | None = None,
) -> dict[str, Any]:
    """Count the PRISMA 2020 flow from ledger rows and check that it adds up.

    Args:
        ledger_rows: ledger rows (dicts with constants.LEDGER_FIELDS, optionally ``_line``) or LedgerRow.
        sources: config ``searches.sources`` (database, kind, platform), for database vs register and labels.
        previous_runs: run ids that belong to the previous version of the review. None: every run
            in the ledger except the newest (run ids sort by date). Records of a cluster that holds a
            record from a previous run belong to the previous version; the main column counts the rest.
        source_name: file name used in error messages.
        decision_dates: date (YYYY-MM-DD) of each human decision, by the ledger ``reference`` that
            cites it (``resources/screening/decisions.tsv:LINE``). Given, the previous version is
            counted as it stood when this update's first search ran: its records with the decisions
            dated before that run's date (the team screens a run's records after the search, so
            those decisions are the previous version's; for a second search on a previous run's
            day, those dated on that day too); a decision dated on or after it, on a
            record of an earlier run, belongs to this update (``previous.decided_before`` is that
            date, ``previous.flow`` the previous version's flow, ``previous.decided_since`` the
            records it moved), and this update's flow (the main keys) is the total minus
            ``previous.flow``: the newest run's records and the decisions made since on earlier
            ones, so that it leads to the reports it counts as new (an awaiting count may be
            negative). Without it the previous version's records are counted with every decision
            made so far. Every decisions.tsv line a human-stage ledger row cites must be in it.
        dedup_inputs: with ``decision_dates``, the records and decisions that let the previous
            version be counted with the clusters it had: a person's dedup link or keep-apart dated on
            or after that date is this update's too. The previous version's clusters are then those
            of its runs' records deduplicated with the dedup decisions dated before it (a cluster a
            decision since changed is screened again as it stood), its duplicates are its records
            minus its clusters, and this update's duplicates the total's minus the previous
            version's (``previous.dedup_since`` lists those decisions; a report of the previous
            version that a link since merged into another is in ``previous.reports_not_carried``,
            and the totals count the reports and studies included now).
            ``previous.changed_since`` splits what of this update's cells comes from records of
            earlier searches: ``dedup`` (dedup decisions made since) and ``decisions`` (screening
            decisions made since), nonzero cells only; ``update_notes`` words it for the diagram,
            PRISMA.csv and the report.

    Returns:
        A dict with every key of constants.PRISMA_KEYS (``dbr_excluded`` is a list of
        {reason, n}), plus ``database_specific_results`` / ``register_specific_results``
        (lists of {database, label, n}), awaiting counts, title/abstract exclusion reasons,
        automation exclusions per rule, per-run counts, the previous-version column and the
        same flow for all runs together (``all_runs``).

    Raises:
        InputFormatError: a row has an unknown stage or outcome.
        ReconciliationError: a record's path is malformed or the PRISMA arithmetic fails.
    """
    kinds = _source_kinds(sources)
    records = _group(_to_rows(ledger_rows, source_name))
    run_of = {rid: rec.run_id for rid, rec in records.items()}  # read once: used for every record below
    records_of_run: dict[str, list[_Record]] = defaultdict(list)
    for rec in records.values():
        records_of_run[run_of[rec.record_id]].append(rec)
    run_ids = sorted(records_of_run, key=run_sort_key)
    if previous_runs is None:
        previous = set(run_ids[:-1])
    else:
        previous = set(previous_runs)
    newest = [r for r in run_ids if r not in previous]

    clusters: dict[str, list[_Record]] = defaultdict(list)
    for rec in records.values():
        clusters[rec.cluster_id].append(rec)
    canonical_of: dict[str, _Record] = {}
    for cid, members in sorted(clusters.items()):
        canon = [m for m in members if m.rows[1:2] and m.rows[1].outcome == OUTCOME_CANONICAL]
        if len(canon) != 1:
            raise ReconciliationError(
                f"cluster {cid} has {len(canon)} canonical records (must have exactly 1)",
                where=members[0].rows[0].where,
                fix="re-run the dedup stage",
            )
        canonical_of[cid] = canon[0]
    old_clusters = {cid for cid, members in clusters.items() if any(run_of[m.record_id] in previous for m in members)}

    new_records = [r for r in records.values() if run_of[r.record_id] not in previous]
    new_canonicals = sorted((canonical_of[c] for c in clusters if c not in old_clusters), key=lambda r: r.record_id)
    old_canonicals = sorted((canonical_of[c] for c in old_clusters), key=lambda r: r.record_id)
    # Duplicates (main column): records of the newest run(s) that are duplicates within the run or
    # that fall into a cluster already found by an earlier run.
    duplicates = sum(
        1 for r in new_records if r.rows[1:2] and (r.rows[1].outcome == OUTCOME_DUPLICATE or r.cluster_id in old_clusters)
    )
    flow = _flow(new_canonicals)
    _reconcile("newest run" if previous else "all runs", len(new_records), duplicates, flow, new_canonicals)

    all_canonicals = sorted(canonical_of.values(), key=lambda r: r.record_id)
    all_flow = _flow(all_canonicals)
    all_dups = sum(1 for r in records.values() if r.rows[1:2] and r.rows[1].outcome == OUTCOME_DUPLICATE)
    if previous:
        _reconcile("all runs", len(records), all_dups, all_flow, all_canonicals)

    by_db = Counter(r.database for r in new_records)
    db_specific = [
        {"database": db, "label": _label(db, kinds), "n": n} for db, n in sorted(by_db.items()) if _kind(db, kinds) == "database"
    ]
    reg_specific = [
        {"database": db, "label": _label(db, kinds), "n": n} for db, n in sorted(by_db.items()) if _kind(db, kinds) == "register"
    ]

    previous_runs_sorted = sorted(previous & set(run_ids), key=run_sort_key)
    update_runs = sorted(set(run_ids) - previous, key=run_sort_key)
    # the previous version closed when this update's first search ran (runs.version_closes: that
    # run's date, the next day for a second search on a previous run's day; a run id that is no date
    # gives "", and the previous version takes every decision)
    closed = version_closes(previous_runs_sorted, update_runs[0]) if previous_runs_sorted and update_runs and decision_dates is not None else ""
    decided_since: list[dict[str, str]] = []
    dedup_since: list[dict[str, str]] = []
    then_canonicals: list[_Record] = []
    previous_clusters = len(old_clusters)
    # the paths of the previous version's clusters whose stages the decisions dated before ``closed``
    # settle otherwise (None: only the cited rows' dates are known, and _before cuts each path there)
    settled_then = _settled_before(dedup_inputs, records, canonical_of, old_clusters, closed) if closed and dedup_inputs is not None else None
    if closed and dedup_inputs is not None:
        rebuilt = _previous_clusters(dedup_inputs, records, previous, closed, old_clusters, clusters)
        if rebuilt is not None:
            changed_now, then_canonicals, previous_clusters, dedup_since = rebuilt
            old_canonicals = [r for r in old_canonicals if r.cluster_id not in changed_now]
            # this update's duplicates: the total's minus the previous version's (its records minus its clusters)
            duplicates += previous_clusters - len(old_clusters)
    # each previous-version cluster of today's, cut at ``closed`` (used for the previous version and, with
    # the clusters a dedup decision since changed, for the part of this update's cells that comes from them)
    cut_of = {c: _before(canonical_of[c], closed, decision_dates or {}, settled_then) for c in sorted(old_clusters)} if closed else {}
    if closed:
        cut = []
        for rec in old_canonicals:
            then, date = cut_of[rec.cluster_id]
            cut.append(then)
            if date:
                decided_since.append({"record_id": rec.record_id, "cluster_id": rec.cluster_id, "date": date})
        old_canonicals = sorted(cut + (then_canonicals if dedup_since else []), key=lambda r: r.record_id)
    old_flow = _flow(old_canonicals)
    previous_identified = sum(1 for r in records.values() if run_of[r.record_id] in previous)
    if closed:
        _reconcile("previous version", previous_identified, previous_identified - previous_clusters, old_flow, old_canonicals)
    # this update's flow: the newest run's records and, once the previous version is counted as it
    # stood, the decisions made since on earlier records (the total minus the previous version), so
    # that it leads to the reports it counts as new
    update = {**flow, **_since(all_flow, old_flow)} if closed else flow
    changed_since: dict[str, dict[str, int]] = {}
    if closed:
        _reconcile("this update", len(new_records), duplicates, update, new_canonicals)
        now_cut = _flow([cut_of[c][0] for c in sorted(old_clusters)])
        changed_since = _changed_since(old_flow, now_cut, all_flow, flow, previous_clusters - len(old_clusters))
    previous_reports = old_flow["study_rows"]
    previous_studies = {s.reference for s in previous_reports}
    all_reports = all_flow["study_rows"]
    in_previous = {(p.record_id, p.reference) for p in previous_reports}
    new_reports = [s for s in all_reports if (s.record_id, s.reference) not in in_previous]
    new_studies = {s.reference for s in all_reports} - previous_studies
    not_carried = _not_carried(previous_reports, all_reports)
    for s in all_reports:
        if not s.reference:
            raise ReconciliationError(
                f"record {s.record_id} is included at the study stage without a study_id",
                where=s.where,
                fix="link the report to a study in resources/extraction/studies.tsv",
            )

    rule_counter: Counter[tuple[str, str]] = Counter(
        (a.reference, a.reason) for a in flow["automation_excluded_rows"] if a.reference
    )
    per_run = []
    for run_id in run_ids:
        members = records_of_run[run_id]
        per_run.append(
            {
                "run_id": run_id,
                "previous": run_id in previous,
                "identified": len(members),
                "by_database": dict(sorted(Counter(r.database for r in members).items())),
            }
        )

    counts: dict[str, Any] = {
        "previous_studies": len(previous_studies),
        "previous_reports": len(previous_reports),
        "database_results": sum(d["n"] for d in db_specific),
        "register_results": sum(d["n"] for d in reg_specific),
        "duplicates": duplicates,
        "excluded_automatic": update["excluded_automatic"],
        "excluded_other": update["excluded_other"],
        "records_screened": update["records_screened"],
        "records_excluded": update["records_excluded"],
        "dbr_sought_reports": update["dbr_sought_reports"],
        "dbr_notretrieved_reports": update["dbr_notretrieved_reports"],
        "dbr_assessed": update["dbr_assessed"],
        "dbr_excluded": update["dbr_excluded"],
        "new_studies": len(new_studies),
        "new_reports": len(new_reports),
        "total_studies": len({s.reference for s in all_reports}),
        "total_reports": len(all_reports),
    }
    counts.update(
        {
            "database_specific_results": db_specific,
            "register_specific_results": reg_specific,
            "records_identified": len(new_records),
            "records_awaiting": update["records_awaiting"],
            "records_excluded_reasons": update["records_excluded_reasons"],
            "dbr_excluded_total": update["dbr_excluded_total"],
            "dbr_awaiting": update["dbr_awaiting"],
            "excluded_automatic_by_rule": [
                {"rule": rule, "reason": reason, "n": n} for (rule, reason), n in sorted(rule_counter.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            # reports of this update that belong to a study already included in the previous
            # version (PRISMA 2020's "Reports of new included studies" must not count them)
            "new_reports_of_previous_studies": sum(1 for r in new_reports if r.reference in previous_studies),
            "included_studies": sorted(previous_studies | new_studies),
            "newest_runs": newest,
            "runs": per_run,
            "previous": (
                {
                    "runs": previous_runs_sorted,
                    "records_identified": previous_identified,
                    "studies": len(previous_studies),
                    "reports": len(previous_reports),
                    **(
                        {
                            "decided_before": closed,
                            "flow": {k: v for k, v in old_flow.items() if k not in ("automation_excluded_rows", "study_rows", "fulltext_included")},
                            "decided_since": decided_since,
                            "dedup_since": dedup_since,
                            "reports_not_carried": not_carried,
                            "changed_since": changed_since,
                        }
                        if closed
                        else {}
                    ),
                }
                if previous_runs_sorted
                else None
            ),
            "all_runs": {
                "records_identified": len(records),
                "duplicates": all_dups,
                "clusters": len(clusters),
                **{k: v for k, v in all_flow.items() if k not in ("automation_excluded_rows", "study_rows", "fulltext_included")},
            },
        }
    )
    missing = [k for k in PRISMA_KEYS if k not in counts]
    if missing:  # pragma: no cover - guards the constant list against drift
        raise ReconciliationError(f"counts lack PRISMA keys {missing}", fix="update prisma.compute_counts")
    return counts


def _app_name(text: str) -> str:
    """A reason or source name as the PRISMA2020 app can read it back: the app splits a cell at ';'
    and takes each name up to its first ',' (PRISMA_parse_reasons_), so "Observational study
    (cohort, case-control, chart review), 8" would become the reason "Observational study (cohort"
    with no number. Commas and semicolons inside a name become ' / '."""
    return re.sub(r"\s*[,;]\s*", " / ", str(text)).strip()


def _csv_n(key: str, counts: Mapping[str, Any]) -> str:
    if key in ("database_specific_results", "register_specific_results"):
        items = counts.get(key) or []
        return "; ".join(f"{_app_name(d['label'])}, {d['n']}" for d in items) if items else "0"
    if key == "dbr_excluded":
        items = counts.get(key) or []
        return "; ".join(f"{_app_name(d['reason'])}, {d['n']}" for d in items) if items else "0"
    if key == "new_reports":
        # the app's box holds the reports of new studies; a new report of a study of the previous
        # version counts in the total's reports only (as the diagram draws it)
        return str(int(counts.get("new_reports", 0)) - int(counts.get("new_reports_of_previous_studies", 0)))
    if key in counts and isinstance(counts[key], int):
        return str(counts[key])
    return "0"


def to_prisma_csv(counts: Mapping[str, Any]) -> str:
    """The counts in the PRISMA2020 Shiny app's CSV layout (data, node, box, description, boxtext, tooltips, url, n)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(PRISMA_CSV_FIELDS)
    notes = update_notes(counts)
    notes["dbr_excluded"] = notes.pop("dbr_excluded_total", [])
    for data, node, box, description, boxtext, tooltips, anchor in _CSV_ROWS:
        if notes.get(data):  # the app draws boxtext before "(n = x)": say why this update's count holds earlier records
            boxtext = f"{boxtext} (of which {'; '.join(notes[data])})"
        n = _csv_n(data, counts) if data != "NA" else "0"
        if data in ("identification", "screening", "included"):
            n = "0"
        writer.writerow([data, node, box, description, boxtext, tooltips, f"index.html#{anchor}", n])
    return buf.getvalue()


def load_ledger(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read results/audit/ledger.tsv (all LEDGER_FIELDS required)."""
    return read_tsv(path, required=LEDGER_FIELDS)


def load_ledger_rows(path: str | os.PathLike[str]) -> list[LedgerRow]:
    """Read results/audit/ledger.tsv straight into LedgerRows: the rows compute_counts makes of
    load_ledger's dicts (same checks and errors), without a dict per row on the way."""
    source = str(path)
    make = LedgerRow._make
    out: list[LedgerRow] = []
    for cells in read_tsv_columns(path, LEDGER_FIELDS):  # the LEDGER_FIELDS cells, then the line number
        cells[-1] = f"{source}:{cells[-1]}"
        out.append(make(cells))
    return out


def _read_canonical(path: str | os.PathLike[str]) -> Any:
    """canonical.tsv, read by the screening stage's reader (imported only when a key needs it)."""
    from .screen_stage import read_canonical

    return read_canonical(path)


def dedup_inputs(
    records: str | os.PathLike[str] | None,
    dedup_decisions: str | os.PathLike[str] | None,
    decisions: str | os.PathLike[str] | None,
    rules: str | os.PathLike[str],
    studies: str | os.PathLike[str] | None,
    canonical: str | os.PathLike[str] | None = None,
) -> DedupInputs | None:
    """DedupInputs read from records.tsv, resources/dedup/decisions.tsv, the screening decisions,
    rules, studies.tsv and canonical.tsv; None without the screening decisions. Without records.tsv
    or a dedup decisions file no dedup decision counts as dated since the previous version.
    records.tsv is read only when a dedup decision dated since is; canonical.tsv only when a
    screening decision's key needs it."""
    if decisions is None:
        return None
    from .decisions import load_decisions
    from .dedup_decisions import load_dedup_decisions
    from .screening import load_rules

    def read_records() -> Sequence[Any]:
        from .dedup import read_records_tsv  # the matcher's module (numpy, rapidfuzz) only when records are read

        if records is None or not os.path.exists(records):
            raise ReconciliationError(
                "counting the previous version with the dedup decisions dated before it needs records.tsv",
                where=str(records or "records.tsv"),
                fix="pass the records.tsv of the build (`livingreview prisma --records`; run_prisma_counts records=)",
            )
        return read_records_tsv(records)

    ruleset = load_rules(str(rules))
    screening_decisions = load_decisions(decisions, ruleset.reasons)  # before studies.tsv and the dedup decisions: its errors come first
    study_rows = read_tsv(studies, required=("study_id", "reports")) if studies is not None and os.path.exists(studies) else []
    with_dedup = records is not None and dedup_decisions is not None and os.path.exists(dedup_decisions)
    return DedupInputs(
        records=read_records,
        dedup_decisions=load_dedup_decisions(dedup_decisions) if with_dedup else [],
        screening_decisions=screening_decisions,
        ruleset=ruleset,
        study_rows=study_rows,
        studies_source=str(studies or ""),
        canonical=(lambda: _read_canonical(canonical)) if canonical is not None and os.path.exists(canonical) else None,
        canonical_source=str(canonical or ""),
    )


@collector_paused()
def run_prisma_counts(
    *,
    ledger: str | os.PathLike[str],
    config: Mapping[str, Any],
    counts_out: str | os.PathLike[str],
    csv_out: str | os.PathLike[str],
    previous_runs: Sequence[str] | None = None,
    decisions: str | os.PathLike[str] | None = None,
    records: str | os.PathLike[str] | None = None,
    dedup_decisions: str | os.PathLike[str] | None = None,
    studies: str | os.PathLike[str] | None = None,
    canonical: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Pipeline step: read the ledger, compute and reconcile the counts, write counts.json and PRISMA.csv.

    ``decisions`` (resources/screening/decisions.tsv) gives each human decision's date, so that the
    previous version is counted with the decisions it had (compute_counts ``decision_dates``);
    ``records`` (records.tsv), ``dedup_decisions`` (resources/dedup/decisions.tsv) and ``studies``
    (studies.tsv) let it be counted with the clusters it had (compute_counts ``dedup_inputs``);
    ``canonical`` (canonical.tsv) resolves a decisions.tsv key the ledger does not cite as the
    screening stage did.
    """
    rows = load_ledger_rows(ledger)
    # the screening rules and decisions read once: for the decisions' dates and the previous version's clusters
    inputs = dedup_inputs(records, dedup_decisions, decisions, config["screening"]["rules"], studies, canonical) if decisions is not None else None
    dates = inputs.decision_dates() if inputs is not None else None
    counts = compute_counts(
        rows, sources=config["searches"]["sources"], previous_runs=previous_runs, source_name=str(ledger), decision_dates=dates, dedup_inputs=inputs
    )
    LOG.info(
        "PRISMA: %d identified, %d duplicates, %d screened, %d assessed, %d studies / %d reports included",
        counts["records_identified"],
        counts["duplicates"],
        counts["records_screened"],
        counts["dbr_assessed"],
        counts["total_studies"],
        counts["total_reports"],
    )
    write_json(counts_out, counts)
    write_text(csv_out, to_prisma_csv(counts))
    return counts
