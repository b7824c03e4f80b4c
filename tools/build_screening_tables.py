"""Build resources/screening/decisions.tsv for the default review from the curated evidence.

Usage: python tools/build_screening_tables.py --evidence ../shared/evidence --out resources

The decisions are the curators' reading of each record (studies.json `curated_decision`, records.json
`record_kind` and design fields), written the way a review team writes decisions.tsv:

- the reports of the included studies (studies.json `curated_decision: include`): include at
  title_abstract and at full_text;
- the reports of the curated full-text exclusions (studies.json `curated_decision: exclude`): include
  at title_abstract, exclude at full_text with the reason their design gives (open-label -> open_label,
  protocol -> protocol_only);
- a study register entry (a ClinicalTrials.gov record of the snapshot) whose NCT id is a curated
  study's registration is a report of that study (PRISMA 2020 counts register entries as reports;
  tools/registry_links.py): decided like the study's other reports, with a note naming the study;
- every other record in the snapshot: exclude at title_abstract with a reason code derived from its
  curation fields (REASON_BY_KIND below; a register entry of no curated study by its design, then its
  route, else registry_record) and a short note. Records the rules also exclude never reach
  title/abstract screening; the screening stage shows these rows as confirmations on the automation row.

One reviewer only ("curation (shared/evidence)"), so inter-rater agreement is not computable.
Keys: the record's PMID, else its DOI, else the first record_id that resources/snapshot_coverage.tsv
(written by tools/build_search_snapshot.py) lists for it. Evidence records that are not in the archived
snapshot get no decision (they are listed in the log). The date is the snapshot run's date (the run
tools/build_search_snapshot.py writes, 2025-09-30; not the newest run, so later monthly runs change
nothing). Running it twice gives the same bytes. A decisions.tsv that holds rows this tool would not
write (the team's decisions on later runs) is not overwritten: the tool stops with one line naming the
file (tools/table_guard.py) unless --force.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "tools"))

from livingreview.constants import DECISION_FIELDS  # noqa: E402
from livingreview.errors import LivingReviewError  # noqa: E402
from livingreview.runs import load_manifest  # noqa: E402
from livingreview.tables import read_json  # noqa: E402
from build_search_snapshot import RUN_ID  # noqa: E402
from registry_links import COVERAGE, decision_key, read_coverage, registry_links  # noqa: E402
from table_guard import write_tables  # noqa: E402

LOG = logging.getLogger("build_screening_tables")
REVIEWER = "curation (shared/evidence)"
EVIDENCE_FIX = "pass the curated evidence folder (records.json, studies.json) with --evidence"
# Curated record_kind -> title/abstract exclusion reason code (config/screening.yaml reasons).
REASON_BY_KIND: dict[str, str] = {
    "systematic_review_meta_analysis": "publication_type",
    "narrative_review": "publication_type",
    "letter": "publication_type",
    "animal_preclinical": "animal",
    "preprint": "animal",
    "observational_retrospective": "observational",
    "case_report_series": "case_report",
    "non_randomized_open_label": "open_label",
    "trial_protocol": "protocol_only",
    "trial_registration": "registry_record",
    "dissertation_thesis": "thesis",
}
# Words in the curated ketamine_route that mean ketamine was given for anaesthesia/analgesia or
# prevention, not as PTSD treatment (observational perioperative and prehospital studies).
ANAESTHESIA_WORDS: tuple[str, ...] = ("perioperative", "intraoperative", "anesthe", "anaesthe", "analgosedation", "prehospital", "emergency")
# Curated ketamine_route words of a route other than intravenous, and of the intravenous route.
NON_IV_ROUTE = re.compile(r"\b(?:intra-?nasal|nasal|oral|intra-?muscular|sub-?lingual)\b", re.IGNORECASE)
IV_ROUTE = re.compile(r"\b(?:iv|i\.v\.|intra-?venous|infusions?)\b", re.IGNORECASE)


def full_text_reason(design: str) -> str:
    """Reason code of a curated full-text exclusion, from the study's design words."""
    d = design.lower()
    if "protocol" in d:
        return "protocol_only"
    if "open-label" in d or "open label" in d or "single-arm" in d or "single arm" in d:
        return "open_label"
    if "random" not in d:
        return "not_randomized"
    return "other"


def title_abstract_reason(rec: dict[str, Any]) -> str:
    """Reason code for a record a person excludes at title/abstract, from its curation fields."""
    kind = rec.get("record_kind") or ""
    code = REASON_BY_KIND.get(kind, "other")
    if code == "observational":
        route = (rec.get("ketamine_route") or "").lower()
        if any(w in route for w in ANAESTHESIA_WORDS):
            return "prevention_or_anaesthesia"
    if code == "registry_record":
        return registry_reason(rec)
    return code


