"""`livingreview trace` end to end on the archived snapshot: records, duplicates, rule and human exclusions, studies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from livingreview.cli import main
from livingreview.constants import LEDGER_FIELDS
from livingreview.screening import load_rules
from livingreview.tables import read_tsv, write_json
from livingreview.trace import format_trace, trace
from conftest import default_review_reports, shipped_project, shipped_resources
from review_stages import DECISIONS, ROOT, STUDIES, run_to_ledger


@pytest.fixture(autouse=True)
def _in_the_shipped_review(monkeypatch: pytest.MonkeyPatch) -> None:
    """trace reads resources/extraction/*.tsv and config/ relative to the review folder: the shipped one (conftest)."""
    monkeypatch.chdir(shipped_project())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The records-to-ledger part of the workflow on the shipped snapshot, config, decisions and studies."""
    res = tmp_path_factory.mktemp("trace") / "results"
    run_to_ledger(res)
    write_json(res / "synthesis/test_analysis.json", {"studies": ["Feder2014", "Feder2021"]})
    return res


def decision_line(key: str, stage: str) -> int:
    """Line of decisions.tsv holding the (key, stage) row (header = line 1)."""
    for row in read_tsv(DECISIONS):
        if row["key"] == key and row["stage"] == stage:
            return int(row["_line"])
    raise LookupError(key)


def test_default_decisions_give_seven_studies_their_reports_and_a_reason_for_everything_else(results: Path) -> None:
    ledger = read_tsv(results / "audit/ledger.tsv", required=LEDGER_FIELDS)
    last: dict[str, dict[str, str]] = {}
    for row in ledger:
        last[row["record_id"]] = row
    finals = Counter((r["stage"], r["outcome"]) for r in last.values())
    assert finals[("study", "included")] == sum(default_review_reports().values())
    assert sum(v for (s, o), v in finals.items() if o == "awaiting_decision") == 0
    assert all(r["reason"] or r["outcome"] == "included" or r["stage"] == "dedup" for r in last.values())
    studies = read_tsv(results / "studies/included_studies.tsv")
    assert len(studies) == 7
    feder = next(s for s in studies if s["study_id"] == "Feder2021")
    assert feder["n_reports"] == str(default_review_reports()["Feder2021"]) == "3"  # two papers and its register entry
    agreement = json.loads((results / "screening/agreement.json").read_text())
    assert agreement["title_abstract"]["computable"] is False and "single reviewer" in agreement["title_abstract"]["why"]
    perf = read_tsv(results / "screening/rule_performance.tsv")
    assert perf[-1]["rule_id"] == "all_rules" and perf[-1]["people_included"] == "0" and perf[-1]["sensitivity"] == "1"


def test_trace_pubmed_record_to_study_and_analysis(results: Path) -> None:
    t = trace("24740528", results_dir=results, studies_table=STUDIES)
    assert t["kind"] == "record" and t["matched"] == ["pubmed:24740528"]
    (cluster,) = t["clusters"]
    member = next(m for m in cluster["members"] if m["record_id"] == "pubmed:24740528")
    records = {r["record_id"]: r for r in read_tsv(results / "records/records.tsv")}
    assert member["source"] == f"{records['pubmed:24740528']['source_file']}:{records['pubmed:24740528']['source_line']}"
    assert member["source"].startswith("resources/searches/2025-09-30/pubmed.xml.gz:")
    assert {m["database"] for m in cluster["members"]} == {"pubmed", "embase", "psycinfo"}
    stages = [p["stage"] for p in cluster["path"]]
    assert stages == ["identification", "dedup", "automation", "title_abstract", "retrieval", "full_text", "study"]
    ft = next(p for p in cluster["path"] if p["stage"] == "full_text")
    assert ft["reference"] == f"resources/screening/decisions.tsv:{decision_line('24740528', 'full_text')}"
    assert cluster["study"]["study_id"] == "Feder2014" and cluster["study"]["role"] == "primary"
    assert cluster["analyses"] == [str(results / "synthesis/test_analysis.json")]


def ovid_copy(evidence_key: str) -> str:
    """The Embase record_id the snapshot wrote for an evidence record (resources/snapshot_coverage.tsv)."""
    row = next(r for r in read_tsv(shipped_resources() / "snapshot_coverage.tsv") if r["key"] == evidence_key)
    return next(x for x in row["record_ids"].split("; ") if x.startswith("embase:"))


def test_trace_ovid_duplicate_names_its_canonical_record(results: Path) -> None:
    embase_id = ovid_copy("K071")  # Feder 2014, also in PubMed as 24740528
    t = trace(embase_id, results_dir=results, studies_table=STUDIES)
    (cluster,) = t["clusters"]
    assert cluster["canonical_id"] == "pubmed:24740528"
    dup = next(m for m in cluster["members"] if m["matched"])
    assert dup["record_id"] == embase_id
    assert dup["source"].startswith("resources/searches/2025-09-30/embase.ris:")
    assert dup["final"]["stage"] == "dedup" and dup["final"]["outcome"] == "duplicate" and dup["final"]["reference"] == "pubmed:24740528"
    assert dup["dedup_rule"]


def test_trace_rule_excluded_record_shows_rule_evidence_and_confirmation(results: Path) -> None:
    t = trace("28128336", results_dir=results, studies_table=STUDIES)
    final = t["clusters"][0]["final"]
    assert final["stage"] == "automation" and final["outcome"] == "excluded"
    assert final["reference"] == "animal_study"
    assert f"confirmed by resources/screening/decisions.tsv:{decision_line('28128336', 'title_abstract')}" in final["evidence"]
    assert "[" in final["evidence"] and "]:" in final["evidence"]  # field[start:end]: matched text
    assert t["clusters"][0]["study"] is None


def test_trace_full_text_excluded_report(results: Path) -> None:
    t = trace("40215385", results_dir=results, studies_table=STUDIES)
    final = t["clusters"][0]["final"]
    assert (final["stage"], final["outcome"]) == ("full_text", "excluded")
    assert final["reference"] == f"resources/screening/decisions.tsv:{decision_line('40215385', 'full_text')}"
    assert final["reason"] == load_rules(ROOT / "config/screening.yaml").reasons["open_label"]
    assert "reason open_label" in final["evidence"]


def test_trace_study_lists_all_its_reports(results: Path) -> None:
    t = trace("Feder2021", results_dir=results, studies_table=STUDIES)
    assert t["kind"] == "study" and t["study"]["included"] is True and t["study"]["n_reports"] == default_review_reports()["Feder2021"]
    included = {s["study_id"]: s for s in read_tsv(results / "studies/included_studies.tsv")}
    assert sorted(c["canonical_id"] for c in t["clusters"]) == sorted(included["Feder2021"]["record_ids"].split("; "))
    assert all(c["final"]["stage"] == "study" for c in t["clusters"])
    text = format_trace(t)
    assert text.startswith(f"study Feder2021: included ({default_review_reports()['Feder2021']} report(s)")
    assert "test_analysis.json" in text


def test_cli_trace_text_and_json(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "10.1001/JAMAPSYCHIATRY.2014.62", "--results", str(results), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "pubmed:24740528" in data["matched"] and len(data["matched"]) == 3  # the DOI is on all three copies
    assert len(data["clusters"]) == 1
    for pasted in ("https://doi.org/10.1001/JAMAPSYCHIATRY.2014.62", "doi: 10.1001/jamapsychiatry.2014.62."):
        assert main(["trace", pasted, "--results", str(results), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["matched"] == data["matched"]
    assert main(["trace", "pubmed:24740528", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "study: Feder2014 (primary report" in out and "pubmed.xml.gz:" in out
    assert main(["trace", "99999999999", "--results", str(results)]) == 1
    assert "no record or study matches '99999999999'" in capsys.readouterr().err


def test_trace_accepts_pmid_prefix_registration_and_study_id_in_any_case(results: Path) -> None:
    plain = trace("24740528", results_dir=results, studies_table=STUDIES)
    for key in ("PMID:24740528", "pmid: 24740528"):
        assert trace(key, results_dir=results, studies_table=STUDIES)["matched"] == plain["matched"]
    records = read_tsv(results / "records/records.tsv")
    nct = next(r["registration"].split("; ")[0] for r in records if r["record_id"] == "pubmed:24740528" and r["registration"])
    by_registration = trace(nct.lower(), results_dir=results, studies_table=STUDIES)
    assert "pubmed:24740528" in by_registration["matched"]
    assert all(nct in (r["registration"] + r["record_id"]) for r in records if r["record_id"] in by_registration["matched"])
    study = trace("feder2014", results_dir=results, studies_table=STUDIES)
    assert study["kind"] == "study" and study["study"]["study_id"] == "Feder2014"


def test_trace_of_a_duplicate_says_what_it_duplicates_and_by_which_link(results: Path) -> None:
    embase_id = ovid_copy("K071")  # Feder 2014, also in PubMed as 24740528
    own = [r for r in read_tsv(results / "audit/ledger.tsv") if r["record_id"] == embase_id]
    (dedup_row,) = [r for r in own if r["stage"] == "dedup"]
    assert dedup_row["outcome"] == "duplicate"
    t = trace(embase_id, results_dir=results, studies_table=STUDIES)
    dup = next(m for m in t["clusters"][0]["members"] if m["matched"])
    assert [r["stage"] for r in dup["own_path"]] == ["identification", "dedup"]
    assert dup["own_path"][1]["evidence"] == dedup_row["evidence"]
    text = format_trace(t)
    assert f"duplicate of {dedup_row['reference']} (rule {dedup_row['reason']}): {dedup_row['evidence']}" in text
    assert f"not screened itself; the path below is its canonical record {dedup_row['reference']}'s" in text
    # a canonical record traced by itself carries no such line
    assert "not screened itself" not in format_trace(trace("24740528", results_dir=results, studies_table=STUDIES))


def test_trace_key_naming_records_of_two_clusters_says_so(results: Path) -> None:
    records = read_tsv(results / "records/records.tsv")
    cluster_of = {r["record_id"]: r["cluster_id"] for r in read_tsv(results / "dedup/clusters.tsv")}
    # NCT00749203: the ClinicalTrials.gov record and the PubMed report that cites it in its registration field
    holders = sorted(r["record_id"] for r in records if "NCT00749203" in (r["record_id"] + r["registration"]))
    assert len({cluster_of[h] for h in holders}) == 2
    t = trace("NCT00749203", results_dir=results, studies_table=STUDIES)
    assert t["matched"] == holders and t["ambiguous"] is True and len(t["clusters"]) == 2
    text = format_trace(t)
    assert f"the key names {len(holders)} records in 2 separate clusters (not duplicates of each other" in text
    assert trace("24740528", results_dir=results, studies_table=STUDIES)["ambiguous"] is False


def test_trace_unknown_key_suggests_study_ids_and_records_without_year_show_no_empty_brackets(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "feder", "--results", str(results), "--studies", str(STUDIES)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no record or study matches 'feder'" in err
    assert "did you mean the study Feder2014 or Feder2021?" in err
    assert main(["trace", "zzz-no-such-key", "--results", str(results), "--studies", str(STUDIES)]) == 1
    assert "did you mean" not in capsys.readouterr().err
    no_year = next(r for r in read_tsv(results / "records/records.tsv") if not r["year"] and r["title"])
    text = format_trace(trace(no_year["record_id"], results_dir=results, studies_table=STUDIES))
    assert no_year["title"][:40] in text and "()" not in text


def test_trace_text_explains_its_member_marks_once_naming_only_the_marks_shown(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'*' / '-' before each cluster member are explained by one line, above the first marked line,
    naming only the marks the trace shows."""
    def text_of(key: str) -> list[str]:
        assert main(["trace", key, "--results", str(results), "--studies", str(STUDIES)]) == 0
        return capsys.readouterr().out.splitlines()

    def marked(lines: list[str]) -> list[int]:
        return [i for i, ln in enumerate(lines) if ln.startswith(("  * ", "  - "))]

    both = "  (* a record the key matches; - another record of its duplicate cluster)"
    lines = text_of("pubmed:24740528")  # the PubMed record and its Embase and PsycINFO copies
    assert lines.count(both) == 1 and lines.index(both) == marked(lines)[0] - 1 == 2  # below the first cluster line
    assert sum(ln.startswith("  * ") for ln in lines) == 1 and sum(ln.startswith("  - ") for ln in lines) == 2
    # a key naming records in two clusters: still once, above the first cluster's members
    lines = text_of("NCT00749203")
    assert lines.count(both) == 1 and lines.index(both) == marked(lines)[0] - 1
    # a record alone in its cluster: only '*' is shown, so only '*' is explained
    size = Counter(r["cluster_id"] for r in read_tsv(results / "dedup/clusters.tsv"))
    alone = sorted(r["record_id"] for r in read_tsv(results / "dedup/clusters.tsv") if size[r["cluster_id"]] == 1)[0]
    lines = text_of(alone)
    assert lines[2] == "  (* a record the key matches)" and lines[3].startswith(f"  * {alone} ") and not any(ln.startswith("  - ") for ln in lines)
    # a study: no record is matched by the key, every member is '-'
    lines = text_of("Feder2021")
    assert [ln for ln in lines if ln.startswith("  (")] == ["  (- a record of one of the study's reports)"]
    assert lines.index("  (- a record of one of the study's reports)") == marked(lines)[0] - 1
    assert not any(ln.startswith("  * ") for ln in lines)


def test_trace_outside_a_built_review_says_where_to_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no results/ here
    assert main(["trace", "pubmed:24740528"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("livingreview: error: results: no built review here")
    assert f"from the folder {tmp_path}" in err
    assert "fix: run livingreview trace in the review's folder after make review (or snakemake), or pass --results DIR" in err
    assert not (tmp_path / "results").exists()


def test_trace_text_shows_control_characters_of_a_title_instead_of_sending_them_to_the_terminal(results: Path) -> None:
    """A title from an export can hold terminal escape sequences (set the window title, colour, clear
    the screen, a carriage return that overwrites the line): the text trace shows them as \\xNN."""
    t = trace("24740528", results_dir=results, studies_table=STUDIES)
    member = next(m for c in t["clusters"] for m in c["members"] if m["record_id"] == "pubmed:24740528")
    member["title"] = "Ketamine \x1b]0;owned\x07\x1b[2J trial\rX\x9b1m\tend"
    text = format_trace(t)
    assert "Ketamine \\x1b]0;owned\\x07\\x1b[2J trial\\x0dX\\x9b1m\tend" in text
    assert not any(ch in text for ch in "\x1b\x07\r\x9b")
