"""PRISMA 2020 counts: recomputed independently from fixture ledgers, reconciliation failures, CSV layout, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from livingreview.cli import main as cli_main
from livingreview.constants import LEDGER_FIELDS, PRISMA_KEYS, REGISTERS
from livingreview.errors import InputFormatError, ReconciliationError
from livingreview.logutil import run_step
from livingreview.prisma import PRISMA_CSV_FIELDS, _to_rows, compute_counts, load_ledger, load_ledger_rows, run_prisma_counts, to_prisma_csv
from livingreview.tables import write_tsv

SOURCES = [
    {"database": "pubmed", "kind": "database", "platform": "PubMed (NCBI E-utilities)"},
    {"database": "embase", "kind": "database", "platform": "Ovid Embase"},
    {"database": "psycinfo", "kind": "database", "platform": "Ovid APA PsycInfo"},
    {"database": "clinicaltrials", "kind": "register", "platform": "ClinicalTrials.gov"},
]
RUN1 = "2025-09-30"
RUN2 = "2025-10-31"

# Paths after dedup for canonical records: (stage, outcome, reason, reference).
INCLUDED = [
    ("automation", "passed", "", ""),
    ("title_abstract", "included", "", "decisions.tsv:2"),
    ("retrieval", "retrieved", "", ""),
    ("full_text", "included", "", "decisions.tsv:3"),
]


def record(record_id: str, run_id: str, cluster: str, *, duplicate_of: str = "", path: list[tuple[str, str, str, str]] | None = None, study: str = "") -> list[dict[str, str]]:
    """Ledger rows of one record."""
    database = record_id.split(":", 1)[0]
    rows = [
        {"stage": "identification", "outcome": "identified", "reason": database, "reference": f"resources/searches/{run_id}/x:1", "evidence": run_id},
    ]
    if duplicate_of:
        rows.append({"stage": "dedup", "outcome": "duplicate", "reason": "pmid", "reference": duplicate_of, "evidence": ""})
    else:
        rows.append({"stage": "dedup", "outcome": "canonical", "reason": "", "reference": "", "evidence": ""})
        for stage, outcome, reason, reference in path or []:
            rows.append({"stage": stage, "outcome": outcome, "reason": reason, "reference": reference, "evidence": ""})
        if study:
            rows.append({"stage": "study", "outcome": "included", "reason": "", "reference": study, "evidence": ""})
    for r in rows:
        r.update(record_id=record_id, cluster_id=cluster)
    return rows


def first_run_ledger() -> list[dict[str, str]]:
    """A one-run ledger touching every outcome of every stage."""
    rows: list[dict[str, str]] = []
    rows += record("pubmed:1", RUN1, "c01", path=INCLUDED, study="StudyA")
    rows += record(f"embase:{RUN1}#1", RUN1, "c01", duplicate_of="pubmed:1")
    rows += record("pubmed:2", RUN1, "c02", path=[("automation", "excluded", "Animal study", "R_animal")])
    rows += record("pubmed:3", RUN1, "c03", path=[("automation", "excluded", "Review, editorial or letter", "R_pubtype")])
    rows += record("pubmed:4", RUN1, "c04", path=[("automation", "excluded", "Animal study", "R_animal")])
    rows += record(f"psycinfo:{RUN1}#1", RUN1, "c05", path=[("automation", "excluded", "Other", "")])
    rows += record("pubmed:5", RUN1, "c06", path=[("automation", "passed", "", ""), ("title_abstract", "excluded", "Not PTSD", "decisions.tsv:4")])
    rows += record("pubmed:6", RUN1, "c07", path=[("automation", "passed", "", ""), ("title_abstract", "awaiting_decision", "", "")])
    rows += record("pubmed:7", RUN1, "c08", path=INCLUDED[:3][:2] + [("retrieval", "not_retrieved", "Not retrieved", "decisions.tsv:5")])
    rows += record("pubmed:8", RUN1, "c09", path=INCLUDED[:3] + [("full_text", "excluded", "Open-label trial", "decisions.tsv:6")])
    rows += record(f"psycinfo:{RUN1}#2", RUN1, "c09", duplicate_of="pubmed:8")
    rows += record("pubmed:9", RUN1, "c10", path=INCLUDED[:3] + [("full_text", "excluded", "Protocol without results", "decisions.tsv:7")])
    rows += record("pubmed:10", RUN1, "c11", path=INCLUDED[:3] + [("full_text", "excluded", "Open-label trial", "decisions.tsv:8")])
    rows += record("pubmed:11", RUN1, "c12", path=INCLUDED[:3] + [("full_text", "awaiting_decision", "", "")])
    rows += record("pubmed:12", RUN1, "c13", path=INCLUDED, study="StudyA")
    rows += record("clinicaltrials:NCT00000001", RUN1, "c14", path=INCLUDED, study="StudyB")
    rows += record("clinicaltrials:NCT00000002", RUN1, "c15", path=[("automation", "passed", "", ""), ("title_abstract", "excluded", "Trial registration record", "decisions.tsv:9")])
    return rows


def second_run_ledger() -> list[dict[str, str]]:
    """The first run plus an update run that overlaps it and adds new records."""
    rows = first_run_ledger()
    rows += record(f"embase:{RUN2}#1", RUN2, "c01", duplicate_of="pubmed:1")  # already found in run 1
    rows += record("pubmed:20", RUN2, "c20", path=INCLUDED, study="StudyC")
    rows += record(f"embase:{RUN2}#2", RUN2, "c20", duplicate_of="pubmed:20")
    rows += record("pubmed:21", RUN2, "c21", path=INCLUDED, study="StudyA")  # a new report of an old study
    rows += record("pubmed:22", RUN2, "c22", path=[("automation", "excluded", "Animal study", "R_animal")])
    rows += record("pubmed:23", RUN2, "c23", path=[("automation", "passed", "", ""), ("title_abstract", "excluded", "Not PTSD", "decisions.tsv:10")])
    return rows


def independent_counts(rows: list[dict[str, str]], previous: set[str]) -> dict[str, Any]:
    """Recount from the rows with a different method: the final (last) row of every record."""
    by_record: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_record.setdefault(r["record_id"], []).append(r)
    run_of = {k: v[0]["evidence"] for k, v in by_record.items()}
    cluster_of = {k: v[0]["cluster_id"] for k, v in by_record.items()}
    old = {cluster_of[k] for k in by_record if run_of[k] in previous}
    new = [k for k in by_record if run_of[k] not in previous]
    final = {k: v[-1] for k, v in by_record.items()}
    stages = {k: {r["stage"]: r for r in v} for k, v in by_record.items()}

    def final_is(k: str, stage: str, outcome: str) -> bool:
        return final[k]["stage"] == stage and final[k]["outcome"] == outcome

    fresh = [k for k in new if cluster_of[k] not in old]
    fresh_canon = [k for k in fresh if stages[k]["dedup"]["outcome"] == "canonical"]
    old_canon = [k for k in by_record if cluster_of[k] in old and stages[k]["dedup"]["outcome"] == "canonical"]
    ft_excl = Counter(final[k]["reason"] for k in fresh_canon if final_is(k, "full_text", "excluded"))
    prev_studies = {final[k]["reference"] for k in old_canon if final[k]["stage"] == "study"}
    new_studies = {final[k]["reference"] for k in fresh_canon if final[k]["stage"] == "study"} - prev_studies
    db = Counter(k.split(":")[0] for k in new)
    return {
        "previous_studies": len(prev_studies),
        "previous_reports": sum(1 for k in old_canon if final[k]["stage"] == "study"),
        "database_results": sum(n for d, n in db.items() if d not in REGISTERS),
        "register_results": sum(n for d, n in db.items() if d in REGISTERS),
        "duplicates": len(new) - len(fresh_canon),
        "excluded_automatic": sum(1 for k in fresh_canon if final_is(k, "automation", "excluded") and final[k]["reference"]),
        "excluded_other": sum(1 for k in fresh_canon if final_is(k, "automation", "excluded") and not final[k]["reference"]),
        "records_screened": sum(1 for k in fresh_canon if final[k]["stage"] not in ("dedup", "automation")),
        "records_excluded": sum(1 for k in fresh_canon if final_is(k, "title_abstract", "excluded")),
        "dbr_sought_reports": sum(1 for k in fresh_canon if final[k]["stage"] in ("retrieval", "full_text", "study")),
        "dbr_notretrieved_reports": sum(1 for k in fresh_canon if final_is(k, "retrieval", "not_retrieved")),
        "dbr_assessed": sum(1 for k in fresh_canon if final[k]["stage"] in ("full_text", "study")),
        "dbr_excluded": sorted(({"reason": r, "n": n} for r, n in ft_excl.items()), key=lambda d: (-d["n"], d["reason"])),
        "new_studies": len(new_studies),
        "new_reports": sum(1 for k in fresh_canon if final[k]["stage"] == "study"),
        "total_studies": len(prev_studies | new_studies),
        "total_reports": sum(1 for k in by_record if final[k]["stage"] == "study"),
        "per_database": dict(db),
    }


@pytest.mark.parametrize(
    ("ledger", "previous"),
    [(first_run_ledger, set()), (second_run_ledger, {RUN1})],
    ids=["one-run", "update-run"],
)
def test_every_count_matches_an_independent_recount(ledger: Any, previous: set[str]) -> None:
    rows = ledger()
    counts = compute_counts(rows, sources=SOURCES)
    expected = independent_counts(rows, previous)
    for key in PRISMA_KEYS:
        assert counts[key] == expected[key], key
    got_db = {d["database"]: d["n"] for d in counts["database_specific_results"] + counts["register_specific_results"]}
    assert got_db == expected["per_database"]
    assert counts["previous_studies"] + counts["new_studies"] == counts["total_studies"]
    assert counts["previous_reports"] + counts["new_reports"] == counts["total_reports"]


def test_one_run_flow_values_and_extras() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    assert counts["previous"] is None
    assert counts["records_awaiting"] == 1 and counts["dbr_awaiting"] == 1
    assert counts["dbr_excluded"][0] == {"reason": "Open-label trial", "n": 2}
    assert counts["excluded_automatic_by_rule"] == [
        {"rule": "R_animal", "reason": "Animal study", "n": 2},
        {"rule": "R_pubtype", "reason": "Review, editorial or letter", "n": 1},
    ]
    assert counts["included_studies"] == ["StudyA", "StudyB"]
    labels = [d["label"] for d in counts["database_specific_results"]]
    assert labels == ["Ovid Embase", "Ovid APA PsycInfo", "PubMed (NCBI E-utilities)"]
    assert counts["register_specific_results"] == [{"database": "clinicaltrials", "label": "ClinicalTrials.gov", "n": 2}]


def test_update_run_has_previous_column_and_all_runs_flow() -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    first = independent_counts(first_run_ledger(), set())
    assert counts["previous"] == {
        "runs": [RUN1],
        "records_identified": len({r["record_id"] for r in first_run_ledger()}),
        "studies": first["total_studies"],
        "reports": first["total_reports"],
    }
    assert counts["newest_runs"] == [RUN2]
    assert [r["run_id"] for r in counts["runs"]] == [RUN1, RUN2]
    assert counts["all_runs"]["records_identified"] == len({r["record_id"] for r in second_run_ledger()})
    # a new report of an already included study is a new report but not a new study
    assert counts["new_reports"] == 2 and counts["new_studies"] == 1


def test_explicit_previous_runs_override() -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES, previous_runs=[])
    assert counts["previous"] is None
    assert counts["records_identified"] == len({r["record_id"] for r in second_run_ledger()})
    assert counts["total_studies"] == 3


def _without(rows: list[dict[str, str]], record_id: str, stage: str) -> list[dict[str, str]]:
    return [r for r in rows if not (r["record_id"] == record_id and r["stage"] == stage)]


@pytest.mark.parametrize(
    ("case", "mutate", "message"),
    [
        ("screening row lost", lambda rows: _without(rows, "pubmed:8", "title_abstract"), "were screened"),
        ("record stops after automation", lambda rows: _without(_without(_without(rows, "pubmed:8", "title_abstract"), "pubmed:8", "retrieval"), "pubmed:8", "full_text"), "pubmed:8 (ends at automation passed"),
        ("full-text row lost", lambda rows: _without(rows, "pubmed:12", "full_text"), "reports were assessed"),
        ("study link lost", lambda rows: _without(rows, "pubmed:12", "study"), "pubmed:12 (ends at full_text included"),
        ("retrieval row lost", lambda rows: _without(rows, "pubmed:9", "retrieval"), "reports were sought"),
    ],
)
def test_broken_arithmetic_stops_with_message(case: str, mutate: Any, message: str) -> None:
    with pytest.raises(ReconciliationError) as err:
        compute_counts(mutate(first_run_ledger()), sources=SOURCES)
    text = str(err.value)
    assert "PRISMA counts do not add up" in text and message in text, (case, text)
    assert "fix:" in text


def test_malformed_paths_are_named() -> None:
    rows = first_run_ledger()
    rows.append({**rows[0], "stage": "title_abstract", "outcome": "included"})  # after the study row
    with pytest.raises(ReconciliationError, match="out of order"):
        compute_counts(rows, sources=SOURCES)
    rows = first_run_ledger() + record("pubmed:99", RUN1, "c99", duplicate_of="pubmed:1", path=[])
    rows.append({**rows[-1], "stage": "automation", "outcome": "passed"})
    with pytest.raises(ReconciliationError, match="after its final outcome 'duplicate'"):
        compute_counts(rows, sources=SOURCES)


def _with_path(record_id: str, stages: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The one-run ledger plus a record of cluster c99 whose rows have these (stage, outcome)s."""
    rows = first_run_ledger()
    for stage, outcome in stages:
        rows.append({"record_id": record_id, "cluster_id": "c99", "stage": stage, "outcome": outcome, "reason": "", "reference": "", "evidence": RUN1})
    return rows


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            [("identification", "identified"), ("identification", "identified"), ("dedup", "canonical")],
            "record pubmed:99 has 2 identification rows (must have exactly 1)",
        ),
        (
            [("identification", "identified"), ("automation", "passed"), ("dedup", "canonical")],
            "record pubmed:99 has stages out of order or repeated (identification > automation > dedup)",
        ),
        (
            [("identification", "identified"), ("dedup", "canonical"), ("automation", "passed"), ("automation", "passed")],
            "record pubmed:99 has stages out of order or repeated (identification > dedup > automation > automation)",
        ),
        (
            [("identification", "identified"), ("automation", "excluded")],
            "record pubmed:99 path starts identification > automation; it must start identification > dedup",
        ),
        ([("dedup", "canonical")], "record pubmed:99 has 0 identification rows (must have exactly 1)"),
    ],
)
def test_a_malformed_path_is_named_with_its_first_row(stages: list[tuple[str, str]], message: str) -> None:
    """Every path check names the record and its first ledger line, also after good records (the
    check runs once per sequence of stages) and when a later record has the same bad path."""
    rows = _with_path("pubmed:99", stages)
    line = len(first_run_ledger()) + 2  # header is line 1
    for stage, outcome in stages:  # a second record with the same path: the first one is named
        rows.append({**rows[-1], "record_id": "pubmed:98", "stage": stage, "outcome": outcome})
    with pytest.raises(ReconciliationError) as err:
        compute_counts(rows, sources=SOURCES)
    assert str(err.value).startswith(f"results/audit/ledger.tsv:{line}: {message}; fix: "), str(err.value)


