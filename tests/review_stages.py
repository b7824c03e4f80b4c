"""Test helper: the default review's records-to-ledger stages run on the shipped snapshot, config, decisions and studies."""

from __future__ import annotations

import contextlib
from pathlib import Path

from livingreview.dedup import run_dedup
from livingreview.importer import run_import
from livingreview.ledger import run_assemble_ledger
from livingreview.screen_stage import run_screening
from livingreview.studies import run_link_studies

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = shipped_resources()  # the default review as shipped, rebuilt from the evidence (conftest)
DECISIONS = SHIPPED / "screening/decisions.tsv"
STUDIES = SHIPPED / "extraction/studies.tsv"


def run_to_ledger(res: Path) -> Path:
    """Import, deduplicate, screen, link studies and assemble the ledger under ``res`` (a results folder); returns ``res``.

    Run in the shipped review's folder, as Snakemake runs in the review folder: provenance (source
    files, decision lines) is written relative to it (``resources/...``)."""
    with contextlib.chdir(SHIPPED.parent):
        return _run_to_ledger(Path(res).resolve())


def _run_to_ledger(res: Path) -> Path:
    stages = res / "audit" / "stages"
    run_import(runs_root=SHIPPED / "searches", records_out=res / "records/records.tsv", ledger_out=stages / "identification.tsv")
    run_dedup(
        records=res / "records/records.tsv", decisions=[], clusters_out=res / "dedup/clusters.tsv", maybe_out=res / "dedup/maybe_pairs.tsv",
        canonical_out=res / "dedup/canonical.tsv", provenance_out=res / "dedup/provenance.tsv", ledger_out=stages / "dedup.tsv", workers=1,
    )
    run_screening(
        canonical=res / "dedup/canonical.tsv", clusters=res / "dedup/clusters.tsv", rules=ROOT / "config/screening.yaml", decisions=DECISIONS,
        studies=STUDIES, screening_out=res / "screening/screening.tsv", performance_out=res / "screening/rule_performance.tsv",
        agreement_out=res / "screening/agreement.json", ledger_out=stages / "screening.tsv",
    )
    run_link_studies(
        screening=res / "screening/screening.tsv", canonical=res / "dedup/canonical.tsv", clusters=res / "dedup/clusters.tsv", studies=STUDIES,
        studies_out=res / "studies/included_studies.tsv", reports_out=res / "studies/reports.tsv", ledger_out=stages / "study.tsv",
    )
    run_assemble_ledger(
        identification=stages / "identification.tsv", dedup=stages / "dedup.tsv", screening=stages / "screening.tsv", study=stages / "study.tsv",
        ledger_out=res / "audit/ledger.tsv",
    )
    return res
