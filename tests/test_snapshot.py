"""The default review's search run 2025-09-30 as shipped: counts, coverage, PubMed XML and the OVID copies.

Read from the shipped copy conftest rebuilds from the evidence (what `make resources` writes); that the
committed run is byte for byte that run is tests/test_committed_resources.py's."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import pytest
import rispy
from lxml import etree

from livingreview.config import load_yaml
from livingreview.runs import verify_run
from livingreview.tables import read_tsv

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
RUN = shipped_resources() / "searches" / "2025-09-30"
COVERAGE = shipped_resources() / "snapshot_coverage.tsv"
SUMMARY_RE = re.compile(
    r"^(Design: [^\n]+?\.)?( ?Population: [^\n]+?\.)?( ?Ketamine route: [^\n]+?\.)?( ?Comparator: [^\n]+?\.)?$"
)


def _xml_root() -> etree._Element:
    return etree.fromstring(gzip.decompress((RUN / "pubmed.xml.gz").read_bytes()))


def _unwrap(text: str) -> str:
    """Join OVID continuation lines to the tagged line above."""
    out: list[str] = []
    for line in text.splitlines():
        if line and line[2:6] != "  - ":
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _ris(name: str) -> list[dict[str, object]]:
    return rispy.loads(_unwrap((RUN / name).read_text(encoding="utf-8")))


def _csv_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((RUN / "clinicaltrials.csv").read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def coverage() -> list[dict[str, str]]:
    return read_tsv(COVERAGE)


def test_manifest_counts_equal_records_in_files() -> None:
    manifest = verify_run(RUN)  # sha256 of every file matches
    counts = {f.name: f.count_in_file for f in manifest.files}
    in_files = {
        "pubmed.xml.gz": len(_xml_root().findall("PubmedArticle")),
        "embase.ris": len(_ris("embase.ris")),
        "psycinfo.ris": len(_ris("psycinfo.ris")),
        "clinicaltrials.csv": len(_csv_rows()),
    }
    assert counts == in_files
    assert all(f.count_reported == f.count_in_file for f in manifest.files)
    assert manifest.date_run == "2025-09-30"
    assert manifest.tool_versions == {"build_search_snapshot": "1.0"}


def test_manifest_queries_are_the_config_strategies() -> None:
    config = load_yaml(ROOT / "config" / "config.yaml")
    strategies = {s["database"]: s["strategy"] for s in config["searches"]["sources"]}
    for f in verify_run(RUN).files:
        assert f.query == strategies[f.database], f.name
        assert f.date_limits == {"from": "inception", "to": "2025/09/30"}


def test_readme_counts_match_the_manifest() -> None:
    """resources/README.md is hand-written: the working tree's copy (allowed in conftest's
    WORKING_TREE_ALLOWED) is read, its table checked against the shipped run."""
    readme = (ROOT / "resources" / "README.md").read_text(encoding="utf-8")
    for f in verify_run(RUN).files:
        assert re.search(rf"\| `{re.escape(f.name)}` \|[^\n]*\| {f.count_in_file} \|", readme), f.name


def test_pubmed_xml_is_an_efetch_article_set(coverage: list[dict[str, str]]) -> None:
    raw = gzip.decompress((RUN / "pubmed.xml.gz").read_bytes()).decode("utf-8")
    assert raw.splitlines()[1].startswith("<!DOCTYPE PubmedArticleSet PUBLIC") and "pubmed_250101.dtd" in raw.splitlines()[1]
    root = _xml_root()
    pmids = [a.findtext("MedlineCitation/PMID") for a in root.iterfind("PubmedArticle")]
    assert pmids == sorted(pmids, key=int)
    expected = sorted(
        (rid.split(":")[1] for row in coverage for rid in row["record_ids"].split("; ") if rid.startswith("pubmed:")),
        key=int,
    )
    assert pmids == expected
    for art in root.iterfind("PubmedArticle"):
        pmid = art.findtext("MedlineCitation/PMID")
        ids = {i.get("IdType"): i.text for i in art.iterfind("PubmedData/ArticleIdList/ArticleId")}
        assert ids["pubmed"] == pmid
        doi = art.find("MedlineCitation/Article/ELocationID")
        if doi is not None:
            assert doi.get("EIdType") == "doi" and ids["doi"] == doi.text
        assert art.findtext("MedlineCitation/Article/Language") == "eng"
    header = (RUN / "pubmed.xml.gz").read_bytes()[:10]
    assert header[4:8] == b"\x00\x00\x00\x00" and header[3] & 0x08 == 0  # mtime 0, no file name


def test_every_evidence_record_is_accounted_for(coverage: list[dict[str, str]]) -> None:
    assert len(coverage) == len({row["key"] for row in coverage})
    for row in coverage:
        assert bool(row["files"]) != bool(row["reason"]), row["key"]
    in_files: set[str] = set()
    for row in coverage:
        ids = [r for r in row["record_ids"].split("; ") if r]
        assert len(ids) == len(set(ids)) == len(row["files"].split("; ")) * bool(row["files"])
        assert not (in_files & set(ids)), row["key"]
        in_files |= set(ids)
    manifest = verify_run(RUN)
    expected: set[str] = set()
    for f in manifest.files:
        if f.database in ("embase", "psycinfo"):
            expected |= {f"{f.database}:2025-09-30#{n}" for n in range(1, f.count_in_file + 1)}
    expected |= {f"pubmed:{a.findtext('MedlineCitation/PMID')}" for a in _xml_root().iterfind("PubmedArticle")}
    expected |= {f"clinicaltrials:{r['NCT Number']}" for r in _csv_rows()}
    assert in_files == expected


def test_registrations_without_nct_are_left_out_with_a_reason(coverage: list[dict[str, str]]) -> None:
    regs = [row for row in coverage if row["record_kind"] == "trial_registration"]
    for row in regs:
        if row["files"]:
            assert re.fullmatch(r"clinicaltrials:NCT\d{8}", row["record_ids"])
        else:
            assert "without an NCT id" in row["reason"]
    assert any(not row["files"] for row in regs) and any(row["files"] for row in regs)


def test_locations_point_at_record_starts(coverage: list[dict[str, str]]) -> None:
    lines = {
        "pubmed.xml.gz": gzip.decompress((RUN / "pubmed.xml.gz").read_bytes()).decode("utf-8").splitlines(),
        "embase.ris": (RUN / "embase.ris").read_text(encoding="utf-8").splitlines(),
        "psycinfo.ris": (RUN / "psycinfo.ris").read_text(encoding="utf-8").splitlines(),
        "clinicaltrials.csv": (RUN / "clinicaltrials.csv").read_text(encoding="utf-8").splitlines(),
    }
    for row in coverage:
        for rid, loc in zip(row["record_ids"].split("; "), row["locations"].split("; ")):
            if not loc:
                continue
            name, n = loc.rsplit(":", 1)
            line = lines[name][int(n) - 1]
            if name == "pubmed.xml.gz":
                assert line.strip() == "<PubmedArticle>" and rid.split(":")[1] in lines[name][int(n) + 1]
            elif name == "clinicaltrials.csv":
                assert line.startswith(rid.split(":")[1] + ",")
            else:
                starts = [i for i, t in enumerate(lines[name], 1) if t.startswith("TY  - ")]
                assert starts[int(rid.split("#")[1]) - 1] == int(n)


def _pubmed_by_pmid() -> dict[str, etree._Element]:
    return {a.findtext("MedlineCitation/PMID"): a for a in _xml_root().iterfind("PubmedArticle")}


def test_ris_copies_show_the_ovid_variations(coverage: list[dict[str, str]]) -> None:
    embase = _ris("embase.ris")
    psycinfo = _ris("psycinfo.ris")
    pubmed = _pubmed_by_pmid()
    raw_embase = (RUN / "embase.ris").read_text(encoding="utf-8")
    assert not re.search(r"^AN  - ", raw_embase, flags=re.M)
    assert re.search(r"^[^A-Z\n]|^[A-Za-z][a-z]", raw_embase, flags=re.M), "continuation lines expected"
    assert all(e["name_of_database"] == "Embase" for e in embase)
    assert all(e["name_of_database"] == "APA PsycInfo" for e in psycinfo)
    checked = 0
    for row in coverage:
        ids = row["record_ids"].split("; ")
        pm = [r for r in ids if r.startswith("pubmed:")]
        em = [r for r in ids if r.startswith("embase:")]
        ps = [r for r in ids if r.startswith("psycinfo:")]
        if not (pm and em and ps):
            continue
        art = pubmed[pm[0].split(":")[1]].find("MedlineCitation/Article")
        e = embase[int(em[0].split("#")[1]) - 1]
        p = psycinfo[int(ps[0].split("#")[1]) - 1]
        title = art.findtext("ArticleTitle")
        for entry in (e, p):
            assert entry["primary_title"] == (title if title.endswith(".") else title + ".")
            assert entry["notes_abstract"] == art.findtext("Abstract/AbstractText")
            doi = art.findtext("ELocationID")
            if doi:
                assert entry["doi"] == f"https://dx.doi.org/{doi}"
            names = [
                f"{a.findtext('LastName')}, " + " ".join(f"{c}." for c in a.findtext("Initials"))
                for a in art.iterfind("AuthorList/Author")
            ]
            assert entry.get("first_authors", []) == names
            if art.findtext("Journal/Title"):
                assert entry["alternate_title3"] == art.findtext("Journal/Title")
        pages = art.findtext("Pagination/MedlinePgn") or ""
        m = re.fullmatch(r"(\d+)-(\d+)", pages)
        if m and len(m.group(1)) == len(m.group(2)) and m.group(1)[0] == m.group(2)[0]:
            assert e["start_page"] != pages and pages.endswith(e["start_page"].split("-")[1])
            assert (p["start_page"], p["end_page"]) == m.groups()
        year = art.findtext("Journal/JournalIssue/PubDate/Year")
        assert e["publication_year"] == f"{year}//" and p["publication_year"] == year
        checked += 1
    assert checked >= 10
    assert any(re.fullmatch(r"\d+-\d{1,3}", e.get("start_page", "")) for e in embase)


def test_abstracts_are_only_curated_summaries() -> None:
    abstracts = [a.findtext(".//AbstractText") or "" for a in _xml_root().iterfind("PubmedArticle")]
    abstracts += [str(e.get("notes_abstract", "")) for e in _ris("embase.ris") + _ris("psycinfo.ris")]
    abstracts += [r["Brief Summary"] for r in _csv_rows()]
    assert len(abstracts) == sum(f.count_in_file for f in verify_run(RUN).files)
    labels = ("Design: ", "Population: ", "Ketamine route: ", "Comparator: ")
    for text in abstracts:
        assert text and SUMMARY_RE.match(text), text
        found = [text.find(label) for label in labels if label in text]
        assert found == sorted(found) and all(text.count(label) == 1 for label in labels if label in text), text
    words = " ".join(abstracts)
    for word in ("randomized", "open-label", "intranasal", "IV"):
        assert word in words
