"""`livingreview validate`: the shipped config and tables pass; a broken config is one line naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import copy_project_inputs, run_snakemake
from livingreview.cli import main
from livingreview.config import load_config
from livingreview.errors import ConfigError
from livingreview.validate import validate_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_and_tables_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    work = copy_project_inputs(tmp_path)  # the default review as shipped (conftest)
    monkeypatch.chdir(work)
    summary = validate_inputs(load_config("config/config.yaml"))
    assert main(["validate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "config/config.yaml: valid"
    assert out[1:] == [f"  {what}: {n}" for what, n in summary.items()]
    assert summary["studies"] == sum(1 for line in (work / "resources/extraction/studies.tsv").read_text(encoding="utf-8").splitlines()[1:] if line.strip())


@pytest.mark.parametrize(("text", "message"), [("- a list\n", "must be a mapping of keys"), ("key: [unclosed\n", r"bad\.yaml:2: YAML syntax error")])
def test_broken_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    assert main(["validate", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert re.search(message, err[0]), err[0]


def _break_manifest(work: Path, how: str) -> str:
    """Break the default review's run manifest in ``work``; returns its path relative to ``work``."""
    rel = "resources/searches/2025-09-30/manifest.json"
    path = work / rel
    if how == "count_in_file":
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"][1]["count_in_file"] = "many"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    else:
        path.write_text(path.read_text(encoding="utf-8").replace('"files": [', '"files": [,', 1), encoding="utf-8")
    return rel


MANIFEST_ERRORS = {
    "count_in_file": r": field 'files\[1\]\.count_in_file' \(embase\.ris\) must be a whole number >= 0, not \"many\"; fix: restore manifest\.json from git",
    "broken_json": r":\d+: not valid JSON \(.*\); fix: restore the file from git",
}


@pytest.mark.parametrize("how", sorted(MANIFEST_ERRORS))
def test_a_bad_manifest_is_one_line_at_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    assert "  search runs: 1" in capsys.readouterr().out.splitlines()
    rel = _break_manifest(tmp_path, how)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1, err
    assert re.match(rf"livingreview: error: {re.escape(rel)}{MANIFEST_ERRORS[how]}", err[0]), err[0]


@pytest.mark.parametrize("how", sorted(MANIFEST_ERRORS))
def test_a_bad_manifest_is_one_line_at_snakemake_start(tmp_path: Path, how: str) -> None:
    copy_project_inputs(tmp_path)
    rel = _break_manifest(tmp_path, how)
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Error in file" not in proc.stderr, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert len(err) == 1, proc.stderr
    assert re.match(rf"livingreview: error: {re.escape(rel)}{MANIFEST_ERRORS[how]}", err[0]), err[0]


