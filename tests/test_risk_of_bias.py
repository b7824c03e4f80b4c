"""The optional RoB 2 table: schema-checked before any job runs (one line naming file:line), and used by the report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import copy_project_inputs, run_snakemake, shipped_project, shipped_resources
from livingreview.cli import main
from livingreview.errors import InputFormatError
from livingreview.report import load_risk_of_bias, risk_of_bias
from livingreview.tables import read_tsv

HEADER = "study_id\tD1\tD2\tD3\tD4\tD5\toverall\n"
STUDY_IDS = [r["study_id"] for r in read_tsv(shipped_resources() / "extraction/studies.tsv")]
GOOD = HEADER + f"{STUDY_IDS[0]}\tLow\tSome concerns\tLow\tlow\tHigh\tHigh\n" + f"{STUDY_IDS[1]}\tLow\t\tLow\tLow\tLow\tSome concerns\n"
ROB = "resources/extraction/risk_of_bias.tsv"


def test_the_default_review_has_no_risk_of_bias_table() -> None:
    assert not (shipped_project() / ROB).exists()


def test_a_good_table_loads_with_any_letter_case_and_empty_for_not_assessed(tmp_path: Path) -> None:
    path = tmp_path / "risk_of_bias.tsv"
    path.write_text(GOOD, encoding="utf-8")
    rows = load_risk_of_bias(path, set(STUDY_IDS))
    assert [r["study_id"] for r in rows] == STUDY_IDS[:2]
    colours = [[j["colour"] for j in row["judgements"]] for row in risk_of_bias(path)["rows"]]
    by_study = dict(zip(sorted(STUDY_IDS[:2]), colours))
    assert by_study[STUDY_IDS[0]] == ["#4caf50", "#ffc107", "#4caf50", "#4caf50", "#e53935", "#e53935"]
    assert by_study[STUDY_IDS[1]][1] == "#9e9e9e"  # empty = not assessed: grey


def test_spaces_around_a_judgement_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "risk_of_bias.tsv"
    path.write_text(HEADER + f"{STUDY_IDS[0]}\tLow \t some concerns\tHigh\tLow\tLow\tLow\n", encoding="utf-8")
    assert len(load_risk_of_bias(path, set(STUDY_IDS))) == 1
    assert [j["colour"] for j in risk_of_bias(path)["rows"][0]["judgements"]][:3] == ["#4caf50", "#ffc107", "#e53935"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER.replace("overall", "Overall") + "Feder2021\tLow\tLow\tLow\tLow\tLow\tLow\n", r"risk_of_bias\.tsv:1: missing column\(s\) overall"),
        (HEADER + "Feder2021\tLow\tLow\tLwo\tLow\tLow\tLow\n", r"risk_of_bias\.tsv:2: column 'D3': 'Lwo' is not in the form this takes: RoB 2 judgement: Low, Some concerns or High .*; fix: write the value in that form \(see workflow/schemas/risk_of_bias\.schema\.yaml\)"),
        (HEADER + "Feder2021\tLow\tLow\tLow\tLow\tLow\tUnclear\n", r"risk_of_bias\.tsv:2: column 'overall': 'Unclear'"),
        (HEADER + "Feder 2021\tLow\tLow\tLow\tLow\tLow\tLow\n", r"risk_of_bias\.tsv:2: column 'study_id'"),
        (HEADER + "Feder2021\tLow\tLow\tLow\tLow\tLow\tLow\n" * 2, r"risk_of_bias\.tsv:3: duplicate study_id 'Feder2021' \(first at line 2\)"),
        (HEADER + "Nobody2030\tLow\tLow\tLow\tLow\tLow\tLow\n", r"risk_of_bias\.tsv:2: study_id 'Nobody2030' is not a row of studies\.tsv"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "risk_of_bias.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFormatError, match=message):
        load_risk_of_bias(path, set(STUDY_IDS))


BAD = HEADER + f"{STUDY_IDS[0]}\tLow\tLow\tLow\tLow\tLow\tLow\n" + f"{STUDY_IDS[1]}\tLow\tLwo\tLow\tLow\tLow\tLow\n"


def test_validate_reports_a_bad_table_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ROB).write_text(GOOD, encoding="utf-8")
    assert main(["validate"]) == 0
    assert "  risk-of-bias rows: 2" in capsys.readouterr().out.splitlines()
    (tmp_path / ROB).write_text(BAD, encoding="utf-8")
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"livingreview: error: {ROB}:3: column 'D2': 'Lwo'"), err[0]


def test_snakemake_stops_before_any_job_on_a_bad_table(tmp_path: Path) -> None:
    copy_project_inputs(tmp_path)
    (tmp_path / ROB).write_text(BAD, encoding="utf-8")
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert errors == [next(ln for ln in errors if ln.startswith(f"livingreview: error: {ROB}:3: column 'D2'"))], proc.stderr
    assert "Traceback" not in proc.stderr


def test_adding_a_good_table_reruns_only_the_report_which_shows_it(default_review: Path, tmp_path: Path) -> None:
    work = tmp_path / "review"
    shutil.copytree(default_review, work, symlinks=True)
    md = (work / "results/report/report.md").read_text(encoding="utf-8")
    assert "No risk-of-bias assessment is available" in md
    (work / ROB).write_text(GOOD, encoding="utf-8")
    dry = run_snakemake(work, "-n")
    jobs = re.search(r"Job stats:\n(.*?)\n\n", dry.stdout + dry.stderr, re.DOTALL)
    assert jobs and sorted(re.findall(r"^(\w+)\s+\d+$", jobs.group(1), re.MULTILINE)) == ["default", "render_report", "total"], dry.stdout + dry.stderr
    run_snakemake(work)
    md = (work / "results/report/report.md").read_text(encoding="utf-8")
    assert "No risk-of-bias assessment is available" not in md
    assert f"| {STUDY_IDS[0]} | Low | Some concerns | Low | low | High | High |" in md
    html = (work / "results/report/index.html").read_text(encoding="utf-8")
    assert f"<tr><td>{STUDY_IDS[1]}</td>" in html and "No risk-of-bias assessment" not in html
    assert f"{ROB}" in re.search(r'<section id="provenance">.*?</section>', html, re.DOTALL).group(0)  # hashed as an input