def test_the_job_reads_the_ledger_into_the_rows_the_cli_makes(tmp_path: Path) -> None:
    """load_ledger_rows (the job's reader) gives what compute_counts makes of load_ledger's dicts
    (the CLI's), whatever the column order, and stops on a bad line with the same error."""
    fields = ("evidence", "stage", *[f for f in LEDGER_FIELDS if f not in ("evidence", "stage")], "note")
    path = tmp_path / "ledger.tsv"
    write_tsv(path, fields, first_run_ledger())
    with path.open("a", encoding="utf-8") as fh:
        fh.write("# a comment line\n\n")
    rows = load_ledger_rows(path)
    assert rows == _to_rows(load_ledger(path), str(path)) and len(rows) == len(first_run_ledger())
    assert rows[-1].where == f"{path}:{len(rows) + 1}"
    assert compute_counts(rows, sources=SOURCES) == compute_counts(load_ledger(path), sources=SOURCES, source_name=str(path))
    with path.open("a", encoding="utf-8") as fh:
        fh.write("x\t" * len(fields) + "x\n")
    with pytest.raises(InputFormatError) as new:
        load_ledger_rows(path)
    with pytest.raises(InputFormatError) as old:
        load_ledger(path)
    assert str(new.value) == str(old.value) and f"{len(rows) + 4}: {len(fields) + 1} cells" in str(new.value)