def test_a_copied_run_folder_is_one_line_at_validate_and_snakemake_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run folder copied beside itself ("2025-09-30 copy") passed `validate` and stopped the workflow
    in an import job; with braces in its name ("{copy}") Snakemake stopped with a WildcardError."""
    import shutil

    copy_project_inputs(tmp_path)
    runs = tmp_path / "resources/searches"
    shutil.copytree(runs / "2025-09-30", runs / "2025-09-30 copy")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")] == [
        "livingreview: error: resources/searches/2025-09-30 copy/manifest.json: manifest run_id '2025-09-30' differs from the folder "
        "name '2025-09-30 copy'; fix: run folders are named by their run_id: restore the folder's name from git, or delete the folder "
        "if it is a copy of run 2025-09-30"
    ]
    (runs / "2025-09-30 copy").rename(runs / "2025-09-30 {copy}")
    proc = run_snakemake(tmp_path, "-n", check=False)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert proc.returncode == 1 and len(err) == 1, proc.stderr
    assert err[0].startswith("livingreview: error: resources/searches/2025-09-30 {copy}/manifest.json: manifest run_id '2025-09-30' differs")


@pytest.mark.parametrize("name", ["latest", "2025-10-31 <img src=x onerror=alert(1)>", "2025-10-31-1"])
def test_a_run_folder_not_named_by_a_run_id_is_one_line_at_validate_snakemake_start_and_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A run folder renamed together with its manifest's run_id ("latest", a name holding HTML) was
    accepted: it sorted by its text rather than a date, and its name went as it stands into record ids,
    result paths and report.md, where "<img src=x onerror=...>" was raw HTML."""
    import shutil

    copy_project_inputs(tmp_path)
    runs = tmp_path / "resources/searches"
    shutil.copytree(runs / "2025-09-30", runs / name)
    shutil.rmtree(runs / "2025-09-30")
    manifest = runs / name / "manifest.json"
    manifest.write_text(json.dumps(dict(json.loads(manifest.read_text(encoding="utf-8")), run_id=name), indent=2), encoding="utf-8")
    expected = (
        f"livingreview: error: resources/searches/{name}/manifest.json: run folder {name!r} is not named by a run id (YYYY-MM-DD, "
        "or YYYY-MM-DD-N with N >= 2 for a later run the same day): runs are ordered by their id, which is also written into "
        "record ids, result paths and the report; fix: delete the folder and archive its exports again with `livingreview "
        "add-run` (it names the run by the search date), or restore the folder from git"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")] == [expected]
    assert main(["import", "--runs", "resources/searches", "-o", "records.tsv", "--ledger", "identification.tsv"]) == 1
    assert [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")] == [expected]
    assert not (tmp_path / "records.tsv").exists() and not (tmp_path / "identification.tsv").exists()
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1 and [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")] == [expected]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("section", "key", "shipped"),
    [("screening", "rules", "config/screening.yaml"), ("screening", "decisions", "resources/screening/decisions.tsv"), ("extraction", "studies", "resources/extraction/studies.tsv"), ("extraction", "outcomes", "resources/extraction/outcomes.tsv")],
)
def test_a_table_the_config_names_that_is_missing_names_the_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], section: str, key: str, shipped: str
) -> None:
    """Was '<path>: file not found; fix: check the path or re-run the stage that writes it' (a human-edited
    table is written by no stage), or for the rules file a fix about --config; neither named the config line."""
    copy_project_inputs(tmp_path)
    config = tmp_path / "config/config.yaml"
    text = config.read_text(encoding="utf-8")
    assert text.count(f"{key}: {shipped}\n") == 1
    config.write_text(text.replace(f"{key}: {shipped}\n", f"{key}: {shipped}.typo\n"), encoding="utf-8")
    line = next(n for n, ln in enumerate(config.read_text(encoding="utf-8").splitlines(), start=1) if ln.strip() == f"{key}: {shipped}.typo")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    expected = (
        f"livingreview: error: config/config.yaml:{line}: {section}.{key} names {shipped}.typo, which does not exist; "
        f"fix: correct the path under {section}: {key}: (relative to the review folder, where snakemake and livingreview run), or create the file"
    )
    assert err == [expected]


def _config_lines(work: Path) -> list[str]:
    return (work / "config" / "config.yaml").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("old", "new", "bad_line", "what", "close"),
    [
        ("      domain: ptsd_response\n", "      domain: ptsd_respons\n", "      domain: ptsd_respons",
         "analysis 'ptsd_response_rr': domain 'ptsd_respons'", "ptsd_response"),
        ("  direction_domains: [ptsd_severity, ptsd_response, ptsd_response_duration]\n",
         "  direction_domains:\n    - ptsd_severity\n    - ptsd_response\n    - ptsd_response_durations\n", "    - ptsd_response_durations",
         "direction_domains entry 'ptsd_response_durations'", "ptsd_response_duration"),
    ],
)
def test_a_domain_no_outcome_row_has_is_one_line_naming_its_config_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], old: str, new: str, bad_line: str, what: str, close: str
) -> None:
    """Domains are protocol ids (no enum in the schema): a misspelt one selected no outcome (k = 0) without a word."""
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert text.count(old) == 1
    config.write_text(text.replace(old, new), encoding="utf-8")
    line = config.read_text(encoding="utf-8").splitlines().index(bad_line) + 1
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"livingreview: error: config/config.yaml:{line}: {what} is the domain of no row of resources/extraction/outcomes.tsv"), err[0]
    assert f"; fix: did you mean '{close}'? use a domain of outcomes.tsv (" in err[0] and "give it a label under synthesis: domain_labels:" in err[0]