def registry_reason(rec: dict[str, Any]) -> str:
    """Reason code for a register entry of no curated study: its design, then its route, else registry_record.

    Open-label or single-arm -> open_label; no randomization (or "non-randomised") -> not_randomized;
    a curated route other than intravenous, with no intravenous word -> not_intravenous; otherwise (a
    randomized IV trial, or a design not seen) the registration has no results or publication to
    assess -> registry_record.
    """
    design = (rec.get("study_design") or "").lower()
    if "open-label" in design or "open label" in design or "single-arm" in design or "single arm" in design:
        return "open_label"
    if design and design != "not seen" and ("random" not in design or re.search(r"non-?\s?randomi[sz]", design)):
        return "not_randomized"
    route = rec.get("ketamine_route") or ""
    if NON_IV_ROUTE.search(route) and not IV_ROUTE.search(route):
        return "not_intravenous"
    return "registry_record"


def short(text: str, n: int = 90) -> str:
    """One line, at most n characters."""
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def study_reason(study: dict[str, Any]) -> str:
    """Full-text reason of a curated exclusion for a report the curators did not list (its register
    entry): the reason of the study's primary report."""
    facts = study.get("facts") or {}
    role = (study["reports"][0].get("role") or "") if study["reports"] else ""
    return full_text_reason(f"{facts.get('design') or ''} {role}")


def build_decisions(
    records: list[dict[str, Any]], studies: list[dict[str, Any]], coverage: dict[str, list[str]], *, date: str, source: str = "studies.json"
) -> tuple[list[dict[str, str]], list[str]]:
    """Decision rows (evidence order; title_abstract before full_text) and the keys left out (with why)."""
    role: dict[str, tuple[str, str, str]] = {}  # record key -> (study_id, decision, design)
    for st in studies:
        facts = st.get("facts") or {}
        for rep in st["reports"]:
            role[rep["record_key"]] = (st["study_id"], st["curated_decision"], f"{facts.get('design') or ''} {rep.get('role') or ''}")
    by_id = {st["study_id"]: st for st in studies}
    links = registry_links(records, studies, coverage, source=source)
    rows: list[dict[str, str]] = []
    skipped: list[str] = []

    def add(key: str, stage: str, decision: str, reason: str, note: str) -> None:
        rows.append({"key": key, "stage": stage, "decision": decision, "reason": reason, "reviewer": REVIEWER, "date": date, "note": note})

    for rec in records:
        ek = rec["key"]
        ids = coverage.get(ek, [])
        if not ids:
            skipped.append(f"{ek}: not in the archived snapshot (no database record)")
            continue
        key = decision_key(rec, ids)
        if ek in role:
            study_id, curated, design = role[ek]
            add(key, "title_abstract", "include", "", f"{ek}: report of {study_id}")
            if curated == "include":
                add(key, "full_text", "include", "", f"{ek}: report of included study {study_id}")
            else:
                add(key, "full_text", "exclude", full_text_reason(design), f"{ek}: {short(rec.get('study_design') or design, 70)}")
            continue
        if ek in links:
            link = links[ek]
            inferred = "; registration curated as an inferred link" if link.inferred else ""
            add(key, "title_abstract", "include", "", f"{ek}: register entry {link.nct} of {link.study_id}{inferred}")
            if link.curated_decision == "include":
                add(key, "full_text", "include", "", f"{ek}: report of included study {link.study_id} (its register entry {link.nct}{inferred})")
            else:
                add(key, "full_text", "exclude", study_reason(by_id[link.study_id]), f"{ek}: register entry {link.nct} of {link.study_id}, a study excluded at full text{inferred}")
            continue
        reason = title_abstract_reason(rec)
        add(key, "title_abstract", "exclude", reason, f"{ek} {rec.get('record_kind')}: {short(rec.get('study_design') or '', 70)}")
    return rows, skipped


def main(argv: list[str] | None = None) -> int:
    """Write <out>/screening/decisions.tsv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", default=str(ROOT.parent / "shared" / "evidence"), help="folder with records.json and studies.json")
    parser.add_argument("--out", default=str(ROOT / "resources"), help="resources folder (reads snapshot_coverage.tsv and searches/, writes screening/decisions.tsv)")
    parser.add_argument("--force", action="store_true", help="overwrite a decisions.tsv that holds rows this tool would not write (the team's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return build(Path(args.evidence), Path(args.out), force=args.force)
    except LivingReviewError as err:
        print(f"build_screening_tables: error: {err}", file=sys.stderr)
        return 1


def build(evidence: Path, out: Path, *, force: bool = False) -> int:
    """Write <out>/screening/decisions.tsv from the evidence folder; returns the exit code."""
    records = read_json(evidence / "records.json", fix=EVIDENCE_FIX)
    studies = read_json(evidence / "studies.json", fix=EVIDENCE_FIX)
    coverage = read_coverage(out / COVERAGE)
    snapshot = out / "searches" / RUN_ID
    if not snapshot.is_dir():
        LOG.error("no archived run %s (the snapshot run) under %s; build the snapshot first (tools/build_search_snapshot.py)", RUN_ID, out / "searches")
        return 1
    date = load_manifest(snapshot).date_run
    rows, skipped = build_decisions(records, studies, coverage, date=date, source=str(evidence / "studies.json"))
    target = out / "screening" / "decisions.tsv"
    write_tables([(target, DECISION_FIELDS, rows)], out=out, tool="tools/build_screening_tables.py", force=force)
    LOG.info("%s: %d decisions for %d evidence records", target, len(rows), len({r["key"] for r in rows}))
    for line in skipped:
        LOG.info("no decision: %s", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