def _write_ledger(path: Path, rows: list[dict[str, str]]) -> Path:
    write_tsv(path, LEDGER_FIELDS, rows)
    return path


def test_run_step_writes_nothing_when_counts_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = _write_ledger(tmp_path / "ledger.tsv", _without(first_run_ledger(), "pubmed:12", "study"))
    out = tmp_path / "prisma"
    with pytest.raises(SystemExit) as stop:
        run_step(
            run_prisma_counts,
            str(tmp_path / "prisma.log"),
            ledger=ledger,
            config={"searches": {"sources": SOURCES}},
            counts_out=out / "counts.json",
            csv_out=out / "PRISMA.csv",
        )
    assert stop.value.code == 1
    assert "PRISMA counts do not add up" in capsys.readouterr().err
    assert not (out / "counts.json").exists() and not (out / "PRISMA.csv").exists()
    assert "PRISMA counts do not add up" in (tmp_path / "prisma.log").read_text()


def test_run_prisma_counts_writes_json_and_csv_deterministically(tmp_path: Path) -> None:
    ledger = _write_ledger(tmp_path / "ledger.tsv", first_run_ledger())
    cfg = {"searches": {"sources": SOURCES}}
    run_prisma_counts(ledger=ledger, config=cfg, counts_out=tmp_path / "a.json", csv_out=tmp_path / "a.csv")
    run_prisma_counts(ledger=ledger, config=cfg, counts_out=tmp_path / "b.json", csv_out=tmp_path / "b.csv")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    data = json.loads((tmp_path / "a.json").read_text())
    assert data == json.loads(json.dumps(compute_counts(first_run_ledger(), sources=SOURCES)))


