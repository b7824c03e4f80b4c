"""Deduplication engine: normalisation, guarded clustering, overrides, stable ids, merge, files, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from livingreview.constants import CLUSTER_FIELDS, LEDGER_FIELDS, RECORD_FIELDS
from livingreview.dedup import (
    MATCH_RULES,
    MAYBE_LOW,
    DedupDecision,
    deduplicate,
    load_dedup_decisions,
    record_kind,
    run_dedup,
)
from livingreview.errors import ConfigError, InputFormatError, LivingReviewError
from livingreview.normalize import (
    expand_pages,
    first_author_surname,
    first_page,
    is_preprint_doi,
    journals_match,
    normalize_author,
    normalize_doi,
    normalize_journal,
    normalize_pmid,
    normalize_title,
    normalize_year,
)
from livingreview.records import Record
from livingreview.tables import read_tsv, write_tsv

from conftest import shipped_resources

# K071 (Feder 2014, JAMA Psychiatry) as curated in the evidence file.
K071 = dict(
    title="Efficacy of Intravenous Ketamine for Treatment of Chronic Posttraumatic Stress Disorder: A Randomized Clinical Trial",
    authors=("Feder A", "Parides MK", "Murrough JW", "Perez AM", "Morgan JE", "Saxena S", "Kirkwood K", "aan het Rot M", "Lapidus KAB", "Wan LB", "Iosifescu D", "Charney DS"),
    journal="JAMA Psychiatry",
    year="2014",
    volume="71",
    issue="6",
    pages="681-688",
)


def rec(record_id: str, **kw: object) -> Record:
    database = record_id.split(":", 1)[0]
    fields = {"run_id": "2025-09-30", "database": database, **kw}
    return Record(record_id=record_id, **fields)  # type: ignore[arg-type]


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("https://doi.org/10.1001/JAMAPSYCHIATRY.2014.62", "10.1001/jamapsychiatry.2014.62"),
        ("doi: 10.1176/appi.ajp.2020.20050596.", "10.1176/appi.ajp.2020.20050596"),
        ("http://dx.doi.org/10.1038/s41386-021-01104-4 [doi]", "10.1038/s41386-021-01104-4"),
        ("not a doi", ""),
    ],
)
def test_normalize_doi(raw: str, expected: str) -> None:
    assert normalize_doi(raw) == expected


def test_normalize_title_variants_agree() -> None:
    base = normalize_title(K071["title"])
    assert base == normalize_title(K071["title"].upper() + ".")
    assert base == normalize_title("[" + K071["title"] + "].")
    assert normalize_title("<i>d</i>-Serine is a potential biomarker") == normalize_title("D&#8208;serine is a potential biomarker")
    assert normalize_title("Schönenberg &amp; Reichwald") == "schonenberg reichwald"


@pytest.mark.parametrize(
    "raw, expected",
    [("Feder, A.", "feder a"), ("Feder A", "feder a"), ("Lapidus, K. A. B.", "lapidus kab"), ("aan het Rot M", "aanhetrot m"),
     ("Schönenberg, Michael", "schonenberg m"), ("Lapidus KAB", "lapidus kab")],
)
def test_normalize_author(raw: str, expected: str) -> None:
    assert normalize_author(raw) == expected


def test_journals_pages_years_pmids() -> None:
    assert journals_match(normalize_journal("J Clin Psychiatry"), normalize_journal("The Journal of Clinical Psychiatry"))
    assert journals_match(normalize_journal("Behav Brain Res"), normalize_journal("Behavioural Brain Research"))
    assert journals_match(normalize_journal("Chronic Stress (Thousand Oaks)"), normalize_journal("Chronic Stress"))
    assert not journals_match(normalize_journal("J Psychopharmacol"), normalize_journal("Psychopharmacology"))
    assert expand_pages("221-8") == "221-228"
    assert expand_pages("1574-81") == "1574-1581"
    assert expand_pages("S195-8; discussion S197-8") == "S195-S198"
    assert first_page("e30919") == "e30919"
    assert normalize_year("2020 Dec 22") == 2020
    assert normalize_year("") is None
    assert normalize_pmid("PMID: 024740528") == "24740528"


def test_record_kinds() -> None:
    assert record_kind(rec("clinicaltrials:NCT00749203", title="x")) == "registration"
    assert record_kind(rec("embase:r#1", title="Corrigendum: A title")) == "erratum"
    assert record_kind(rec("embase:r#1", title="A title", publication_types=("Published Erratum",))) == "erratum"
    assert record_kind(rec("other:r#1", title="A title", doi="10.1101/2021.04.10.21255127")) == "preprint"
    assert record_kind(rec("embase:r#1", title="A title", journal="medRxiv")) == "preprint"
    assert record_kind(rec("embase:r#1", title="A title", publication_types=("Conference Abstract",))) == "conference_abstract"
    assert record_kind(rec("pubmed:1", title="A title", publication_types=("Journal Article",))) == "publication"


def test_match_rules_are_readable_data() -> None:
    ids = [r.id for r in MATCH_RULES]
    assert len(ids) == len(set(ids))
    for rule in MATCH_RULES:
        assert rule.description
        assert any(c[0] == "title" for c in rule.conditions)
        assert all(op in (">=", "<=", "in") for _f, op, _v in rule.conditions)


# --- clustering guards -----------------------------------------------------------------------------


def test_union_find_refuses_two_dois_even_through_a_bridge() -> None:
    """A record without identifiers that matches two records with different DOIs joins only one."""
    a = rec("pubmed:24740528", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **K071)
    b = rec("embase:r#1", doi="10.9999/other.doi", **K071)
    bridge = rec("psycinfo:r#1", **K071)
    result = deduplicate([a, b, bridge])
    c = result.cluster_of
    assert c[a.record_id] != c[b.record_id]
    assert c[bridge.record_id] == c[b.record_id]  # equal links: the pair of smaller record ids first, whatever the input order
    assert deduplicate([bridge, a, b]).cluster_of == c
    refused = [m for m in result.maybe_pairs if "refused" in m["rule"]]
    assert refused and "different DOIs" in refused[0]["rule"]


def test_two_pmids_never_merge() -> None:
    a = rec("pubmed:1", pmid="1", **K071)
    b = rec("pubmed:2", pmid="2", **K071)
    result = deduplicate([a, b])
    assert result.cluster_of["pubmed:1"] != result.cluster_of["pubmed:2"]


def test_blocking_does_not_compare_all_pairs() -> None:
    from livingreview.dedup import _prepare, candidate_pairs

    words = "ketamine trauma infusion memory fear sleep cortex placebo veterans dose anxiety pain stress brain glutamate".split()
    records = [
        rec(f"embase:r#{i}", title=" ".join(words[(i * 7 + j * (i % 5 + 1)) % len(words)] for j in range(9)) + f" {i}", authors=(f"Author{i} A",), year="2020")
        for i in range(300)
    ]
    pairs, scores = candidate_pairs(_prepare(records))
    assert len(pairs) < 300 * 299 // 2 // 10
    assert (scores >= 85).all()


# --- human overrides ---------------------------------------------------------------------------------


def _decisions_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "decisions.tsv"
    path.write_text("record_a\trecord_b\tdecision\treviewer\tdate\tnote\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_overrides_win_and_are_in_the_ledger(tmp_path: Path) -> None:
    a = rec("pubmed:24740528", pmid="24740528", **K071)
    b = rec("embase:r#1", **K071)  # would be linked by the rules
    c = rec("embase:r#2", title="A completely different title of another paper", year="2014")
    path = _decisions_file(
        tmp_path,
        ["pubmed:24740528\tembase:r#1\tkeep_apart\tAB\t2025-10-01\tdifferent version", "embase:r#2\tpubmed:24740528\tlink\tAB\t2025-10-01\tsame report"],
    )
    decisions = load_dedup_decisions(path)
    assert [d.decision for d in decisions] == ["keep_apart", "link"]
    result = deduplicate([a, b, c], decisions=decisions)
    assert result.cluster_of[a.record_id] != result.cluster_of[b.record_id]
    assert result.cluster_of[a.record_id] == result.cluster_of[c.record_id]
    ledger = {r["record_id"]: r for r in result.ledger}
    assert ledger["embase:r#2"]["reason"] == "human_link"
    assert ledger["embase:r#2"]["reference"] == "pubmed:24740528"
    assert f"{path}:3" in ledger["embase:r#2"]["evidence"]
    assert f"kept apart from pubmed:24740528 by {path}:2" in ledger["embase:r#1"]["evidence"]


def test_a_later_row_cannot_overrule_a_pair_decision_and_the_error_names_both_rows(tmp_path: Path) -> None:
    """Dedup decisions are one row per pair (the pair's order does not matter): a second, different
    decision stops naming both lines and says how to change one's mind (edit the earlier row)."""
    path = _decisions_file(
        tmp_path,
        ["pubmed:1\tembase:r#1\tlink\tAB\t2025-10-01\tsame report", "embase:r#1\tpubmed:1\tkeep_apart\tCD\t2025-11-01\tsecond thoughts"],
    )
    with pytest.raises(ConfigError) as err:
        load_dedup_decisions(path)
    message = str(err.value)
    assert message.startswith(f"{path}:3: pair embase:r#1 / pubmed:1 is both link ({path}:2) and keep_apart")
    assert "fix: keep one decision for the pair: to change your mind, edit the earlier row" in message and "\n" not in message


def test_a_dedup_decision_dated_on_no_calendar_day_is_refused(tmp_path: Path) -> None:
    """2026-02-30 matches the schema's YYYY-MM-DD pattern but is no date: refused, naming file:line,
    as a screening decision's date is (it would otherwise sort among real dates for the previous version)."""
    path = _decisions_file(tmp_path, ["pubmed:1\tembase:r#1\tlink\tAB\t2025-10-01\tsame report", "pubmed:2\tembase:r#2\tlink\tAB\t2026-02-30\tsame report"])
    with pytest.raises(ConfigError) as err:
        load_dedup_decisions(path)
    assert str(err.value) == f"{path}:3: date '2026-02-30' is not a calendar date; fix: write the date as YYYY-MM-DD"


def test_override_naming_unknown_record_is_one_line_error(tmp_path: Path) -> None:
    path = _decisions_file(tmp_path, ["pubmed:1\tembase:r#99\tlink\tAB\t2025-10-01\t"])
    decisions = load_dedup_decisions(path)
    with pytest.raises(ConfigError) as err:
        deduplicate([rec("pubmed:1", pmid="1", title="A title")], decisions=decisions)
    message = str(err.value)
    assert f"{path}:2" in message and "embase:r#99" in message and "\n" not in message


@pytest.mark.parametrize(
    "row, fragment",
    [
        ("pubmed:1\tpubmed:2\tmerge\tAB\t2025-10-01\t", "decision"),
        ("pubmed:1\tpubmed:2\tlink\t\t2025-10-01\t", "reviewer"),
        ("pubmed:1\tpubmed:2\tlink\tAB\t01/10/2025\t", "date"),
        ("24740528\tpubmed:2\tlink\tAB\t2025-10-01\t", "record_a"),
        ("pubmed:1\tpubmed:1\tlink\tAB\t2025-10-01\t", "itself"),
    ],
)
def test_bad_decision_rows(tmp_path: Path, row: str, fragment: str) -> None:
    path = _decisions_file(tmp_path, [row])
    with pytest.raises(ConfigError) as err:
        load_dedup_decisions(path)
    assert f"{path}:2" in str(err.value) and fragment in str(err.value)


def test_decisions_file_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("record_a\trecord_b\tdecision\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="reviewer"):
        load_dedup_decisions(path)


def test_decisions_file_unknown_column(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("record_a\trecord_b\tdecision\treviewer\tdate\tnote\treviwer_2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_dedup_decisions(path)
    assert err.value.one_line().startswith(f"{path}:1: unknown column(s) 'reviwer_2'; the columns are record_a, record_b, decision")


# --- canonical, merge, stable ids --------------------------------------------------------------------


def test_canonical_preference_and_field_provenance() -> None:
    embase = rec("embase:r#1", doi="10.1001/jamapsychiatry.2014.62", abstract="Embase abstract text.", **{**K071, "issue": ""})
    pubmed = rec("pubmed:24740528", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **{**K071, "issue": ""})
    medline = rec("medline:24740528", pmid="24740528", **K071)
    result = deduplicate([embase, medline, pubmed])
    assert len(result.canonical) == 1
    merged = result.canonical[0]
    assert merged["record_id"] == "pubmed:24740528"
    assert merged["issue"] == "6" and merged["abstract"] == "Embase abstract text."
    prov = {r["field"]: r["value_from"] for r in result.provenance}
    assert prov["issue"] == "medline:24740528"
    assert prov["abstract"] == "embase:r#1"
    assert prov["title"] == "pubmed:24740528"
    assert set(merged) == set(RECORD_FIELDS) | {"cluster_id"}
    rows = {r["record_id"]: r for r in result.clusters}
    assert rows["medline:24740528"]["rule"] == "pmid" and rows["medline:24740528"]["canonical_id"] == "pubmed:24740528"
    assert rows["embase:r#1"]["rule"] == "doi"
    assert {r["outcome"] for r in result.ledger} == {"canonical", "duplicate"}


def test_cluster_ids_stable_when_a_run_is_added() -> None:
    old = [
        rec("embase:2025-09-30#1", run_id="2025-09-30", **K071),
        rec("embase:2025-09-30#2", run_id="2025-09-30", title="Another paper entirely on something else", year="2020"),
    ]
    first = deduplicate(old)
    new = rec("pubmed:24740528", run_id="2025-10-31", pmid="24740528", **K071)
    second = deduplicate([*old, new], previous_clusters=first.clusters)
    third = deduplicate([*old, new])  # without the previous table: anchored on the earliest member
    for r in old:
        assert second.cluster_of[r.record_id] == first.cluster_of[r.record_id] == third.cluster_of[r.record_id]
    assert second.cluster_of[new.record_id] == first.cluster_of["embase:2025-09-30#1"]
    # The earlier cluster's merged record is the first build's, unchanged (so is its screening):
    # the later PubMed record joins it as a duplicate, it is not preferred over the earlier record.
    canon = {r["cluster_id"]: r for r in second.canonical}
    assert canon[second.cluster_of[new.record_id]] == next(r for r in first.canonical if r["record_id"] == "embase:2025-09-30#1")
    ledger = {r["record_id"]: r for r in second.ledger}
    assert ledger[new.record_id]["outcome"] == "duplicate" and ledger[new.record_id]["reference"] == "embase:2025-09-30#1"
    assert "first run 2025-09-30" in ledger["embase:2025-09-30#1"]["evidence"]


def test_a_new_record_never_joins_two_earlier_clusters() -> None:
    """A record of a later run that matches two clusters of earlier runs (same PMID as one, same DOI
    as the other) joins one of them; the other link waits for a person as a maybe pair, and the
    earlier clusters keep their members and ids."""
    pubmed = rec("pubmed:24740528", pmid="24740528", **K071)
    abstract_like = {**K071, "title": "Ketamine infusion for chronic PTSD: a randomized trial", "pages": "", "authors": ("Feder A",), "year": "2013"}
    embase = rec("embase:x1", doi="10.1001/jamapsychiatry.2014.62", **abstract_like)
    first = deduplicate([pubmed, embase])
    assert first.cluster_of[pubmed.record_id] != first.cluster_of[embase.record_id]
    bridge = rec("psycinfo:z", run_id="2025-10-31", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **K071)
    second = deduplicate([pubmed, embase, bridge])
    for r in (pubmed, embase):
        assert second.cluster_of[r.record_id] == first.cluster_of[r.record_id]
    assert second.cluster_of[bridge.record_id] == first.cluster_of[pubmed.record_id]  # PMID first (stronger)
    assert [(m["record_a"], m["record_b"], m["rule"]) for m in second.maybe_pairs] == [
        ("embase:x1", "psycinfo:z", "doi refused: would join two clusters of earlier runs")
    ]
    # Built from scratch with all three in one run, the same records form one cluster.
    together = deduplicate([pubmed, embase, rec("psycinfo:z", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **K071)])
    assert len(set(together.cluster_of.values())) == 1
    # A person can still join the two earlier clusters.
    link = DedupDecision(record_a="embase:x1", record_b="pubmed:24740528", decision="link", reviewer="AB", date="2025-11-02", note="", where="decisions.tsv:2")
    linked = deduplicate([pubmed, embase, bridge], decisions=[link])
    assert len(set(linked.cluster_of.values())) == 1 and linked.maybe_pairs == []


def test_new_records_cluster_with_each_other_and_one_earlier_cluster() -> None:
    old = rec("embase:2025-09-30#1", **K071)
    new_a = rec("pubmed:24740528", run_id="2025-10-31", pmid="24740528", **K071)
    new_b = rec("medline:24740528", run_id="2025-10-31", pmid="24740528", **K071)
    result = deduplicate([old, new_a, new_b])
    assert len(set(result.cluster_of.values())) == 1
    assert result.cluster_of[new_a.record_id] == deduplicate([old]).cluster_of[old.record_id]


def test_previous_ids_are_kept_even_when_derivation_differs() -> None:
    old = [rec("embase:2025-09-30#1", **K071)]
    previous = [{"record_id": "embase:2025-09-30#1", "cluster_id": "c_legacy_7", "canonical_id": "embase:2025-09-30#1", "rule": "unique", "score": ""}]
    result = deduplicate(old, previous_clusters=previous)
    assert result.cluster_of["embase:2025-09-30#1"] == "c_legacy_7"


def test_duplicate_record_id_is_an_error() -> None:
    with pytest.raises(InputFormatError, match="occurs twice"):
        deduplicate([rec("pubmed:1", title="x"), rec("pubmed:1", title="y")])


# --- stage and CLI -------------------------------------------------------------------------------------


def test_run_dedup_writes_every_output(tmp_path: Path) -> None:
    records = [
        rec("pubmed:24740528", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **K071),
        rec("embase:2025-09-30#1", doi="10.1001/jamapsychiatry.2014.62", **K071),
        rec("clinicaltrials:NCT00749203", native_id="NCT00749203", title="Ketamine as a Rapid Treatment for Post-traumatic Stress Disorder (PTSD)"),
    ]
    write_tsv(tmp_path / "records.tsv", RECORD_FIELDS, [r.to_row() for r in records])
    out = {k: tmp_path / f"{k}.tsv" for k in ("clusters", "maybe", "canonical", "provenance", "ledger")}
    run_dedup(
        records=tmp_path / "records.tsv",
        decisions=[str(_decisions_file(tmp_path, []))],
        clusters_out=out["clusters"],
        maybe_out=out["maybe"],
        canonical_out=out["canonical"],
        provenance_out=out["provenance"],
        ledger_out=out["ledger"],
    )
    clusters = read_tsv(out["clusters"], required=CLUSTER_FIELDS)
    assert [r["record_id"] for r in clusters] == sorted(r.record_id for r in records)
    ledger = read_tsv(out["ledger"], required=LEDGER_FIELDS)
    assert len(ledger) == 3 and {r["stage"] for r in ledger} == {"dedup"}
    assert len(read_tsv(out["canonical"])) == 2
    before = out["clusters"].read_bytes()
    run_dedup(records=tmp_path / "records.tsv", decisions=None, clusters_out=out["clusters"], maybe_out=out["maybe"],
              canonical_out=out["canonical"], provenance_out=out["provenance"], ledger_out=out["ledger"])
    assert out["clusters"].read_bytes() == before  # same inputs, same bytes


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livingreview.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_mix_of_ris_and_csv(tmp_path: Path) -> None:
    ris = tmp_path / "embase.ris"
    ris.write_text(
        "TY  - JOUR\nTI  - " + K071["title"] + ".\nAU  - Feder, A.\nAU  - Parides, M. K.\nJO  - JAMA Psychiatry\nPY  - 2014\nVL  - 71\nSP  - 681\nEP  - 8\nER  - \n\n"
        "TY  - JOUR\nTI  - Neuroimaging correlates and predictors of response to repeated-dose intravenous ketamine in PTSD: preliminary evidence\nAU  - Norbury, A.\nJO  - Neuropsychopharmacology\nPY  - 2021\nVL  - 46\nSP  - 2266\nEP  - 2277\nDO  - 10.1038/s41386-021-01104-4\nER  - \n",
        encoding="utf-8",
    )
    csv_path = tmp_path / "rayyan.csv"
    csv_path.write_text(
        "key,title,authors,journal,year,volume,pages,doi\n"
        f'r1,"{K071["title"]}",Feder A; Parides MK,J AMA Psychiatry,2014,71,681-688,\n'
        'r2,"A Randomized Controlled Trial of Repeated Ketamine Administration for Chronic Posttraumatic Stress Disorder",Feder A,Am J Psychiatry,2021,178,193-202,10.1176/appi.ajp.2020.20050596\n',
        encoding="utf-8",
    )
    proc = _cli("dedup", str(ris), str(csv_path), "-o", str(tmp_path / "clusters.tsv"), "--maybe", str(tmp_path / "maybe.tsv"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = read_tsv(tmp_path / "clusters.tsv", required=CLUSTER_FIELDS)
    assert len(rows) == 4
    clusters = {r["record_id"]: r["cluster_id"] for r in rows}
    assert len(set(clusters.values())) == 3
    assert "4 records from 2 file(s) -> 3 clusters" in proc.stdout
    assert (tmp_path / "maybe.tsv").exists()


def test_cli_csv_without_title_column(tmp_path: Path) -> None:
    bad = tmp_path / "export.csv"
    bad.write_text("id,name,year\n1,Something,2020\n", encoding="utf-8")
    proc = _cli("dedup", str(bad), "-o", str(tmp_path / "c.tsv"), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "title" in lines[0] and "export.csv" in lines[0]
    assert not (tmp_path / "c.tsv").exists()


def test_errors_are_project_errors() -> None:
    assert issubclass(ConfigError, LivingReviewError)
    assert DedupDecision("a:1", "b:2", "link", "AB", "2025-10-01", "", "x:2").decision == "link"


def test_cli_same_file_name_given_three_times_keeps_every_record(tmp_path: Path) -> None:
    body = f'title,year\n"{K071["title"]}",2014\n'
    paths = [tmp_path / "a.csv", tmp_path / "x" / "a.csv", tmp_path / "a.csv"]
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        path.write_text(body, encoding="utf-8")
    proc = _cli("dedup", *map(str, paths), "-o", str(tmp_path / "c.tsv"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = read_tsv(tmp_path / "c.tsv", required=CLUSTER_FIELDS)
    assert sorted(r["record_id"] for r in rows) == ["other:a.csv#1", "other:a.csv#1@a.csv", "other:a.csv#1@a.csv~2"]
    assert "3 records from 3 file(s)" in proc.stdout


# --- guards compare cluster sets, not one value per cluster ---------------------------------------


def test_human_link_does_not_split_off_an_automatic_copy_with_the_same_doi(tmp_path: Path) -> None:
    """PubMed and PsycINFO share K071's DOI; a person links an Embase conference-abstract copy to
    PubMed. The PsycINFO copy must stay with PubMed (it agrees with a member on DOI and kind)."""
    doi = "10.1001/jamapsychiatry.2014.62"
    pubmed = rec("pubmed:24740528", pmid="24740528", doi=doi, publication_types=("Journal Article",), **K071)
    abstract = rec("embase:e71", publication_types=("Conference Abstract",), **{**K071, "pages": ""})
    psycinfo = rec("psycinfo:r#1", doi=doi, publication_types=("Journal Article",), **K071)
    without = deduplicate([pubmed, abstract, psycinfo])
    assert without.cluster_of[psycinfo.record_id] == without.cluster_of[pubmed.record_id]
    assert without.cluster_of[abstract.record_id] != without.cluster_of[pubmed.record_id]
    path = _decisions_file(tmp_path, ["pubmed:24740528\tembase:e71\tlink\tAB\t2025-10-01\tabstract of the trial"])
    result = deduplicate([pubmed, abstract, psycinfo], decisions=load_dedup_decisions(path))
    assert len(set(result.cluster_of.values())) == 1
    rows = {r["record_id"]: r for r in result.clusters}
    assert rows["psycinfo:r#1"]["rule"] == "doi" and rows["embase:e71"]["rule"] == "human_link"
    assert result.maybe_pairs == []


def test_human_link_of_two_dois_lets_a_copy_of_either_join(tmp_path: Path) -> None:
    """Two DOIs forced together by a person: a third copy with the second DOI joins the cluster."""
    a = rec("pubmed:24740528", pmid="24740528", doi="10.1001/jamapsychiatry.2014.62", **K071)
    b = rec("embase:r#1", doi="10.9999/other.doi", **K071)
    c = rec("psycinfo:r#1", doi="10.9999/other.doi", **{**K071, "title": "A title the rules would never link"})
    path = _decisions_file(tmp_path, ["pubmed:24740528\tembase:r#1\tlink\tAB\t2025-10-01\ttwo DOIs of one article"])
    result = deduplicate([a, b, c], decisions=load_dedup_decisions(path))
    assert len(set(result.cluster_of.values())) == 1
    assert {r["record_id"]: r["rule"] for r in result.clusters}["psycinfo:r#1"] == "doi"
    # A fourth copy with a third DOI still agrees with no member: refused.
    d = rec("medline:r#1", doi="10.9999/third.doi", **K071)
    result = deduplicate([a, b, c, d], decisions=load_dedup_decisions(path))
    assert result.cluster_of[d.record_id] != result.cluster_of[a.record_id]
    assert any(m["record_b"] == "medline:r#1" or m["record_a"] == "medline:r#1" for m in result.maybe_pairs)
    assert all("different DOIs" in m["rule"] for m in result.maybe_pairs if "medline:r#1" in (m["record_a"], m["record_b"]))


def test_contradictory_decisions_are_a_one_line_error(tmp_path: Path) -> None:
    """link A-C and link C-B put A and B in one cluster: a keep_apart A-B contradicts them."""
    a = rec("pubmed:24740528", pmid="24740528", **K071)
    b = rec("embase:r#1", title="A completely different title of another paper", year="2014")
    c = rec("psycinfo:r#1", title="Yet another title that no rule would link", year="2014")
    path = _decisions_file(
        tmp_path,
        [
            "pubmed:24740528\tpsycinfo:r#1\tlink\tAB\t2025-10-01\t",
            "psycinfo:r#1\tembase:r#1\tlink\tAB\t2025-10-01\t",
            "embase:r#1\tpubmed:24740528\tkeep_apart\tCD\t2025-10-02\t",
        ],
    )
    for call in (lambda: load_dedup_decisions(path), lambda: deduplicate([a, b, c], decisions=_unchecked(path))):
        with pytest.raises(ConfigError) as err:
            call()
        message = str(err.value)
        assert message.startswith(f"{path}:4: keep_apart embase:r#1 / pubmed:24740528")
        assert f"{path}:2" in message and f"{path}:3" in message
        assert "fix: " in message and "\n" not in message


def test_keep_apart_beside_unrelated_links_is_fine(tmp_path: Path) -> None:
    path = _decisions_file(
        tmp_path,
        [
            "pubmed:1\tpsycinfo:r#1\tlink\tAB\t2025-10-01\t",
            "embase:r#1\tembase:r#2\tlink\tAB\t2025-10-01\t",
            "embase:r#1\tpubmed:1\tkeep_apart\tCD\t2025-10-02\t",
        ],
    )
    assert [d.decision for d in load_dedup_decisions(path)] == ["link", "link", "keep_apart"]


def _unchecked(path: Path) -> list[DedupDecision]:
    """The decisions of a file as load_dedup_decisions builds them, without its checks."""
    rows = read_tsv(path)
    return [DedupDecision(r["record_a"], r["record_b"], r["decision"], r["reviewer"], r["date"], r["note"], f"{path}:{r['_line']}") for r in rows]


# --- retracted articles are publications; only retraction notices are kind retraction -------------

# Synthetic (not a real article): a made-up title and a DOI under the Crossref test prefix 10.5555.
RETRACTED = {
    "title": "Ketamine infusion and fear memory in a synthetic cohort: a randomized trial",
    "authors": ("Example A", "Sample B"),
    "journal": "Journal of Psychopharmacology",
    "year": "2020",
    "volume": "34",
    "pages": "100-110",
}


@pytest.mark.parametrize(
    "title, types, kind",
    [
        ("RETRACTED ARTICLE: " + RETRACTED["title"], ("Journal Article", "Retracted Publication"), "publication"),
        ("RETRACTED ARTICLE: " + RETRACTED["title"], (), "publication"),
        ("Retracted: " + RETRACTED["title"], (), "publication"),
        ("[Retracted] " + RETRACTED["title"], (), "publication"),
        (RETRACTED["title"], ("Journal Article", "Retracted Publication"), "publication"),
        ("Retracted publications in psychiatry: a bibliometric study", (), "publication"),
        ("Retraction: " + RETRACTED["title"], (), "retraction"),
        ('Retraction notice to "' + RETRACTED["title"] + '"', (), "retraction"),
        ("Retraction Note: " + RETRACTED["title"], (), "retraction"),
        ("Notice of retraction", (), "retraction"),
        ("Retracted: " + RETRACTED["title"], ("Retraction of Publication",), "retraction"),
        ("Statement of retraction: " + RETRACTED["title"], (), "retraction"),
    ],
)
def test_retracted_article_vs_retraction_notice(title: str, types: tuple[str, ...], kind: str) -> None:
    assert record_kind(rec("pubmed:1", title=title, publication_types=types)) == kind


def test_retracted_article_merges_with_its_copy() -> None:
    doi = "10.5555/synthetic.retracted.1"
    pubmed = rec("pubmed:1", pmid="1", doi=doi, publication_types=("Journal Article", "Retracted Publication"),
                 **{**RETRACTED, "title": "RETRACTED ARTICLE: " + RETRACTED["title"]})
    embase = rec("embase:r#1", doi=doi, publication_types=("Article",), **RETRACTED)
    no_doi = rec("psycinfo:r#1", publication_types=("Journal Article",), **RETRACTED)  # linked by title after the prefix
    notice = rec("embase:r#2", publication_types=("Note",), **{**RETRACTED, "title": "Retraction notice to: " + RETRACTED["title"], "pages": "111"})
    result = deduplicate([pubmed, embase, no_doi, notice])
    c = result.cluster_of
    assert c["embase:r#1"] == c["pubmed:1"] == c["psycinfo:r#1"]
    assert c["embase:r#2"] != c["pubmed:1"]
    rows = {r["record_id"]: r["rule"] for r in result.clusters}
    assert rows["embase:r#1"] == "doi" and rows["psycinfo:r#1"].startswith("F")


# --- 10.1101 is bioRxiv/medRxiv only in its preprint shapes ------------------------------------------

# DOI shapes only (zeros, not real DOIs), except the two medRxiv DOIs curated in the evidence file.
@pytest.mark.parametrize(
    "doi, preprint",
    [
        ("10.1101/2021.04.10.21255127", True),  # medRxiv, the preprint named in K052
        ("10.1101/2021.06.13.21258836", True),  # medRxiv, the preprint named in K003
        ("10.1101/2020.01.01.000000v2", True),
        ("10.1101/000000", True),  # bioRxiv before December 2019: six digits
        ("10.1101/0000000", True),
        ("10.1101/lm.000000.000", False),  # Learning & Memory (Cold Spring Harbor)
        ("10.1101/gad.000000.000", False),  # Genes & Development
        ("10.1101/gr.000000.000", False),  # Genome Research
        ("10.1101/cshperspect.a000000", False),  # Cold Spring Harbor Perspectives
        ("10.1101/pdb.prot000000", False),  # Cold Spring Harbor Protocols
        ("10.1101/00000", False),
        ("10.21203/rs.3.rs-000000/v1", True),  # Research Square: whole prefix
        ("10.5555/synth.1.1", False),
        ("", False),
    ],
)
def test_preprint_doi_shapes(doi: str, preprint: bool) -> None:
    assert is_preprint_doi(doi) is preprint


def test_cold_spring_harbor_journal_article_is_a_publication() -> None:
    base = {"title": "Fear memory reconsolidation in a synthetic example", "authors": ("Example A",), "journal": "Learning & Memory",
            "year": "2020", "volume": "27", "pages": "1-9", "doi": "10.1101/lm.000000.000"}
    pubmed = rec("pubmed:1", pmid="1", publication_types=("Journal Article",), **base)
    embase = rec("embase:r#1", publication_types=("Article",), **base)
    assert record_kind(pubmed) == record_kind(embase) == "publication"
    result = deduplicate([pubmed, embase])
    assert result.cluster_of["pubmed:1"] == result.cluster_of["embase:r#1"]


# --- a title-only rule (F3, F4) needs the same content words ----------------------------------------

# K072 (Feder 2021, Am J Psychiatry) as curated in the evidence file (first author only: the list there is incomplete).
K072 = {
    "title": "A Randomized Controlled Trial of Repeated Ketamine Administration for Chronic Posttraumatic Stress Disorder",
    "authors": ("Feder A",),
    "journal": "American Journal of Psychiatry",
    "year": "2021",
    "volume": "178",
    "issue": "2",
    "pages": "193-202",
}


def test_title_differing_in_one_drug_word_is_not_linked_without_volume_or_page() -> None:
    """Synthetic in-press record: K072's title with "Esketamine" for "Ketamine", same journal and year,
    no volume or pages (title similarity 0.99): a different paper, never linked by F3."""
    k072 = rec("embase:r#17", doi="10.1176/appi.ajp.2020.20050596", publication_types=("Article",), **K072)
    in_press = rec("psycinfo:r#1", publication_types=("Journal Article",),
                   **{**K072, "title": K072["title"].replace("Ketamine", "Esketamine"), "volume": "", "issue": "", "pages": ""})
    result = deduplicate([k072, in_press])
    assert result.cluster_of[k072.record_id] != result.cluster_of[in_press.record_id]
    [maybe] = result.maybe_pairs
    assert maybe["score"] >= 0.98 and maybe["rule"] == "below rules" and "title_words=differ" in maybe["fields"]


@pytest.mark.parametrize(
    "title",
    [
        K072["title"].replace("Repeated", "Repaeted"),  # a typo (two letters swapped) in a content word
        K072["title"].replace("Repeated", "Repeatted").replace("Chronic", "Chronc"),  # two typos
        K072["title"].replace("Trial of", "Trialkof"),  # a space typed as a letter
        K072["title"].replace("Randomized", "Randomised"),  # British spelling
        K072["title"].replace("Posttraumatic", "Post-traumatic"),  # hyphenation
        K072["title"] + ".",
    ],
)
def test_title_variants_are_still_linked_without_volume_or_page(title: str) -> None:
    k072 = rec("embase:r#17", publication_types=("Article",), **K072)
    copy = rec("psycinfo:r#1", publication_types=("Journal Article",), **{**K072, "title": title, "volume": "", "issue": "", "pages": ""})
    result = deduplicate([k072, copy])
    assert result.cluster_of[k072.record_id] == result.cluster_of[copy.record_id]
    assert {r["record_id"]: r["rule"] for r in result.clusters}["psycinfo:r#1"] == "F3"


# --- umlauts and their transliterations compare equal in author keys ----------------------------------

# K028 (Schönenberg 2008, J Psychopharmacol) as curated in the evidence file.
K028 = {
    "title": "Ketamine aggravates symptoms of acute stress disorder in a naturalistic sample of accident victims",
    "journal": "Journal of Psychopharmacology",
    "year": "2008",
    "volume": "22",
    "issue": "5",
    "pages": "493-497",
}


@pytest.mark.parametrize(
    "a, b",
    [
        ("Schönenberg M", "Schoenenberg, Michael"),
        ("Rothärmel M", "Rothaermel, M."),
        ("Müller A", "Mueller, A."),
        ("Groß A", "Gross A"),
        ("SCHÖNENBERG M", "SCHOENENBERG M"),
    ],
)
def test_umlaut_and_transliteration_give_one_author_key(a: str, b: str) -> None:
    assert normalize_author(a) == normalize_author(b)
    assert first_author_surname([a]) == first_author_surname([b])


def test_transliterated_first_author_is_linked() -> None:
    """K028 with the first author transliterated in one database: linked by the rules, not a maybe pair."""
    others = ("Reichwald U", "Domes G", "Badke A", "Hautzinger M")
    embase = rec("embase:r#41", authors=("Schönenberg M", *others), publication_types=("Article",), **{**K028, "pages": "493-7"})
    psycinfo = rec("psycinfo:r#27", authors=("Schoenenberg, Michael", "Reichwald, U.", "Domes, G.", "Badke, A.", "Hautzinger, M."),
                   publication_types=("Journal Article",), **K028)
    result = deduplicate([embase, psycinfo])
    assert result.cluster_of[embase.record_id] == result.cluster_of[psycinfo.record_id]
    assert result.maybe_pairs == []
    assert {r["record_id"]: r["rule"] for r in result.clusters}["psycinfo:r#27"] == "F1"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # a content word is 4+ letters: a differing 4-letter word makes the titles different papers
        ("ketamine for ptsd in mice", "ketamine for ptsd in rats", "differ"),
        ("ketamine for ptsd", "ketamine for ptsd in rats", "differ"),
        # words of 3 letters or fewer do not count; one edit between content words is a typo
        ("ketamine for the ptsd", "ketamine for ptsd", "same"),
        ("randomised ketamine trial", "randomized ketamine trial", "typo"),
    ],
)
def test_title_words_counts_four_letter_words_as_content(a: str, b: str, expected: str) -> None:
    from livingreview.dedup import title_words

    assert title_words(a, b) == expected



@pytest.mark.parametrize("workers", ["0", "-3", "two"])
def test_cli_workers_must_be_one_or_more(tmp_path: Path, workers: str) -> None:
    ris = tmp_path / "a.ris"
    ris.write_text("TY  - JOUR\nTI  - A trial\nER  - \n", encoding="utf-8")
    proc = _cli("dedup", str(ris), "-o", str(tmp_path / "c.tsv"), "--workers", workers, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"--workers: {workers!r} is not a whole number of threads of 1 or more" in proc.stderr
    assert not (tmp_path / "c.tsv").exists()


def _with_letters_changed(title: str, k: int) -> str:
    """``title`` with its first ``k`` letters at positions divisible by 3 changed (to x, or z for an x)."""
    out, changed = list(title), 0
    for i, ch in enumerate(out):
        if changed == k:
            break
        if ch.isalpha() and i % 3 == 0:
            out[i], changed = ("z" if ch == "x" else "x"), changed + 1
    return "".join(out)


@pytest.mark.parametrize("changed, listed", [(13, True), (14, True), (15, False), (19, False)])
def test_the_maybe_band_starts_at_a_title_similarity_of_maybe_low(changed: int, listed: bool) -> None:
    """Two records of one first author and year (one block) that no rule links: a person sees the
    pair when their titles are at least MAYBE_LOW (0.85) alike, not below (0.84, 0.80)."""
    title = "synthetic trial of a made up treatment for a made up condition in a made up population of adults"
    other = _with_letters_changed(title, changed)
    score = fuzz.ratio(normalize_title(title), normalize_title(other)) / 100
    assert (score >= MAYBE_LOW) is listed and score > 0.79  # the pair sits where it should, 0.80 to 0.87
    a = rec("embase:r#1", title=title, authors=("Doe J", "Roe R"), year="2020", journal="Journal One")
    b = rec("psycinfo:r#1", title=other, authors=("Doe J", "Poe P"), year="2020", journal="Journal Two")
    result = deduplicate([a, b])
    assert result.cluster_of[a.record_id] != result.cluster_of[b.record_id]
    assert [(m["record_a"], m["record_b"], m["rule"]) for m in result.maybe_pairs] == ([("embase:r#1", "psycinfo:r#1", "below rules")] if listed else [])


def test_cli_says_where_the_pairs_to_check_are(tmp_path: Path) -> None:
    """The archived ClinicalTrials.gov export holds one pair near the threshold (two Feder registrations):
    without --maybe the summary says how to list it, with --maybe it names the file that holds it."""
    export = shipped_resources() / "searches/2025-09-30/clinicaltrials.csv"
    proc = _cli("dedup", str(export), "-o", str(tmp_path / "c.tsv"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "; 1 pair to check (list them with --maybe FILE); wrote" in proc.stdout
    maybe = tmp_path / "maybe.tsv"
    proc = _cli("dedup", str(export), "-o", str(tmp_path / "c.tsv"), "--maybe", str(maybe), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"; 1 pair to check in {maybe}; wrote" in proc.stdout
    pairs = read_tsv(maybe)
    assert [(p["record_a"], p["record_b"]) for p in pairs] == [("clinicaltrials:NCT00749203", "clinicaltrials:NCT02397889")]


def test_merge_fills_and_credits_fields_as_field_by_field() -> None:
    """_merge (canonical row + field provenance): each empty field but the identity fields is taken
    from the first other member that has it, every non-empty field credited to its source, in
    RECORD_FIELDS order; a lone record credits its own non-empty fields (source_line 0 is empty)."""
    from livingreview.dedup import IDENTITY_FIELDS, _merge

    def reference(members: list[Record], cid: str) -> tuple[dict[str, object], list[dict[str, str]]]:
        row = {name: members[0].cell(name) for name in RECORD_FIELDS}
        prov = []
        for name in RECORD_FIELDS:
            source = members[0].record_id
            if name not in IDENTITY_FIELDS and row[name] in ("", 0):
                for other in members[1:]:
                    if other.cell(name) not in ("", 0):
                        row[name], source = other.cell(name), other.record_id
                        break
            if row[name] not in ("", 0):
                prov.append({"cluster_id": cid, "field": name, "value_from": source})
        return {**row, "cluster_id": cid}, prov

    a = Record(record_id="pubmed:1", run_id="r1", database="pubmed", title="T", authors=("A B",), source_line=0)
    b = Record(record_id="embase:2", run_id="r1", database="embase", native_id="E2", abstract="Abs", mesh=("M1", "M2"), source_file="e.ris", source_line=9)
    c = Record(record_id="psycinfo:3", run_id="r1", database="psycinfo", abstract="Other", year="2020", keywords=("k",))
    for members in ([a], [a, b], [a, b, c], [a, c, b], [c, a]):
        got = _merge(members, "c0")
        assert got == reference(members, "c0")
        assert list(got[0]) == [*RECORD_FIELDS, "cluster_id"]
    row, prov = _merge([a, b, c], "c0")
    assert row["abstract"] == "Abs" and row["mesh"] == "M1; M2" and row["year"] == "2020" and row["native_id"] == "" and row["source_line"] == 0
    assert [(p["field"], p["value_from"]) for p in prov] == [
        ("record_id", "pubmed:1"), ("run_id", "pubmed:1"), ("database", "pubmed:1"), ("title", "pubmed:1"), ("abstract", "embase:2"),
        ("authors", "pubmed:1"), ("year", "psycinfo:3"), ("mesh", "embase:2"), ("keywords", "psycinfo:3"),
    ]


def test_reading_the_dedup_decisions_does_not_load_the_matcher(tmp_path: Path) -> None:
    """The Snakemake start-up check and the prisma_counts job read resources/dedup/decisions.tsv
    without importing the matcher (livingreview.dedup, and with it rapidfuzz and numpy: about 0.15 s
    per process); the decisions' names are still importable from livingreview.dedup."""
    from fresh_interpreter import run_fresh

    from conftest import shipped_project

    path = _decisions_file(tmp_path, ["embase:r#2\tpubmed:24740528\tlink\tAB\t2025-10-01\tsame report"])
    project = shipped_project()
    out = run_fresh(
        "import os",
        f"os.chdir({str(project)!r})",
        "from livingreview.config import load_config",
        "from livingreview.prisma import dedup_inputs",
        "from livingreview.validate import check_inputs",
        "summary, _layout = check_inputs(load_config('config/config.yaml'))",
        f"inputs = dedup_inputs('results/records/records.tsv', {str(path)!r}, 'resources/screening/decisions.tsv', 'config/screening.yaml', None)",
        "print(summary['dedup decisions'], [d.decision for d in inputs.dedup_decisions])",
        "print(sorted(m for m in ('rapidfuzz', 'livingreview.dedup') if m in sys.modules))",
        "from livingreview import dedup, dedup_decisions",
        "assert dedup.load_dedup_decisions is dedup_decisions.load_dedup_decisions and dedup.DedupDecision is dedup_decisions.DedupDecision",
    )
    assert out.splitlines() == ["0 ['link']", "[]"]
