"""Report-to-study linking: several reports count once; unlinked or partly included studies are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.constants import LEDGER_FIELDS, RECORD_FIELDS, SCREENING_FIELDS
from livingreview.decisions import build_index
from livingreview.errors import ConfigError
from livingreview.records import Record
from livingreview.studies import INCLUDED_STUDY_FIELDS, REPORT_FIELDS, link_studies, run_link_studies, split_keys
from livingreview.tables import read_tsv, write_tsv

RECORDS = [
    Record(record_id="pubmed:900001", pmid="900001", doi="10.9999/t.1"),
    Record(record_id="pubmed:900002", pmid="900002"),
    Record(record_id="embase:2025-09-30#4", doi="10.9999/t.4"),
    Record(record_id="pubmed:900005", pmid="900005"),
]
CLUSTERS = [{"record_id": r.record_id, "cluster_id": f"c{i}", "canonical_id": r.record_id} for i, r in enumerate(RECORDS, 1)]
CLUSTERS.append({"record_id": "psycinfo:2025-09-30#9", "cluster_id": "c1", "canonical_id": "pubmed:900001"})


def study_rows(*rows: tuple[str, str, str, str]) -> list[dict[str, str]]:
    return [{"study_id": s, "reports": rep, "primary_report": prim, "n_randomized": n, "_line": str(i)} for i, (s, rep, prim, n) in enumerate(rows, 2)]


def index():
    return build_index(RECORDS, CLUSTERS)


INCLUDED = {"c1": "pubmed:900001", "c2": "pubmed:900002", "c3": "embase:2025-09-30#4"}


def test_two_reports_of_one_study_count_once() -> None:
    links = link_studies(
        INCLUDED,
        study_rows(("Alpha2021", "900002; 10.9999/T.1", "10.9999/t.1", "30"), ("Beta2017", "10.9999/t.4", "10.9999/t.4", "10"), ("Gamma2020", "900005", "900005", "")),
        index(),
        states={"c4": "full_text excluded: Open-label"},
    )
    assert [s["study_id"] for s in links.studies] == ["Alpha2021", "Beta2017"]
    alpha = links.studies[0]
    assert alpha["primary_record_id"] == "pubmed:900001" and alpha["record_ids"] == "pubmed:900001; pubmed:900002" and alpha["n_reports"] == 2
    assert alpha["n_randomized"] == "30" and alpha["reports"] == "900002; 10.9999/T.1"
    assert [(r["record_id"], r["study_id"], r["role"]) for r in links.reports] == [
        ("embase:2025-09-30#4", "Beta2017", "primary"),
        ("pubmed:900001", "Alpha2021", "primary"),
        ("pubmed:900002", "Alpha2021", "secondary"),
    ]
    assert [(r["record_id"], r["stage"], r["outcome"], r["reference"]) for r in links.ledger] == [
        ("embase:2025-09-30#4", "study", "included", "Beta2017"),
        ("pubmed:900001", "study", "included", "Alpha2021"),
        ("pubmed:900002", "study", "included", "Alpha2021"),
    ]
    assert links.not_included == ["study Gamma2020 not included: no report included at full text: pubmed:900005 (full_text excluded: Open-label)"]


def test_a_key_of_a_duplicate_resolves_to_the_cluster() -> None:
    links = link_studies({"c1": "pubmed:900001"}, study_rows(("Alpha2021", "psycinfo:2025-09-30#9", "psycinfo:2025-09-30#9", "")), index())
    assert links.studies[0]["primary_record_id"] == "pubmed:900001"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((("Alpha2021", "900001", "900001", ""),), "2 report(s) included at full text belong to no study: pubmed:900002, embase:2025-09-30#4"),
        ((("Alpha2021", "900001", "900001", ""), ("Beta2017", "900002; 10.9999/t.4; 900005", "900002", "")), "study Beta2017 has included reports but these reports are not included at full text: pubmed:900005"),
        ((("Alpha2021", "900001; 900002", "10.9999/t.4", ""), ("Beta2017", "10.9999/t.4", "10.9999/t.4", "")), "primary_report 10.9999/t.4 of study Alpha2021 is not among its reports"),
        ((("Alpha2021", "900001; 900002", "900001", ""), ("Alpha2021", "10.9999/t.4", "10.9999/t.4", "")), "study_id 'Alpha2021' appears twice"),
        ((("Alpha2021", "900001; 900002", "900001", ""), ("Beta2017", "10.9999/t.4; 900002", "10.9999/t.4", "")), "report 900002 (pubmed:900002) is listed by study Beta2017 and by study Alpha2021"),
        ((("Alpha2021", "900001; 900002; 123", "900001", ""),), "key '123' matches no record"),
    ],
)
def test_linking_errors_name_the_studies_tsv_line(rows, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        link_studies(INCLUDED, study_rows(*rows), index(), source="studies.tsv")
    assert message in str(err.value)
    assert "studies.tsv" in str(err.value)


def test_run_link_studies_reads_screening_and_writes_three_tables(tmp_path: Path) -> None:
    canonical = tmp_path / "canonical.tsv"
    write_tsv(canonical, RECORD_FIELDS, [r.to_row() for r in RECORDS])
    clusters = tmp_path / "clusters.tsv"
    write_tsv(clusters, ("record_id", "cluster_id", "canonical_id", "rule", "score"), CLUSTERS)
    screening = tmp_path / "screening.tsv"
    rows = []
    for cid, rid in INCLUDED.items():
        rows.append({"cluster_id": cid, "record_id": rid, "stage": "full_text", "decision": "included", "source": "human", "reference": "decisions.tsv:2"})
    rows.append({"cluster_id": "c4", "record_id": "pubmed:900005", "stage": "full_text", "decision": "excluded", "reason": "Open-label"})
    write_tsv(screening, SCREENING_FIELDS, rows)
    studies = tmp_path / "studies.tsv"
    write_tsv(
        studies,
        ("study_id", "reports", "primary_report", "design"),
        [
            {"study_id": "Alpha2021", "reports": "900001; 900002", "primary_report": "900001", "design": "parallel"},
            {"study_id": "Beta2017", "reports": "10.9999/t.4", "primary_report": "10.9999/t.4", "design": "crossover"},
            {"study_id": "Gamma2020", "reports": "900005", "primary_report": "900005", "design": "single arm"},
        ],
    )
    out = tmp_path / "out"
    run_link_studies(
        screening=screening, canonical=canonical, clusters=clusters, studies=studies,
        studies_out=out / "included_studies.tsv", reports_out=out / "reports.tsv", ledger_out=out / "study.tsv",
    )
    inc = read_tsv(out / "included_studies.tsv")
    assert (out / "included_studies.tsv").read_text().splitlines()[0].split("\t") == list(INCLUDED_STUDY_FIELDS) + ["reports", "primary_report", "design"]
    assert [(r["study_id"], r["n_reports"], r["design"]) for r in inc] == [("Alpha2021", "2", "parallel"), ("Beta2017", "1", "crossover")]
    assert len(read_tsv(out / "reports.tsv", required=REPORT_FIELDS)) == 3
    assert len(read_tsv(out / "study.tsv", required=LEDGER_FIELDS)) == 3


def test_report_keys_and_extraction_lists_split_alike() -> None:
    from livingreview.extraction import _split

    cell = "24740528;10.1176/appi.ajp.2020.20050596 ;  ; pubmed:33478287"
    assert split_keys(cell) == ["24740528", "10.1176/appi.ajp.2020.20050596", "pubmed:33478287"]
    assert _split(cell) == tuple(split_keys(cell))


def test_primary_report_comes_first_in_record_ids_even_when_it_sorts_last() -> None:
    # primary 900002 is cluster c2, the secondary 10.9999/t.1 is cluster c1
    links = link_studies({"c1": "pubmed:900001", "c2": "pubmed:900002"}, study_rows(("Alpha2021", "10.9999/t.1; 900002", "900002", "30")), index())
    (alpha,) = links.studies
    assert alpha["primary_record_id"] == "pubmed:900002"
    assert alpha["record_ids"] == "pubmed:900002; pubmed:900001" and alpha["n_reports"] == 2
    assert [(r["record_id"], r["role"]) for r in links.reports] == [("pubmed:900001", "secondary"), ("pubmed:900002", "primary")]