def test_prisma_csv_layout() -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    table = list(csv.DictReader(io.StringIO(to_prisma_csv(counts))))
    assert tuple(table[0].keys()) == PRISMA_CSV_FIELDS
    by_data = {row["data"]: row for row in table if row["data"] != "NA"}
    for key in PRISMA_KEYS:
        if key not in ("dbr_excluded", "new_reports"):
            assert by_data[key]["n"] == str(counts[key]), key
    # the app's 'Reports of new included studies': without pubmed:21, a new report of StudyA (previous version)
    assert counts["new_reports_of_previous_studies"] == 1 and by_data["new_reports"]["n"] == str(counts["new_reports"] - 1)
    assert counts["dbr_excluded"] == [] and by_data["dbr_excluded"]["n"] == "0"
    one_run = {row["data"]: row for row in csv.DictReader(io.StringIO(to_prisma_csv(compute_counts(first_run_ledger(), sources=SOURCES))))}
    assert one_run["dbr_excluded"]["n"] == "Open-label trial, 2; Protocol without results, 1"
    assert by_data["database_specific_results"]["n"] == "; ".join(f"{d['label']}, {d['n']}" for d in counts["database_specific_results"])
    assert counts["register_results"] == 0 and by_data["register_specific_results"]["n"] == "0"
    for node in ("node1", "node2", "node3", "node5", "node7", "node14", "node15", "node22"):
        assert any(row["node"] == node for row in table)
    # the awaiting rows close the arithmetic: screened = excluded + sought + awaiting
    screened, excluded, sought = (int(by_data[k]["n"]) for k in ("records_screened", "records_excluded", "dbr_sought_reports"))
    assert screened == excluded + sought + int(by_data["records_awaiting"]["n"]) and by_data["records_awaiting"]["n"] == str(counts["records_awaiting"])
    assert by_data["dbr_awaiting"]["n"] == str(counts["dbr_awaiting"])


