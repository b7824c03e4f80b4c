"""Screening stage: automation rules on every canonical record, then human decisions per stage."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from .constants import (
    LEDGER_FIELDS,
    LIST_SEP,
    OUTCOME_AWAITING,
    OUTCOME_EXCLUDED,
    OUTCOME_INCLUDED,
    OUTCOME_NOT_RETRIEVED,
    OUTCOME_PASSED,
    OUTCOME_RETRIEVED,
    SCREENING_FIELDS,
)
from .decisions import EXCLUDE, INCLUDE, ClusterIndex, StageDecision, agreement, build_index, load_decisions, resolve_decisions
from .errors import ConfigError, ReconciliationError
from .gcpause import collector_paused
from .records import Record, read_records_table
from .tables import format_value, read_tsv, write_json, write_tsv

LOG = logging.getLogger(__name__)

TITLE_ABSTRACT = "title_abstract"
FULL_TEXT = "full_text"
NOT_RETRIEVED_CODE = "not_retrieved"
RULE_PERFORMANCE_FIELDS: tuple[str, ...] = (
    "rule_id",
    "label",
    "reason",
    "records_matched",  # records the rule's condition matched (first match or not)
    "records_excluded",  # records this rule excluded (it was the first rule to match)
    "people_decided",  # of those excluded, how many people also decided (any stage)
    "people_excluded",  # ... and excluded too (confirmations)
    "people_excluded_other_reason",  # ... of those, excluded for a reason other than the rule's (see the ledger evidence)
    "people_included",  # ... and would have included (an error: the run stops)
    "eventual_inclusions",  # clusters people included at full text
    "eventual_inclusions_passed",  # of those, how many the rule (or the automation) did not match
    "sensitivity",  # eventual_inclusions_passed / eventual_inclusions ("" when none yet)
)
ALL_RULES = "all_rules"


class ScreenResultLike(Protocol):
    """What livingreview.screening.screen_record returns."""

    excluded: bool
    rule_id: str
    reason: str
    label: str
    evidence: Any
    hits: Any


class RuleSetLike(Protocol):
    """What livingreview.screening.load_rules returns."""

    rules: Sequence[Any]
    reasons: Mapping[str, str]


ScreenFunc = Callable[[Record, Any], ScreenResultLike]


@dataclass
class ScreeningResult:
    """Everything the screening stage writes, as rows."""

    screening: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    performance: list[dict[str, Any]] = field(default_factory=list)
    agreement: dict[str, Any] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def _rule_attr(rule: Any, *names: str) -> str:
    for name in names:
        value = getattr(rule, name, None) if not isinstance(rule, Mapping) else rule.get(name)
        if value:
            return str(value)
    return ""


def _hit_rule_ids(result: Any) -> list[str]:
    """Rule ids of every rule that matched (``hits``), falling back to the deciding rule."""
    ids: list[str] = []
    for hit in getattr(result, "hits", None) or ():
        rid = hit if isinstance(hit, str) else _rule_attr(hit, "rule_id", "id", "rule")
        if rid and rid not in ids:
            ids.append(rid)
    if getattr(result, "excluded", False) and result.rule_id and result.rule_id not in ids:
        ids.insert(0, result.rule_id)
    return ids


def _label(code: str, reasons: Mapping[str, str]) -> str:
    """PRISMA label of a reason code (the code itself when it is already a label)."""
    return reasons.get(code, code)


def _row(record: Record, cluster_id: str, stage: str, outcome: str, reason: str = "", reference: str = "", evidence: str = "") -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "cluster_id": cluster_id,
        "stage": stage,
        "outcome": outcome,
        "reason": reason,
        "reference": reference,
        "evidence": evidence,
    }


def _human_evidence(sd: StageDecision) -> str:
    text = sd.final.describe()
    if len(sd.rows) > 1:
        others = ", ".join(d.reference for d in sd.rows if d is not sd.final)
        text += f" (settles {len(sd.rows)} rows; also {others})"
    return text


def screen_clusters(
    canonical: Sequence[Record],
    index: ClusterIndex,
    ruleset: RuleSetLike,
    settled: Mapping[tuple[str, str], StageDecision],
    *,
    screen: ScreenFunc,
) -> ScreeningResult:
    """Screen every canonical record: rules first (automation), then human decisions per stage.

    A human decision always wins over a rule; a rule exclusion that people confirmed is shown on the
    automation row ("confirmed by decisions.tsv:N"); a rule exclusion of a record people included
    raises ConfigError naming the rule and record. Records no one decided are ``awaiting_decision``.
    """
    reasons: Mapping[str, str] = getattr(ruleset, "reasons", {}) or {}
    out = ScreeningResult()
    canonical_clusters: set[str] = set()
    conflicts: list[str] = []
    rule_ids = [_rule_attr(r, "id", "rule_id") for r in getattr(ruleset, "rules", ())]
    matched: dict[str, set[str]] = {rid: set() for rid in rule_ids}
    excluded_by: dict[str, list[str]] = {rid: [] for rid in rule_ids}
    eventual: set[str] = set()
    automation_excluded: set[str] = set()

    for rec in sorted(canonical, key=lambda r: r.record_id):
        cid = index.cluster_of.get(rec.record_id)
        if cid is None:
            raise ReconciliationError(
                f"canonical record {rec.record_id} has no row in clusters.tsv",
                where="results/dedup/canonical.tsv",
                fix="re-run deduplication (canonical.tsv and clusters.tsv must come from the same run)",
            )
        if cid in canonical_clusters:
            raise ReconciliationError(
                f"cluster {cid} has more than one canonical record ({rec.record_id})",
                where="results/dedup/canonical.tsv",
                fix="re-run deduplication",
            )
        canonical_clusters.add(cid)
        result = screen(rec, ruleset)
        for rid in _hit_rule_ids(result):
            matched.setdefault(rid, set()).add(cid)
        ta = settled.get((cid, TITLE_ABSTRACT))
        ft = settled.get((cid, FULL_TEXT))
        if ft is not None and ft.final.decision == INCLUDE:
            eventual.add(cid)
        if result.excluded:
            automation_excluded.add(cid)

        def screening_row(stage: str, decision: str, source: str, reference: str, reason: str, evidence: str) -> None:
            out.screening.append(
                {
                    "cluster_id": cid,
                    "record_id": rec.record_id,
                    "stage": stage,
                    "decision": decision,
                    "source": source,
                    "reference": reference,
                    "reason": reason,
                    "evidence": evidence,
                }
            )

        def add(stage: str, outcome: str, reason: str = "", reference: str = "", evidence: str = "", source: str = "human") -> None:
            out.ledger.append(_row(rec, cid, stage, outcome, reason, reference, evidence))
            out.counts[f"{stage}:{outcome}"] += 1
            if stage != "retrieval":
                screening_row(stage, outcome, source, reference, reason, evidence)

        # --- automation ------------------------------------------------------------------
        if result.excluded:
            excluded_by.setdefault(result.rule_id, []).append(cid)
            label = _label(result.reason or "", reasons) or result.label
            evidence = str(result.evidence or "")
            included_by = [sd for sd in (ta, ft) if sd is not None and sd.final.decision == INCLUDE]
            if included_by:
                sd = included_by[0]
                conflicts.append(
                    f"rule {result.rule_id} excluded {rec.record_id} (cluster {cid}; {evidence}) but people included it "
                    f"at {sd.stage} ({sd.final.reference})"
                )
                continue
            confirmations = [sd for sd in (ta, ft) if sd is not None]
            for sd in confirmations:
                evidence += f"; confirmed by {sd.final.reference} ({sd.stage} exclude, reason {sd.final.reason})"
            add("automation", OUTCOME_EXCLUDED, label, result.rule_id, evidence.lstrip("; "), source="rule")
            continue
        add("automation", OUTCOME_PASSED, "", "", "no rule matched", source="rule")

        # --- title/abstract ----------------------------------------------------------------
        if ta is None:
            if ft is not None:
                raise ConfigError(
                    f"{rec.record_id} has a full-text decision but no title/abstract decision",
                    where=ft.final.reference,
                    fix="add the title_abstract include row for this record first",
                )
            add(TITLE_ABSTRACT, OUTCOME_AWAITING, "no human title/abstract decision yet", "", "no row for this record in decisions.tsv")
            continue
        if ta.final.decision == EXCLUDE:
            if ft is not None:
                raise ConfigError(
                    f"{rec.record_id} was excluded at title/abstract ({ta.final.reference}) but has a full-text decision",
                    where=ft.final.reference,
                    fix="remove the full-text row or change the title/abstract decision to include",
                )
            add(TITLE_ABSTRACT, OUTCOME_EXCLUDED, _label(ta.final.reason, reasons), ta.final.reference, _human_evidence(ta))
            continue
        add(TITLE_ABSTRACT, OUTCOME_INCLUDED, "", ta.final.reference, _human_evidence(ta))

        # --- retrieval and full text -----------------------------------------------------
        if ft is None:
            # Sought for retrieval (PRISMA); the assessment is pending, so the record ends awaiting.
            add("retrieval", OUTCOME_RETRIEVED, "", ta.final.reference, "sought after title/abstract inclusion; full-text assessment pending")
            add(FULL_TEXT, OUTCOME_AWAITING, "no human full-text decision yet", "", "no full_text row in decisions.tsv")
            continue
        if ft.final.decision == EXCLUDE and ft.final.reason == NOT_RETRIEVED_CODE:
            add("retrieval", OUTCOME_NOT_RETRIEVED, _label(NOT_RETRIEVED_CODE, reasons), ft.final.reference, _human_evidence(ft))
            screening_row(FULL_TEXT, OUTCOME_EXCLUDED, "human", ft.final.reference, _label(NOT_RETRIEVED_CODE, reasons), _human_evidence(ft))
            continue
        add("retrieval", OUTCOME_RETRIEVED, "", ft.final.reference, "full text assessed")
        if ft.final.decision == EXCLUDE:
            add(FULL_TEXT, OUTCOME_EXCLUDED, _label(ft.final.reason, reasons), ft.final.reference, _human_evidence(ft))
        else:
            add(FULL_TEXT, OUTCOME_INCLUDED, "", ft.final.reference, _human_evidence(ft))

    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise ConfigError(
            conflicts[0] + more,
            where="config/screening.yaml",
            fix="narrow the rule so it only excludes on explicit evidence, or correct the human decision",
        )
    # Decisions about clusters without a canonical record cannot be applied: say so.
    orphan = sorted({cid for (cid, _stage) in settled if cid not in canonical_clusters})
    if orphan:
        sd = next(v for (c, _s), v in sorted(settled.items()) if c == orphan[0])
        raise ReconciliationError(
            f"decision for cluster {orphan[0]} whose canonical record is missing from canonical.tsv",
            where=sd.final.reference,
            fix="re-run deduplication",
        )

    out.performance = _performance(ruleset, rule_ids, matched, excluded_by, settled, eventual, automation_excluded)
    out.agreement = agreement(settled)
    return out


def _performance(
    ruleset: RuleSetLike,
    rule_ids: Sequence[str],
    matched: Mapping[str, set[str]],
    excluded_by: Mapping[str, list[str]],
    settled: Mapping[tuple[str, str], StageDecision],
    eventual: set[str],
    automation_excluded: set[str],
) -> list[dict[str, Any]]:
    """Per rule (in rule order) and for the automation as a whole: what it excluded and how people judged it.

    Sensitivity for eventual inclusions = share of the clusters people included at full text that
    the rule (or the automation as a whole) did not match; None when nobody was included yet.
    """
    reasons: Mapping[str, str] = getattr(ruleset, "reasons", {}) or {}
    rules = {_rule_attr(r, "id", "rule_id"): r for r in getattr(ruleset, "rules", ())}
    ordered = list(rule_ids) + sorted(r for r in set(excluded_by) | set(matched) if r not in rule_ids)

    rule_reason = {rid: _rule_attr(r, "reason") for rid, r in rules.items()}
    reason_of = {c: rule_reason.get(rid, "") for rid, clusters in excluded_by.items() for c in clusters}

    def judged(clusters: Iterable[str]) -> tuple[int, int, int]:
        decided = [c for c in clusters if (c, TITLE_ABSTRACT) in settled or (c, FULL_TEXT) in settled]
        excluded = [c for c in decided if all(settled[(c, s)].final.decision == EXCLUDE for s in (TITLE_ABSTRACT, FULL_TEXT) if (c, s) in settled)]
        other = [c for c in excluded if reason_of.get(c, "") not in {settled[(c, s)].final.reason for s in (TITLE_ABSTRACT, FULL_TEXT) if (c, s) in settled}]
        return len(decided), len(excluded), len(other)

    def sensitivity(hit: set[str]) -> dict[str, Any]:
        passed = len(eventual - hit)
        return {
            "eventual_inclusions": len(eventual),
            "eventual_inclusions_passed": passed,
            "sensitivity": passed / len(eventual) if eventual else None,
        }

    rows: list[dict[str, Any]] = []
    for rid in ordered:
        clusters = excluded_by.get(rid, [])
        n_decided, n_excluded, n_other = judged(clusters)
        rule = rules.get(rid)
        reason = _rule_attr(rule, "reason") if rule is not None else ""
        rows.append(
            {
                "rule_id": rid,
                "label": _rule_attr(rule, "label", "description") if rule is not None else "",
                "reason": _label(reason, reasons),
                "records_matched": len(matched.get(rid, ())),
                "records_excluded": len(clusters),
                "people_decided": n_decided,
                "people_excluded": n_excluded,
                "people_excluded_other_reason": n_other,
                "people_included": n_decided - n_excluded,
                **sensitivity(set(matched.get(rid, ())) | set(clusters)),
            }
        )
    n_decided, n_excluded, n_other = judged(sorted(automation_excluded))
    rows.append(
        {
            "rule_id": ALL_RULES,
            "label": "automation as a whole",
            "reason": "",
            "records_matched": len(automation_excluded),
            "records_excluded": len(automation_excluded),
            "people_decided": n_decided,
            "people_excluded": n_excluded,
            "people_excluded_other_reason": n_other,
            "people_included": n_decided - n_excluded,
            **sensitivity(automation_excluded),
        }
    )
    return rows


def read_canonical(path: str | os.PathLike[str]) -> list[Record]:
    """Canonical records (results/dedup/canonical.tsv: records.tsv columns, one row per cluster)."""
    return read_records_table(path, required=("record_id",))


def read_clusters(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """clusters.tsv rows (record_id, cluster_id, canonical_id, rule, score)."""
    return read_tsv(path, required=("record_id", "cluster_id", "canonical_id"))


def singleton_clusters(records: Iterable[Record]) -> list[dict[str, str]]:
    """One cluster per record (cluster_id = record_id), for screening a table without dedup."""
    return [{"record_id": r.record_id, "cluster_id": r.record_id, "canonical_id": r.record_id} for r in records]


# --- automation in shards (one Snakemake job per run and shard; the screen step reads their results) ---

AUTOMATION_FIELDS: tuple[str, ...] = ("record_id", "fields_sha1", "excluded", "rule_id", "reason", "label", "evidence", "hits")
# The record fields the eligibility rules read (livingreview.screening.READABLE_FIELDS).
SCREENED_FIELDS: tuple[str, ...] = ("title", "abstract", "keywords", "publication_types", "mesh", "language", "year")
_SCREENED_VALUES = attrgetter(*SCREENED_FIELDS)


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The automation outcome of one record as a shard wrote it (a ScreenResultLike)."""

    record_id: str
    fields_sha1: str
    excluded: bool
    rule_id: str
    reason: str
    label: str
    evidence: str
    hits: tuple[str, ...]