def test_a_domain_no_study_reported_yet_is_declared_by_its_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("      domain: ptsd_response\n", "      domain: adverse_events\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="analysis 'ptsd_response_rr': domain 'adverse_events' is the domain of no row"):
        validate_inputs(load_config("config/config.yaml"))
    config.write_text(config.read_text(encoding="utf-8").replace("    depression: Depression\n", "    depression: Depression\n    adverse_events: Adverse events\n"),
                      encoding="utf-8")
    assert validate_inputs(load_config("config/config.yaml"))["outcome rows"] > 0


# ---- the effects stage's refusals that the extraction tables alone decide -------------------------

OUTCOMES = "resources/extraction/outcomes.tsv"


def _add_outcome_row(work: Path, template: str, **cells: str) -> int:
    """Append to the copied outcomes.tsv a SYNTHETIC row (made up for the test) copied from row
    ``template`` with ``cells`` changed; returns its line number."""
    path = work / OUTCOMES
    text = path.read_text(encoding="utf-8")
    header = text.splitlines()[0].split("\t")
    from livingreview.tables import read_tsv

    row = next(r for r in read_tsv(path) if r["outcome_id"] == template)
    extra = {**{k: row[k] for k in header}, "location": "synthetic test row", **cells}
    path.write_text(text + "\t".join(extra[k] for k in header) + "\n", encoding="utf-8")
    return len(text.splitlines()) + 1


# A second primary-endpoint md_se row of Feder2021 at week 2 giving another MD (ties with Feder2021#1);
# a Feder2014 responder count where lower is better, pooled in one RR with Feder2021#5 (higher is better).
LATE_REFUSALS = {
    "tie": ("Feder2021#1", {"outcome_id": "Feder2021#99", "estimate": "-5", "value_text": "-5", "se": "3"},
            r"resources/extraction/outcomes.tsv:\d+ and resources/extraction/outcomes.tsv:{new}: analysis ptsd_severity_md: Feder2021 has two "
            r"primary-endpoint md_se rows in the window"),
    "mixed_directions": ("Feder2021#5", {"outcome_id": "Feder2014#99", "study_id": "Feder2014", "report_key": "24740528", "lower_is_better": "true",
                                         "timepoint_days": "1"},
                         r"resources/extraction/outcomes.tsv:{new} and resources/extraction/outcomes.tsv:\d+: analysis ptsd_response_rr \(RR\) would pool "
                         r"Feder2014#99 \(lower_is_better true\) with Feder2021#5 \(lower_is_better false\)"),
    # an SE of 0 (the schema takes any non-negative number): named 'Feder2021#99 (outcomes.tsv:N)', without the file's path
    "zero_se": ("Feder2021#1", {"outcome_id": "Feder2021#99", "primary_endpoint": "false", "se": "0"},
                r"resources/extraction/outcomes.tsv:{new}: Feder2021#99: md_se gives a sampling variance of 0\.0 for the MD, not a positive "
                r"number; fix: check the SE, CI or SDs of that row"),
}


def _effects_stage_error(work: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the effects stage says of the tables in ``work`` (every study included, as in the shipped review)."""
    from livingreview.effects import run_compute_effects
    from livingreview.errors import LivingReviewError

    monkeypatch.chdir(work)
    with pytest.raises(LivingReviewError) as err:
        run_compute_effects(outcomes_path=OUTCOMES, studies_path="resources/extraction/studies.tsv", included_path=None,
                            synthesis=load_config("config/config.yaml")["synthesis"], effects_out=work / "effects.tsv", direction_out=work / "direction.tsv")
    assert not (work / "effects.tsv").exists()
    return str(err.value)


@pytest.mark.parametrize("case", sorted(LATE_REFUSALS))
def test_the_effects_stage_refusals_the_tables_decide_are_one_line_at_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """Were refused only by the effects stage, after import, dedup and screening had run."""
    template, cells, pattern = LATE_REFUSALS[case]
    copy_project_inputs(tmp_path)
    new = _add_outcome_row(tmp_path, template, **cells)
    stage = _effects_stage_error(tmp_path, monkeypatch)
    assert re.match(pattern.format(new=new), stage), stage
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert err == [f"livingreview: error: {stage}"]


def test_a_tie_is_one_line_at_snakemake_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template, cells, _ = LATE_REFUSALS["tie"]
    copy_project_inputs(tmp_path)
    _add_outcome_row(tmp_path, template, **cells)
    stage = _effects_stage_error(tmp_path, monkeypatch)
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert err == [f"livingreview: error: {stage}"], proc.stderr


def test_a_tie_giving_the_same_numbers_passes_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same contrast restated (the effects stage uses the earlier line and says so): not refused."""
    copy_project_inputs(tmp_path)
    _add_outcome_row(tmp_path, "Feder2021#1", outcome_id="Feder2021#99")
    monkeypatch.chdir(tmp_path)
    assert validate_inputs(load_config("config/config.yaml"))["outcome rows"] == len(
        (tmp_path / OUTCOMES).read_text(encoding="utf-8").splitlines()) - 1


def test_two_primary_analyses_are_one_line_at_validate_naming_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was refused only by the effects stage ('config/config.yaml synthesis.analyses', no line), after dedup and screening ran."""
    copy_project_inputs(tmp_path)
    config = tmp_path / "config" / "config.yaml"
    lines = _config_lines(tmp_path)
    second = lines.index("    - id: ptsd_severity_smd")
    flag = next(i for i in range(second, len(lines)) if lines[i] == "      primary: false")
    lines[flag] = "      primary: true"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert err == [f"livingreview: error: config/config.yaml:{flag + 1}: 2 analyses are marked primary (ptsd_severity_md, ptsd_severity_smd); "
                   "fix: set primary: true on one analysis only"]


@pytest.mark.parametrize("table", ["screening", "dedup"])
def test_a_decision_dated_in_the_future_is_one_line_at_validate_and_snakemake_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    """A decision's date says which version of the review it counts in, so a mistyped year (2062 for
    2026) was accepted and would have counted in a later update's column. Dates are built from today's
    date (UTC): two days ahead is after today in every time zone; today itself is accepted."""
    import datetime as dt

    copy_project_inputs(tmp_path)
    today = dt.datetime.now(dt.UTC).date()
    path = tmp_path / f"resources/{table}/decisions.tsv"
    shipped = path.read_text(encoding="utf-8")
    line = len(shipped.splitlines()) + 1

    def add(date: dt.date) -> None:
        row = (["pubmed:38559428", "embase:2025-09-30#1", "keep_apart", "R1", date.isoformat(), ""] if table == "dedup"
               else ["38559428", "title_abstract", "exclude", "publication_type", "R9", date.isoformat(), ""])
        path.write_text(shipped + "\t".join(row) + "\n", encoding="utf-8")

    monkeypatch.chdir(tmp_path)
    add(today)
    assert main(["validate"]) == 0
    capsys.readouterr()
    later = today + dt.timedelta(days=2)
    add(later)
    assert main(["validate"]) == 1
    expected = (f"livingreview: error: resources/{table}/decisions.tsv:{line}: date {later} is in the future (today is ")
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(expected) and err[0].endswith("fix: write the date the decision was made, YYYY-MM-DD (check the year)"), err
    proc = run_snakemake(tmp_path, "-n", check=False)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert proc.returncode == 1 and len(err) == 1 and err[0].startswith(expected), proc.stderr
    assert not (tmp_path / "results").exists()