def _read_like_the_prisma2020_app(cell: str) -> list[tuple[str, int]]:
    """PRISMA2020's PRISMA_parse_reasons_: split at ';', the name is the text before the first ',',
    the number the digits after it."""
    out = []
    for part in re.split(r"; ?", cell):
        name = re.sub(r",.*$", "", part)
        number = re.match(r".*?,([ 0-9,]*)", part)
        out.append((name, int(re.sub(r"[^0-9]", "", number.group(1))) if number and re.sub(r"[^0-9]", "", number.group(1)) else -1))
    return out


def test_prisma_csv_reasons_and_sources_with_commas_read_back_in_the_prisma2020_app() -> None:
    """Reason labels of config/screening.yaml hold commas ("Observational study (cohort,
    case-control, chart review)"); written as they are, the app reads the reason as
    "Observational study (cohort" with no number."""
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    counts["dbr_excluded"] = [
        {"reason": "Observational study (cohort, case-control, chart review)", "n": 8},
        {"reason": "Not primary research; review", "n": 2},
    ]
    counts["database_specific_results"] = [{"database": "medline", "label": "Ovid MEDLINE(R) ALL, Epub Ahead of Print", "n": 30}]
    by_data = {row["data"]: row for row in csv.DictReader(io.StringIO(to_prisma_csv(counts)))}
    assert _read_like_the_prisma2020_app(by_data["dbr_excluded"]["n"]) == [
        ("Observational study (cohort / case-control / chart review)", 8),
        ("Not primary research / review", 2),
    ]
    assert _read_like_the_prisma2020_app(by_data["database_specific_results"]["n"]) == [("Ovid MEDLINE(R) ALL / Epub Ahead of Print", 30)]
    one_run = {row["data"]: row for row in csv.DictReader(io.StringIO(to_prisma_csv(compute_counts(first_run_ledger(), sources=SOURCES))))}
    assert _read_like_the_prisma2020_app(one_run["dbr_excluded"]["n"]) == [("Open-label trial", 2), ("Protocol without results", 1)]