def screened_fields_sha1(record: Record) -> str:
    """SHA-1 of the fields the rules read, as records.tsv writes them: equal hashes, equal rule results."""
    values = [LIST_SEP.join(v) if isinstance(v, tuple) else v for v in _SCREENED_VALUES(record)]  # record.cell of each
    try:
        text: str | None = "\x1f".join(values)  # plain text: what format_value gives, unless a value holds a tab or line break
    except TypeError:  # a value that is not text
        text = None
    if text is None or "\t" in text or "\n" in text or "\r" in text:
        text = "\x1f".join([format_value(v) for v in values])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def screening_shard_of(record_id: str, n_shards: int) -> int:
    """The automation shard (0-based) of a record: a stable hash (CRC-32) of its record_id."""
    return zlib.crc32(record_id.encode("utf-8")) % max(n_shards, 1)


def automation_rows(records: Iterable[Record], ruleset: Any, *, screen: ScreenFunc, shard: int = 0, n_shards: int = 1) -> list[dict[str, Any]]:
    """Run the rules on the records of one shard; one AUTOMATION_FIELDS row each, by record_id.

    Evidence and hits are stored as JSON strings so that the screen step sees exactly what the
    rules returned; ``fields_sha1`` says which field values the result holds for.
    """
    rows: list[dict[str, Any]] = []
    for rec in records:
        if screening_shard_of(rec.record_id, n_shards) != shard:
            continue
        result = screen(rec, ruleset)
        rows.append(
            {
                "record_id": rec.record_id,
                "fields_sha1": screened_fields_sha1(rec),
                "excluded": bool(result.excluded),
                "rule_id": result.rule_id or "",
                "reason": result.reason or "",
                "label": result.label or "",
                "evidence": json.dumps(str(result.evidence or ""), ensure_ascii=False),
                "hits": json.dumps(_hit_rule_ids(result), ensure_ascii=False),
            }
        )
    rows.sort(key=lambda r: r["record_id"])
    return rows


def run_automation(
    *,
    records: Sequence[str | os.PathLike[str]],
    rules: str | os.PathLike[str],
    shard: int,
    n_shards: int,
    out: str | os.PathLike[str],
) -> int:
    """One screen_automation job: the rules on the records (tables with records.tsv columns, e.g.
    the per-file import tables of one run) whose record_id falls in ``shard`` (of ``n_shards``);
    writes AUTOMATION_FIELDS rows atomically and returns their number.

    The results of a run's records never change when later runs are added; the screen step uses a
    stored result for a canonical record only when the fields the rules read are the same (a
    cluster's merged record may hold fields filled from other members) and runs the rules otherwise.
    """
    if not 0 <= shard < max(n_shards, 1):
        raise ConfigError(f"shard {shard} is outside 0..{n_shards - 1}", where="scale.shard_size", fix="report this as a bug")
    load_rules, screen_record = _default_screening()
    ruleset = load_rules(str(rules))
    recs = [rec for path in records for rec in read_records_table(path, required=("record_id",))]
    out_rows = automation_rows(recs, ruleset, screen=screen_record, shard=shard, n_shards=n_shards)
    write_tsv(out, AUTOMATION_FIELDS, out_rows)
    LOG.info("automation shard %d/%d: %d of %d records, %d excluded", shard + 1, n_shards, len(out_rows), len(recs), sum(1 for r in out_rows if r["excluded"]))
    return len(out_rows)