def test_cli_prints_counts_and_fails_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write_ledger(tmp_path / "good.tsv", first_run_ledger())
    assert cli_main(["prisma", str(good), "--config", str(tmp_path / "none.yaml"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = independent_counts(first_run_ledger(), set())
    assert printed["total_studies"] == expected["total_studies"]
    assert printed["records_screened"] == expected["records_screened"]
    assert cli_main(["prisma", str(good), "--config", str(tmp_path / "none.yaml")]) == 0
    text = capsys.readouterr().out
    assert f"Records screened: {expected['records_screened']}" in text and "Open-label trial: 2" in text
    bad = _write_ledger(tmp_path / "bad.tsv", _without(first_run_ledger(), "pubmed:5", "title_abstract"))
    assert cli_main(["prisma", str(bad), "--config", str(tmp_path / "none.yaml")]) == 1
    assert "PRISMA counts do not add up" in capsys.readouterr().err


def test_cli_text_labels_the_update_and_lists_its_databases_under_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a previous version, the text output names this update's run(s) before its counts, and the
    per-database counts (this update's) follow its "Records identified" line: before, they were printed
    indented under the "Previous version" line, as if they were the previous version's."""
    ledger = _write_ledger(tmp_path / "ledger.tsv", second_run_ledger())
    assert cli_main(["prisma", str(ledger), "--config", str(tmp_path / "none.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    counts = compute_counts(second_run_ledger(), sources=[])
    assert lines[0].startswith(f"Previous version (runs {RUN1}): ")
    assert lines[1] == f"This update (run {RUN2}):"
    assert lines[2] == f"Records identified: {counts['records_identified']} (databases {counts['database_results']}, registers {counts['register_results']})"
    # run 2 found 4 PubMed and 2 Embase records: the breakdown is this update's, under its total
    assert lines[3:5] == ["  embase: 2", "  pubmed: 4"]
    assert lines[5].startswith("Duplicates removed: ")
    # one run only: no previous version and no update heading; the breakdown still follows its total
    ledger1 = _write_ledger(tmp_path / "ledger1.tsv", first_run_ledger())
    assert cli_main(["prisma", str(ledger1), "--config", str(tmp_path / "none.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Records identified: ") and lines[1].startswith("  ")
    assert not any(line.startswith(("Previous version", "This update")) for line in lines)


def test_prisma_csv_links_name_ids_of_the_built_report(default_review: Path) -> None:
    """Every `index.html#id` link of PRISMA.csv lands on an element of results/report/index.html."""
    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    with (default_review / "results/prisma/PRISMA.csv").open(encoding="utf-8", newline="") as fh:
        urls = [row["url"] for row in csv.DictReader(fh)]
    assert urls and all(u.startswith("index.html#") for u in urls)
    anchors = {u.removeprefix("index.html#") for u in urls}
    assert anchors - ids == set(), f"PRISMA.csv links to ids missing from index.html: {sorted(anchors - ids)}"
    assert {"search", "screening", "prisma", "studies", "exclusions", "whatsnew"} <= anchors


def test_a_record_with_rows_in_two_clusters_is_named() -> None:
    rows = first_run_ledger()
    rid = rows[0]["record_id"]
    mine = [i for i, r in enumerate(rows) if r["record_id"] == rid]
    assert len(mine) >= 2
    rows[mine[-1]] = {**rows[mine[-1]], "cluster_id": "c-elsewhere"}  # e.g. a hand-edited or half-rewritten ledger
    with pytest.raises(ReconciliationError, match=rf"record {re.escape(rid)} has rows in more than one cluster.*fix: re-run assemble_ledger"):
        compute_counts(rows, sources=SOURCES)


def _decided_after_first_run() -> tuple[list[dict[str, str]], dict[str, str]]:
    """The update ledger after the team decided, dated after run 2 was searched, the record that
    waited at title/abstract in run 1 (pubmed:6 -> StudyD) and the report that waited at full text
    (pubmed:11, excluded), with the dates of every decisions.tsv line the ledger cites."""
    rows = [r for r in second_run_ledger() if r["record_id"] not in ("pubmed:6", "pubmed:11")]
    late = [("automation", "passed", "", ""), ("title_abstract", "included", "", "decisions.tsv:20"),
            ("retrieval", "retrieved", "", "decisions.tsv:21"), ("full_text", "included", "", "decisions.tsv:21")]
    rows += record("pubmed:6", RUN1, "c07", path=late, study="StudyD")
    rows += record("pubmed:11", RUN1, "c12", path=INCLUDED[:3] + [("full_text", "excluded", "Open-label trial", "decisions.tsv:22")])
    dates = {f"decisions.tsv:{n}": RUN1 for n in range(2, 11)}
    dates.update({"decisions.tsv:20": "2025-11-10", "decisions.tsv:21": "2025-11-12", "decisions.tsv:22": "2025-11-12"})
    return rows, dates


def test_previous_version_is_counted_with_the_decisions_it_had() -> None:
    """Decisions dated on or after this update's search (on records of earlier runs) belong to this
    update: the previous version's counts stay those its last build before the search showed."""
    rows, dates = _decided_after_first_run()
    first = compute_counts(first_run_ledger(), sources=SOURCES)
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    assert counts["previous"]["decided_before"] == RUN2
    assert counts["previous_studies"] == first["total_studies"] == 2
    assert counts["previous_reports"] == first["total_reports"] == 3
    # StudyC (run 2) and StudyD (a run-1 record included after run 1) are new; pubmed:21 is a new report of StudyA
    assert counts["new_studies"] == 2 and counts["new_reports"] == 3
    assert counts["total_studies"] == 4 and counts["total_reports"] == 6
    assert sorted(counts["included_studies"]) == ["StudyA", "StudyB", "StudyC", "StudyD"]
    then = counts["previous"]["flow"]
    for key in ("excluded_automatic", "excluded_other", "records_screened", "records_excluded", "records_awaiting",
                "dbr_sought_reports", "dbr_notretrieved_reports", "dbr_assessed", "dbr_awaiting", "dbr_excluded_total", "reports"):
        assert then[key] == first["all_runs"][key] if key == "reports" else then[key] == first[key], key
    assert counts["previous"]["decided_since"] == [
        {"record_id": "pubmed:11", "cluster_id": "c12", "date": "2025-11-12"},
        {"record_id": "pubmed:6", "cluster_id": "c07", "date": "2025-11-10"},
    ]
    # the newest run's records identified, removed and screened are unchanged (the earlier records
    # were screened, awaiting, in the previous version); the decisions made since on them are this
    # update's (test_update_flow_holds_the_decisions_made_since_on_earlier_records)
    plain = compute_counts(rows, sources=SOURCES)
    for key in ("records_identified", "duplicates", "records_screened", "excluded_automatic"):
        assert counts[key] == plain[key], key
    assert counts["dbr_assessed"] == plain["dbr_assessed"] + 1  # pubmed:6, included at title/abstract since
    # without dates, every decision made so far is taken as the previous version's
    assert plain["previous_studies"] == 3 and plain["new_studies"] == 1


@pytest.mark.parametrize("when", [RUN1, "2025-10-15", "2025-10-30"])
def test_decisions_dated_before_the_update_search_belong_to_the_previous_version(when: str) -> None:
    """The team screens a run's records after its search: decisions dated between two runs are the
    previous version's (its last build before the next search showed them)."""
    rows, dates = _decided_after_first_run()
    counts = compute_counts(rows, sources=SOURCES, decision_dates={k: min(v, when) for k, v in dates.items()})
    assert counts["previous"]["decided_since"] == [] and counts["previous"]["decided_before"] == RUN2
    assert counts["previous_studies"] == 3 and counts["new_studies"] == 1
    assert counts == {**compute_counts(rows, sources=SOURCES), "previous": counts["previous"]}


def test_a_decision_dated_on_the_update_search_day_belongs_to_the_update() -> None:
    rows, dates = _decided_after_first_run()
    dates = {k: (RUN2 if v > RUN2 else v) for k, v in dates.items()}
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    assert [d["record_id"] for d in counts["previous"]["decided_since"]] == ["pubmed:11", "pubmed:6"]
    assert counts["previous_studies"] == 2 and counts["new_studies"] == 2


# Flow keys of counts.json that the report's table, PRISMA.csv and prisma.svg show per column.
_FLOW_KEYS = ("excluded_automatic", "excluded_other", "records_screened", "records_excluded", "records_awaiting", "dbr_sought_reports",
              "dbr_notretrieved_reports", "dbr_assessed", "dbr_awaiting", "dbr_excluded_total")


def test_update_flow_holds_the_decisions_made_since_on_earlier_records() -> None:
    """counts.json's update flow (PRISMA.csv, prisma.svg) is the total minus the previous version as it
    stood, as the report's table shows it: the decisions dated on or after the update's search, on
    records of earlier runs, are this update's, so its flow leads to the reports it counts as new."""
    from livingreview.report import prisma_table

    rows, dates = _decided_after_first_run()
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    then, total = counts["previous"]["flow"], counts["all_runs"]
    for key in _FLOW_KEYS:
        assert then[key] + counts[key] == total[key], key
    # pubmed:6 (awaiting at title/abstract) was included and pubmed:11 (awaiting at full text) excluded since
    assert (counts["records_screened"], counts["records_excluded"], counts["records_awaiting"]) == (3, 1, -1)
    assert (counts["dbr_sought_reports"], counts["dbr_assessed"], counts["dbr_excluded_total"], counts["dbr_awaiting"]) == (3, 3, 1, -1)
    assert counts["dbr_excluded"] == [{"reason": "Open-label trial", "n": 1}]
    # the update column adds up to the reports it counts as new (pubmed:20, pubmed:21, pubmed:6)
    assert counts["dbr_assessed"] - counts["dbr_excluded_total"] - counts["dbr_awaiting"] == counts["new_reports"] == 3
    # the report's table, PRISMA.csv and counts.json give the same update column
    table = {r["label"]: r["cells"] for r in prisma_table(counts, SOURCES)["rows"]}
    csv_n = {row["data"]: row["n"] for row in csv.DictReader(io.StringIO(to_prisma_csv(counts)))}
    assert table["Reports assessed for eligibility"] == [then["dbr_assessed"], counts["dbr_assessed"], total["dbr_assessed"]]
    assert table["Records awaiting a decision (title/abstract)"][1] == counts["records_awaiting"]
    for key in ("records_screened", "records_excluded", "dbr_sought_reports", "dbr_assessed", "records_awaiting", "dbr_awaiting"):
        assert csv_n[key] == str(counts[key]), key


def test_a_report_awaiting_full_text_then_not_retrieved_moves_to_the_update() -> None:
    """A report that waited at full text in the previous version and was then marked not retrieved
    (dated after the update's search, in a month that assessed nothing new): the update's column
    says so (one fewer assessed, one not retrieved) instead of stopping the report."""
    from livingreview.report import prisma_table

    rows = [r for r in first_run_ledger() if r["record_id"] != "pubmed:11"]
    rows += record("pubmed:11", RUN1, "c12", path=INCLUDED[:2] + [("retrieval", "not_retrieved", "Not retrieved", "decisions.tsv:22")])
    rows += record("pubmed:30", RUN2, "c30", path=[("automation", "passed", "", ""), ("title_abstract", "excluded", "Not PTSD", "decisions.tsv:23")])
    dates = {f"decisions.tsv:{n}": RUN1 for n in range(2, 11)}
    dates.update({"decisions.tsv:22": "2025-11-12", "decisions.tsv:23": "2025-11-12"})
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    assert counts["previous"]["decided_since"] == [{"record_id": "pubmed:11", "cluster_id": "c12", "date": "2025-11-12"}]
    table = {r["label"]: r["cells"] for r in prisma_table(counts, SOURCES)["rows"]}
    assert table["Reports sought for retrieval"] == [8, 0, 8]
    assert table["Reports not retrieved"] == [1, 1, 2]
    assert table["Reports assessed for eligibility"] == [7, -1, 6]
    assert table["Reports awaiting a decision (full text)"] == [1, -1, 0]
    assert table["Reports excluded"] == [3, 0, 3]


def test_cli_counts_the_previous_version_with_the_decision_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`livingreview prisma --json` prints what the pipeline writes to counts.json: with --decisions
    (default: the config's screening.decisions) the previous version is counted as it stood."""
    rows, dates = _decided_after_first_run()
    # decisions.tsv as the screening stage read it: one row per record and stage the ledger cites
    # (the fixture's ledger shares lines between records; the CLI settles each stage with the rows
    # themselves, so they must name the records whose paths cite them)
    codes = {"Not PTSD": "not_ptsd", "Open-label trial": "open_label", "Protocol without results": "protocol_only",
             "Not retrieved": "not_retrieved", "Trial registration record": "registry_record"}
    lines, line_of, new_dates = [], {}, {}
    for r in rows:
        if r["reference"].startswith("decisions.tsv:") and r["stage"] != "retrieval" or r["outcome"] == "not_retrieved":
            stage = "title_abstract" if r["stage"] == "title_abstract" else "full_text"
            line_of[(r["record_id"], stage)] = ref = f"decisions.tsv:{len(lines) + 2}"
            new_dates[ref] = dates[r["reference"]]
            decision = "include" if r["outcome"] == "included" else "exclude"
            lines.append(f"{r['record_id']}\t{stage}\t{decision}\t{codes.get(r['reason'], '')}\tR1\t{new_dates[ref]}\t\n")
    rows = [dict(r, reference=line_of[(r["record_id"], "title_abstract" if r["stage"] == "title_abstract" else "full_text")])
            if r["reference"].startswith("decisions.tsv:") else r for r in rows]
    dates = new_dates
    monkeypatch.chdir(tmp_path)  # the ledger cites decisions.tsv:LINE, the path the screening stage read
    _write_ledger(tmp_path / "ledger.tsv", rows)
    header = "key\tstage\tdecision\treason\treviewer\tdate\tnote\n"
    (tmp_path / "decisions.tsv").write_text(header + "".join(lines), encoding="utf-8")
    rules = str(Path(__file__).resolve().parents[1] / "config/screening.yaml")
    expected = compute_counts(rows, sources=[], decision_dates=dates)  # no config: labels are the database names
    assert cli_main(["prisma", "ledger.tsv", "--config", "none.yaml", "--decisions", "decisions.tsv", "--rules", rules, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["previous"]["decided_before"] == RUN2
    assert printed["previous_studies"] == expected["previous_studies"] == 2
    assert printed == json.loads(json.dumps(expected))
    # the same path given absolute is the same file (decisions.Decision.reference is review-relative)
    assert cli_main(["prisma", "ledger.tsv", "--config", "none.yaml", "--decisions", str(tmp_path / "decisions.tsv"), "--rules", rules, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == printed
    # a decisions file the ledger does not cite: its dates would leave every later decision in the previous version
    (tmp_path / "other.tsv").write_text((tmp_path / "decisions.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    assert cli_main(["prisma", "ledger.tsv", "--config", "none.yaml", "--decisions", "other.tsv", "--rules", rules]) == 1
    err = capsys.readouterr().err
    assert re.search(r"cites a decision \(decisions.tsv:\d+\)", err) and "ledger.tsv:" in err and "--decisions" in err


def test_same_day_update_keeps_the_decisions_of_that_day_in_the_previous_version() -> None:
    """A second search on the same day (run id -2): the decisions dated that day on the first run's
    records cannot be dated after it, and the team screens a run's records after its search, so they
    stay the previous version's (before, all of them moved: the previous version had 0 studies where
    its build had said 2, and every record of it waited). A decision dated the next day moves."""
    rows = first_run_ledger()
    rows += record("pubmed:20", f"{RUN1}-2", "c20", path=INCLUDED, study="StudyC")
    dates = {f"decisions.tsv:{n}": RUN1 for n in range(2, 11)}
    first = compute_counts(first_run_ledger(), sources=SOURCES)
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    assert counts["previous"]["decided_before"] == "2025-10-01" and counts["previous"]["decided_since"] == []
    assert (counts["previous_studies"], counts["new_studies"]) == (first["total_studies"], 1) == (2, 1)
    assert counts["previous"]["flow"]["records_awaiting"] == first["records_awaiting"] == 1
    later = compute_counts(rows, sources=SOURCES, decision_dates={**dates, "decisions.tsv:4": "2025-10-01"})
    assert [d["record_id"] for d in later["previous"]["decided_since"]] == ["pubmed:5"]