def read_automation(paths: Iterable[str | os.PathLike[str]]) -> dict[str, StoredResult]:
    """Automation results of every shard by record_id; a record in two shards is an error."""
    results: dict[str, StoredResult] = {}
    decoded: dict[str, Any] = {}  # JSON cell -> value, decoded once: most records share a few cells (evidence "", hits [])

    def from_json(cell: str, path: str | os.PathLike[str], row: Mapping[str, str], column: str) -> Any:
        if cell not in decoded:
            try:
                decoded[cell] = json.loads(cell)
            except json.JSONDecodeError as err:
                raise ReconciliationError(
                    f"record {row['record_id']}: column {column!r} is not valid JSON ({err.msg})",
                    where=f"{path}:{row['_line']}",
                    fix="the shard file is damaged: delete it and re-run snakemake (the screen_automation job writes it again)",
                ) from None
        return decoded[cell]

    for path in paths:
        for row in read_tsv(path, required=AUTOMATION_FIELDS):
            rid = row["record_id"]
            if rid in results:
                raise ReconciliationError(
                    f"record {rid} has automation results in two shards",
                    where=f"{path}:{row['_line']}",
                    fix="the shard files are stale: delete results/screening/automation/ and re-run snakemake",
                )
            results[rid] = StoredResult(
                record_id=rid,
                fields_sha1=row["fields_sha1"],
                excluded=row["excluded"] == "true",
                rule_id=row["rule_id"],
                reason=row["reason"],
                label=row["label"],
                evidence=from_json(row["evidence"], path, row, "evidence") if row["evidence"] else "",
                hits=tuple(from_json(row["hits"], path, row, "hits")) if row["hits"] else (),
            )
    return results


def stored_screen(results: Mapping[str, StoredResult], live: ScreenFunc, counts: Counter[str] | None = None) -> ScreenFunc:
    """A ScreenFunc giving the stored result of a record when the fields the rules read are unchanged,
    else ``live`` (the rules); a record with no stored result is an error. ``counts`` tallies both."""

    def screen(record: Record, ruleset: Any) -> ScreenResultLike:
        found = results.get(record.record_id)
        if found is None:
            raise ReconciliationError(
                f"canonical record {record.record_id} has no automation result",
                where="results/screening/automation/",
                fix="the automation shards are stale: re-run snakemake (every archived record is screened in its run's shard jobs)",
            )
        if found.fields_sha1 == screened_fields_sha1(record):
            if counts is not None:
                counts["stored"] += 1
            return found
        if counts is not None:
            counts["rerun"] += 1
        return live(record, ruleset)

    return screen


def _default_screening() -> tuple[Callable[[str], RuleSetLike], ScreenFunc]:
    from .screening import load_rules, screen_record

    return load_rules, screen_record


@collector_paused()
def run_screening(
    *,
    canonical: str | os.PathLike[str],
    clusters: str | os.PathLike[str],
    rules: str | os.PathLike[str],
    decisions: str | os.PathLike[str],
    studies: str | os.PathLike[str] | None,
    screening_out: str | os.PathLike[str],
    performance_out: str | os.PathLike[str],
    agreement_out: str | os.PathLike[str],
    ledger_out: str | os.PathLike[str],
    automation: Sequence[str | os.PathLike[str]] | None = None,
) -> ScreeningResult:
    """Rule ``screen_records``: read inputs, screen, write screening.tsv, rule_performance.tsv,
    agreement.json and the screening ledger fragment (stages automation..full_text).

    ``automation`` (the files of every screen_automation shard) gives the rules' results instead
    of running the rules here; the outputs are the same. Every output is written only after every
    check passed (atomic writes, nothing partial).
    """
    load_rules, screen_record = _default_screening()
    ruleset = load_rules(str(rules))
    records = read_canonical(canonical)
    index = build_index(records, read_clusters(clusters))
    decided = load_decisions(decisions, ruleset.reasons)
    settled = resolve_decisions(decided, index)
    screen = screen_record
    reuse: Counter[str] = Counter()
    if automation is not None:
        screen = stored_screen(read_automation(automation), screen_record, reuse)
    result = screen_clusters(records, index, ruleset, settled, screen=screen)
    if automation is not None:
        LOG.info("automation: %d stored results used, rules run again on %d merged records whose screened fields differ", reuse["stored"], reuse["rerun"])
    if studies and os.path.exists(studies):
        _log_study_coverage(studies, index, settled)
    write_tsv(screening_out, SCREENING_FIELDS, result.screening)
    write_tsv(performance_out, RULE_PERFORMANCE_FIELDS, result.performance)
    write_json(agreement_out, result.agreement)
    write_tsv(ledger_out, LEDGER_FIELDS, result.ledger)
    LOG.info("screened %d clusters: %s", len(records), ", ".join(f"{k}={v}" for k, v in sorted(result.counts.items())))
    return result


def _log_study_coverage(studies: str | os.PathLike[str], index: ClusterIndex, settled: Mapping[tuple[str, str], StageDecision]) -> None:
    """Log full-text inclusions that no study in studies.tsv lists (linking will stop on them)."""
    listed: set[str] = set()
    for row in read_tsv(studies, required=("study_id", "reports")):
        for key in (k.strip() for k in row["reports"].split(";")):
            listed |= index.resolve(key)
    for (cid, stage), sd in sorted(settled.items()):
        if stage == FULL_TEXT and sd.final.decision == INCLUDE and cid not in listed:
            LOG.warning("%s (%s) is included at full text but no study in %s lists it", index.canonical_of.get(cid, cid), sd.final.reference, studies)

