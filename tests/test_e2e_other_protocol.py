"""End to end: a SECOND, entirely synthetic review runs through the pipeline with no code change.

The mission: "a new protocol is a new config/ plus resources/, never a code change". This test
builds, in a temp dir, a small review of a different question (supervised exercise versus usual
care for depressive symptoms in adults) with its own config/config.yaml, config/screening.yaml
(its own reason codes), one archived search run (PubMed XML + an OVID Embase RIS written with
livingreview.writers and runs.write_run), human screening decisions and extraction tables. Every
record is SYNTHETIC TEST DATA: PMIDs above 900,000,000, DOIs under the Crossref test prefix
10.5555, titles starting "Synthetic test record". Nothing is copied from the shipped review's
resources/.

It runs `livingreview validate` and Snakemake and checks the included studies, the PRISMA counts
(computed here from the synthetic inputs), the pooled estimates (recomputed here with numpy:
inverse-variance weights, DerSimonian-Laird tau²), "Favours exercise" on the forest plots and in the
report, and that nothing under results/ names the shipped review's topic (ketamine, PTSD).
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_snakemake
from livingreview.records import Record
from livingreview.report import reporting_bias_in_words
from livingreview.runs import Manifest, RunFile, write_run
from livingreview.tables import read_tsv
from livingreview.writers import ovid_ris, pubmed_xml
from markupsafe import escape as html_escape

pytestmark = pytest.mark.e2e

RUN_ID = "2025-06-30"
JOURNAL = "Journal of Synthetic Test Data"
TITLE = "Synthetic test record: "


# ---- the synthetic records -------------------------------------------------------------------


@dataclass
class Rec:
    """One synthetic work, where it was found and what happens to it."""

    key: str  # short name used in this test
    title: str
    abstract: str
    authors: tuple[str, ...]
    year: str
    pubtypes: tuple[str, ...] = ("Journal Article",)
    pubmed: bool = True  # has a PubMed record (PMID)
    embase: bool = False  # has an Embase record (a duplicate when pubmed is also true)
    fate: str = ""  # rule:<rule id> | ta:<reason> | ft:<reason> | included
    pmid: str = ""
    doi: str = ""
    extra: dict[str, str] = field(default_factory=dict)


RECORDS: list[Rec] = [
    # Three included trials, four reports (Alpha has a main report and a follow-up report).
    Rec("alpha_main", TITLE + "supervised aerobic exercise versus usual care for adults with major depression: a randomised controlled trial",
        "Background: depressive symptoms are common. Methods: 120 adults with major depressive disorder were randomised to supervised aerobic exercise three sessions per week for 12 weeks or usual care. Results: depression severity fell more with exercise.",
        ("Testauthor Alpha", "Testauthor Beta"), "2021", ("Journal Article", "Randomized Controlled Trial"), embase=True, fate="included"),
    Rec("alpha_followup", TITLE + "one-year follow-up of a supervised aerobic training trial in depressed adults",
        "Methods: follow-up of participants randomised to supervised exercise or usual care. Results: depressive symptoms at one year are described.",
        ("Testauthor Alpha", "Testauthor Gamma"), "2022", ("Journal Article", "Randomized Controlled Trial"), fate="included"),
    Rec("beta", TITLE + "group resistance training for depressive symptoms in primary care patients: randomized trial",
        "Methods: 80 primary care patients with depression were randomized to group resistance exercise twice weekly or usual care for 10 weeks. Results: PHQ-9 scores and response are reported.",
        ("Testauthor Delta", "Testauthor Epsilon"), "2022", ("Journal Article", "Randomized Controlled Trial"), embase=True, fate="included"),
    Rec("gamma", TITLE + "walking programme supervised by physiotherapists for late-life depression, a pragmatic randomised trial",
        "Methods: 60 older adults with depression were randomly assigned to a supervised walking exercise programme three times per week or usual care. Results: depression outcomes at 12 weeks.",
        ("Testauthor Zeta",), "2023", ("Journal Article", "Randomized Controlled Trial"), fate="included"),
    # Excluded by the rules.
    Rec("review", TITLE + "exercise interventions for depression: a systematic review and meta-analysis",
        "We pooled randomized trials of exercise for depression in adults.",
        ("Testauthor Eta",), "2020", ("Journal Article", "Review", "Systematic Review"), embase=True, fate="rule:review_publication_type"),
    Rec("drug", TITLE + "sertraline versus placebo for moderate depression in adults: a randomized trial",
        "Methods: adults with depression were randomized to sertraline or placebo for 8 weeks. Results: depressive symptoms improved with the drug.",
        ("Testauthor Theta",), "2021", ("Journal Article", "Randomized Controlled Trial"), fate="rule:not_exercise"),
    Rec("knee", TITLE + "supervised exercise therapy for knee osteoarthritis pain: a randomized trial",
        "Methods: adults with knee osteoarthritis were randomized to supervised exercise therapy or usual care. Results: pain and function improved.",
        ("Testauthor Iota",), "2022", ("Journal Article", "Randomized Controlled Trial"), fate="rule:not_depression"),
    Rec("cardiac", TITLE + "cardiac rehabilitation exercise and blood pressure after myocardial infarction",
        "Methods: patients after myocardial infarction took part in a supervised exercise programme. Results: blood pressure fell.",
        ("Testauthor Kappa",), "2019", pubmed=False, embase=True, fate="rule:not_depression"),
    # Excluded by people at title/abstract.
    Rec("teens", TITLE + "physical activity and depressive symptoms in adolescents: a school survey",
        "Methods: school pupils aged 12 to 16 reported physical activity and depressive symptoms in a survey. Results: more exercise went with fewer symptoms.",
        ("Testauthor Lambda",), "2021", fate="ta:wrong_population"),
    Rec("yoga_protocol", TITLE + "protocol of a trial of yoga-based exercise for depression in adults",
        "This protocol describes a planned randomised trial of yoga exercise for adults with depression; no results are reported.",
        ("Testauthor Mu",), "2024", pubmed=False, embase=True, fate="ta:other"),
    # Excluded by people at full text (one not retrieved).
    Rec("nonrandom", TITLE + "exercise classes for depressed outpatients: a controlled study",
        "Methods: outpatients with depression attended exercise classes or continued usual care. Results: depression scores improved.",
        ("Testauthor Nu",), "2020", fate="ft:not_randomized"),
    Rec("lost", TITLE + "aquatic exercise for depression in adults: a randomized pilot",
        "Methods: adults with depression were randomized to aquatic exercise or usual care. Results: feasibility and depressive symptoms.",
        ("Testauthor Xi",), "2018", ("Journal Article", "Randomized Controlled Trial"), fate="ft:not_retrieved"),
]
for _i, _r in enumerate(RECORDS, start=1):
    _r.pmid = str(900_000_000 + 7300 + _i) if _r.pubmed else ""
    _r.doi = f"10.5555/lr-exercise-{_i:03d}"
BY_KEY = {r.key: r for r in RECORDS}


def _record(rec: Rec, database: str) -> Record:
    pmid = rec.pmid if database == "pubmed" else ""
    return Record(
        record_id=f"pubmed:{pmid}" if pmid else "",
        database=database,
        native_id=pmid,
        pmid=pmid,
        doi=rec.doi,
        title=rec.title,
        abstract=rec.abstract,
        authors=rec.authors,
        journal=JOURNAL,
        journal_abbrev="J Synth Test Data",
        year=rec.year,
        volume="1",
        issue="1",
        pages=f"{10 * RECORDS.index(rec) + 1}-{10 * RECORDS.index(rec) + 9}",
        publication_types=rec.pubtypes,
        language="eng",
    )


PUBMED = [r for r in RECORDS if r.pubmed]
EMBASE = [r for r in RECORDS if r.embase]

# ---- config ----------------------------------------------------------------------------------

PUBMED_STRATEGY = '("Exercise"[Mesh] OR exercise[tiab] OR physical activity[tiab]) AND ("Depression"[Mesh] OR depress*[tiab])'
EMBASE_STRATEGY = "1. exp exercise/\n2. (exercise or physical activity or training).ti,ab,kw.\n3. 1 or 2\n4. exp depression/\n5. depress*.ti,ab,kw.\n6. 4 or 5\n7. 3 and 6"


def _config() -> dict:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
    config["review"] = {
        "id": "exercise-depression",
        "title": "Supervised exercise versus usual care for depressive symptoms in adults: a synthetic test review",
        "question": "In adults with depressive symptoms, does supervised exercise, compared with usual care, reduce depression severity?",
        "eligibility": {
            "population": "Adults with depressive symptoms or a depressive disorder.",
            "intervention": "Supervised exercise of any type.",
            "comparator": "Usual care.",
            "outcomes": "Depression severity; response.",
            "design": "Randomized controlled trials.",
        },
    }
    config["searches"].update(
        date_from="inception",
        date_to="2025/06/30",
        reconstructed=False,
        sources=[
            {"database": "pubmed", "kind": "database", "platform": "PubMed (NCBI E-utilities)", "live": True, "strategy": PUBMED_STRATEGY},
            {"database": "embase", "kind": "database", "platform": "Ovid Embase", "live": False, "strategy": EMBASE_STRATEGY},
        ],
    )
    config["extraction"] = {"studies": "resources/extraction/studies.tsv", "outcomes": "resources/extraction/outcomes.tsv"}
    config["synthesis"] = {
        "min_k": 2,
        "funnel_min_k": 3,
        "egger_min_k": 10,
        "direction_domains": ["depression_severity", "response"],
        "domain_labels": {"depression_severity": "Depression severity", "response": "Response"},
        "intervention_label": "exercise",
        "dose_unit": "sessions/week",
        "analyses": [
            {"id": "depression_md", "title": "Depression severity at 12 weeks (PHQ-9, mean difference)", "primary": True,
             "domain": "depression_severity", "timepoint_days": {"min": 56, "max": 120}, "measure": "MD", "method": "DL", "hksj": False,
             "subgroups": ["dose"]},
            {"id": "response_rr", "title": "Response at 12 weeks (risk ratio)", "primary": False,
             "domain": "response", "timepoint_days": {"min": 56, "max": 120}, "measure": "RR", "method": "DL", "hksj": False},
        ],
    }
    config["report"] = {"published_participants": None, "participants_explanation": ""}
    return config


SCREENING = {
    "version": 1,
    "reasons": {
        "publication_type": "Not primary research (review, editorial, letter)",
        "not_exercise": "Intervention is not exercise",
        "not_depression": "Population without depression",
        "not_randomized": "Not randomized",
        "wrong_population": "Not adults",
        "not_retrieved": "Report not retrieved",
        "other": "Other reason",
    },
    "concepts": {
        "exercise": {"description": "Exercise or physical training.", "patterns": ["exercis\\w*", "training", "walking", "physical\\s+activity"]},
        "depression": {"description": "Depression in any wording.", "patterns": ["depress\\w*"]},
    },
    "rules": [
        {"id": "review_publication_type", "label": "Review (publication type)", "reason": "publication_type",
         "description": "Publication type says review and not a trial.", "fields": ["publication_types"],
         "condition": {"all_of": [{"publication_type": {"in": ["Review", "Systematic Review", "Meta-Analysis"]}},
                                  {"none_of": [{"publication_type": {"in": ["Randomized Controlled Trial"]}}]}]}},
        {"id": "not_exercise", "label": "No exercise anywhere in the record", "reason": "not_exercise",
         "description": "Absence rule: needs an abstract in English.", "fields": ["title", "abstract", "keywords", "mesh", "language"],
         "condition": {"all_of": [{"present": ["abstract"]}, {"language": {"in": ["", "eng", "en", "english"]}},
                                  {"lacks": {"fields": ["title", "abstract", "keywords", "mesh"], "concept": "exercise"}}]}},
        {"id": "not_depression", "label": "No depression anywhere in the record", "reason": "not_depression",
         "description": "Absence rule: needs an abstract in English.", "fields": ["title", "abstract", "keywords", "mesh", "language"],
         "condition": {"all_of": [{"present": ["abstract"]}, {"language": {"in": ["", "eng", "en", "english"]}},
                                  {"lacks": {"fields": ["title", "abstract", "keywords", "mesh"], "concept": "depression"}}]}},
    ],
}

# ---- extraction ------------------------------------------------------------------------------

STUDIES = [
    # study_id, reports, year, n_randomized, n_per_arm, dose (sessions/week), weeks
    ("Alpha2021", [BY_KEY["alpha_main"], BY_KEY["alpha_followup"]], "2021", 120, "exercise: 60; usual care: 60", "3", 12),
    ("Beta2022", [BY_KEY["beta"]], "2022", 80, "exercise: 40; usual care: 40", "2", 10),
    ("Gamma2023", [BY_KEY["gamma"]], "2023", 60, "exercise: 30; usual care: 30", "3", 12),
]
# PHQ-9 at the end of treatment: n, mean, sd per arm (intervention, control), days.
SEVERITY = {
    "Alpha2021": (55, 7.1, 4.2, 56, 10.9, 4.6, 84),
    "Beta2022": (38, 11.0, 5.1, 37, 10.2, 4.9, 70),
    "Gamma2023": (28, 7.4, 3.9, 27, 9.8, 4.4, 84),
}
# Response (>= 50% PHQ-9 reduction): events/n per arm, days.
RESPONSE = {
    "Alpha2021": (30, 55, 12, 56, 84),
    "Beta2022": (11, 38, 13, 37, 70),
    "Gamma2023": (15, 28, 7, 27, 84),
}

OUTCOME_COLUMNS = ["outcome_id", "study_id", "report_key", "domain", "scale", "timepoint", "timepoint_days", "primary_endpoint", "statistic_kind",
                   "statistic", "value_text", "estimate", "ci_low", "ci_high", "se", "p", "t", "n_intervention", "n_control", "mean_intervention",
                   "sd_intervention", "mean_control", "sd_control", "events_intervention", "events_control", "direction", "lower_is_better",
                   "favours", "significant", "inferred", "note", "sources", "location"]
# No infusions / infusion_schedule: those columns are the ketamine review's, and optional.
STUDY_COLUMNS = ["study_id", "reports", "primary_report", "year", "design", "crossover", "population", "n_randomized", "n_per_arm", "dose",
                 "comparator", "comparator_type", "co_intervention", "registration", "inferred_fields", "notes", "source"]


def _tsv(path: Path, columns: list[str], rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _studies_rows() -> list[dict[str, object]]:
    rows = []
    for study_id, reports, year, n, per_arm, dose, weeks in STUDIES:
        rows.append({
            "study_id": study_id, "reports": "; ".join(r.pmid for r in reports), "primary_report": reports[0].pmid, "year": year,
            "design": "parallel-group randomized trial, assessor-blinded", "crossover": "false",
            "population": "synthetic adults with depressive symptoms", "n_randomized": n, "n_per_arm": per_arm, "dose": dose,
            "infusions": "repeated", "infusion_schedule": f"{dose} supervised sessions per week for {weeks} weeks",
            "comparator": "usual care", "comparator_type": "inactive", "co_intervention": "", "registration": "",
            "inferred_fields": "", "notes": "SYNTHETIC test study", "source": "synthetic (tests/test_e2e_other_protocol.py)",
        })
    return rows


def _outcome_rows() -> list[dict[str, object]]:
    rows = []
    for study_id, reports, *_ in STUDIES:
        n1, m1, s1, n2, m2, s2, days = SEVERITY[study_id]
        a, an, c, cn, rdays = RESPONSE[study_id]
        common = {"study_id": study_id, "report_key": reports[0].pmid, "inferred": "false", "sources": "synthetic", "note": "SYNTHETIC number"}
        rows.append({**common, "outcome_id": f"{study_id}#1", "domain": "depression_severity", "scale": "PHQ-9", "timepoint": f"day {days}",
                     "timepoint_days": days, "primary_endpoint": "true", "statistic_kind": "mean_sd", "statistic": "mean (SD) per arm",
                     "value_text": f"{m1} ({s1}) vs {m2} ({s2})", "n_intervention": n1, "n_control": n2, "mean_intervention": m1,
                     "sd_intervention": s1, "mean_control": m2, "sd_control": s2, "direction": "intervention_minus_control",
                     "lower_is_better": "true", "favours": "intervention" if m1 < m2 else "control", "significant": "", "location": f"synthetic {study_id} severity"})
        rows.append({**common, "outcome_id": f"{study_id}#2", "domain": "response", "scale": "PHQ-9 response (>= 50% reduction)",
                     "timepoint": f"day {rdays}", "timepoint_days": rdays, "primary_endpoint": "false", "statistic_kind": "counts",
                     "statistic": "responders / n per arm", "value_text": f"{a}/{an} vs {c}/{cn}", "n_intervention": an, "n_control": cn,
                     "events_intervention": a, "events_control": c, "direction": "intervention_minus_control", "lower_is_better": "false",
                     "favours": "intervention" if a / an > c / cn else "control", "significant": "", "location": f"synthetic {study_id} response"})
    return rows


def _decision_rows() -> list[dict[str, object]]:
    rows = []

    def key(rec: Rec) -> str:
        return rec.pmid or rec.doi

    for rec in RECORDS:
        stage, _, reason = rec.fate.partition(":")
        if stage == "rule":
            continue
        base = {"key": key(rec), "reviewer": "synthetic reviewer", "date": "2025-07-01", "note": "synthetic test decision"}
        if stage == "ta":
            rows.append({**base, "stage": "title_abstract", "decision": "exclude", "reason": reason})
            continue
        rows.append({**base, "stage": "title_abstract", "decision": "include", "reason": ""})
        if stage == "ft":
            rows.append({**base, "stage": "full_text", "decision": "exclude", "reason": reason})
        else:
            rows.append({**base, "stage": "full_text", "decision": "include", "reason": ""})
    return rows


def build_project(dest: Path) -> Path:
    """config/ and resources/ of the synthetic exercise review in ``dest``."""
    (dest / "config").mkdir(parents=True)
    (dest / "config/config.yaml").write_text(yaml.safe_dump(_config(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    (dest / "config/screening.yaml").write_text(yaml.safe_dump(SCREENING, sort_keys=False, allow_unicode=True), encoding="utf-8")
    limits = {"from": "inception", "to": "2025/06/30"}
    files = {
        "pubmed.xml.gz": gzip.compress(pubmed_xml([_record(r, "pubmed") for r in PUBMED]), mtime=0),
        "embase.ris": ovid_ris([_record(r, "embase") for r in EMBASE], database="embase").encode("utf-8"),
    }
    entries = [
        RunFile(name="pubmed.xml.gz", database="pubmed", platform="PubMed (NCBI E-utilities)", format="pubmed_xml", query=PUBMED_STRATEGY,
                date_limits=limits, count_reported=len(PUBMED), count_in_file=len(PUBMED)),
        RunFile(name="embase.ris", database="embase", platform="Ovid Embase", format="ris", query=EMBASE_STRATEGY,
                date_limits=limits, count_reported=len(EMBASE), count_in_file=len(EMBASE)),
    ]
    manifest = Manifest(run_id=RUN_ID, date_run=RUN_ID, files=entries, description="SYNTHETIC records for tests; not a real search")
    (dest / "resources/searches").mkdir(parents=True)
    write_run(dest / "resources/searches", manifest, files)
    _tsv(dest / "resources/screening/decisions.tsv", ["key", "stage", "decision", "reason", "reviewer", "date", "note"], _decision_rows())
    _tsv(dest / "resources/extraction/studies.tsv", STUDY_COLUMNS, _studies_rows())
    _tsv(dest / "resources/extraction/outcomes.tsv", OUTCOME_COLUMNS, _outcome_rows())
    return dest


# ---- expected answers, computed from the synthetic inputs above --------------------------------


def _dl(yi: list[float], vi: list[float]) -> dict[str, float]:
    """Inverse-variance random-effects pooling with the DerSimonian-Laird tau² (by hand, numpy)."""
    y, v = np.asarray(yi), np.asarray(vi)
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    df = len(y) - 1
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c)
    ws = 1 / (v + tau2)
    est = float(np.sum(ws * y) / np.sum(ws))
    se = float(math.sqrt(1 / np.sum(ws)))
    z = 1.959963984540054
    return {"estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se, "tau2": tau2, "q": q,
            "i2": max(0.0, (q - df) / q) * 100 if q > 0 else 0.0}


def _expected_md() -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    per_study = {}
    for study_id, (n1, m1, s1, n2, m2, s2, _days) in SEVERITY.items():
        per_study[study_id] = (m2 - m1, s1**2 / n1 + s2**2 / n2)  # lower is better: control minus exercise favours exercise
    return _dl(*zip(*per_study.values())), per_study


def _expected_rr() -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    per_study = {}
    for study_id, (a, n1, c, n2, _days) in RESPONSE.items():
        per_study[study_id] = (math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2)
    return _dl(*zip(*per_study.values())), per_study


def _fates(prefix: str) -> list[Rec]:
    return [r for r in RECORDS if r.fate.startswith(prefix)]


# ---- the build (once for the module) -----------------------------------------------------------


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = build_project(tmp_path_factory.mktemp("exercise_review"))
    proc = subprocess.run([sys.executable, "-m", "livingreview.cli", "validate"], check=False, cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "screening rules: 3" in proc.stdout and "search runs: 1" in proc.stdout and "studies: 3" in proc.stdout, proc.stdout
    run_snakemake(work)
    return work


def test_synthetic_inputs_are_synthetic() -> None:
    assert all(int(r.pmid) > 900_000_000 for r in PUBMED)
    assert all(r.doi.startswith("10.5555/") and r.title.startswith("Synthetic test record") for r in RECORDS)
    assert not re.search(r"ketamin|ptsd", json.dumps([_config(), SCREENING]), re.IGNORECASE), "the second protocol itself names the first one's topic"
    assert set(SCREENING["reasons"]) >= {"not_retrieved", "other"} and "not_ptsd" not in SCREENING["reasons"]


def test_included_studies_and_reports(review: Path) -> None:
    included = read_tsv(review / "results/studies/included_studies.tsv")
    assert [s["study_id"] for s in included] == ["Alpha2021", "Beta2022", "Gamma2023"]
    reports = {(r["record_id"], r["study_id"]) for r in read_tsv(review / "results/studies/reports.tsv")}
    expected = {(f"pubmed:{rec.pmid}", study_id) for study_id, recs, *_ in STUDIES for rec in recs}
    assert reports == expected and len(expected) == 4
    assert {r.key for r in _fates("included")} == {rec.key for _, recs, *_ in STUDIES for rec in recs}
    # every Embase copy joined the cluster of its PubMed record (by DOI); Embase-only records stand alone
    clusters = {c["record_id"]: c["cluster_id"] for c in read_tsv(review / "results/dedup/clusters.tsv")}
    records = read_tsv(review / "results/records/records.tsv")
    by_doi: dict[str, set[str]] = {}
    for row in records:
        by_doi.setdefault(row["doi"].lower(), set()).add(clusters[row["record_id"]])
    assert all(len(ids) == 1 for ids in by_doi.values())
    assert len(set(clusters.values())) == len(RECORDS)


def test_prisma_counts_match_the_synthetic_inputs(review: Path) -> None:
    counts = json.loads((review / "results/prisma/counts.json").read_text(encoding="utf-8"))
    reasons = SCREENING["reasons"]
    automation = _fates("rule:")
    ta_excluded = _fates("ta:")
    ft = _fates("ft:")
    not_retrieved = [r for r in ft if r.fate == "ft:not_retrieved"]
    ft_excluded = [r for r in ft if r.fate != "ft:not_retrieved"]
    screened = len(RECORDS) - len(automation)
    sought = screened - len(ta_excluded)

    assert {d["database"]: d["n"] for d in counts["database_specific_results"]} == {"pubmed": len(PUBMED), "embase": len(EMBASE)} == {"pubmed": 10, "embase": 5}
    assert counts["database_results"] == counts["records_identified"] == len(PUBMED) + len(EMBASE)
    assert counts["register_results"] == 0 and counts["register_specific_results"] == []
    assert counts["duplicates"] == sum(r.pubmed and r.embase for r in RECORDS) == 3
    assert counts["excluded_automatic"] == len(automation) == 4
    by_rule = {d["rule"]: (d["n"], d["reason"]) for d in counts["excluded_automatic_by_rule"]}
    expected_rules: dict[str, tuple[int, str]] = {}
    for rec in automation:
        rule = rec.fate.split(":", 1)[1]
        reason = next(r["reason"] for r in SCREENING["rules"] if r["id"] == rule)
        expected_rules[rule] = (expected_rules.get(rule, (0, ""))[0] + 1, reasons[reason])
    assert by_rule == expected_rules
    assert counts["excluded_other"] == 0
    assert counts["records_screened"] == screened == 8
    assert counts["records_excluded"] == len(ta_excluded) == 2
    assert {d["reason"]: d["n"] for d in counts["records_excluded_reasons"]} == {reasons[r.fate[3:]]: 1 for r in ta_excluded}
    assert counts["records_awaiting"] == 0 and counts["dbr_awaiting"] == 0
    assert counts["dbr_sought_reports"] == sought == 6
    assert counts["dbr_notretrieved_reports"] == len(not_retrieved) == 1
    assert counts["dbr_assessed"] == sought - len(not_retrieved) == 5
    assert counts["dbr_excluded_total"] == len(ft_excluded) == 1
    assert {d["reason"]: d["n"] for d in counts["dbr_excluded"]} == {reasons[r.fate[3:]]: 1 for r in ft_excluded}
    assert counts["included_studies"] == ["Alpha2021", "Beta2022", "Gamma2023"]
    assert counts["total_studies"] == 3 and counts["total_reports"] == len(_fates("included")) == 4
    assert counts["runs"] == [{"by_database": {"embase": 5, "pubmed": 10}, "identified": 15, "previous": False, "run_id": RUN_ID}]


def _json_number(x: float) -> float:
    """``x`` as results/*.json writes floats: six significant digits."""
    return float(f"{x:.6g}")


@pytest.mark.parametrize("analysis,expected", [("depression_md", _expected_md), ("response_rr", _expected_rr)])
def test_pooled_estimates_equal_an_independent_computation(review: Path, analysis: str, expected) -> None:
    pooled, per_study = expected()
    assert pooled["tau2"] > 0, "the synthetic numbers are heterogeneous, so DL's tau² is exercised"
    summary = json.loads((review / f"results/synthesis/{analysis}.json").read_text(encoding="utf-8"))
    assert summary["pooled"] is True and summary["k"] == 3 and summary["method"] == "DL" and summary["hksj"] is False
    assert summary["intervention_label"] == "exercise"
    assert summary["direction"].startswith("Positive values favour exercise")
    # results/*.json keeps six significant digits, so a written number can only equal the independent
    # value to within its last printed digit (half a unit of it) plus 1e-6.
    # effects.tsv keeps yi/vi at full precision, so every pooled number is the exact one rounded once.
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "i2"):
        assert summary[key] == _json_number(pooled[key]), (key, summary[key], pooled[key])
    studies = {s["study"]: (s["yi"], s["vi"]) for s in summary["studies"]}
    assert studies == {k: (_json_number(y), _json_number(v)) for k, (y, v) in per_study.items()}


def _svg_texts(review: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((review / "results/synthesis").glob("*.svg"))}


def _embedded(html: str) -> list[str]:
    """The SVG documents the self-contained report embeds as base64 data URIs."""
    return [base64.b64decode(m).decode("utf-8") for m in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)]


def test_plots_and_report_favour_exercise(review: Path) -> None:
    svgs = _svg_texts(review)
    for analysis in ("depression_md", "response_rr"):
        svg = svgs[f"{analysis}_forest.svg"]
        assert "Favours exercise" in svg and "Favours control" in svg, analysis
    assert "favours exercise" in svgs["effect_direction.svg"]
    md = (review / "results/report/report.md").read_text(encoding="utf-8")
    html = (review / "results/report/index.html").read_text(encoding="utf-8")
    # the MD analysis: positive values; the RR analysis: a ratio above 1 (not a "positive" ratio)
    assert md.count("Positive values favour exercise") == 1 and html.count("Positive values favour exercise") >= 1
    assert md.count("Risk ratios above 1 favour exercise") == 1 and html.count("Risk ratios above 1 favour exercise") >= 1
    figures = _embedded(html)
    assert sum("Favours exercise" in svg for svg in figures) >= 2, "the report's embedded forest plots say Favours exercise"
    # domain labels and the dose unit of this protocol
    timepoint = {(r["study_id"], r["scale"]): r["timepoint"] for r in read_tsv(review / "results/synthesis/effect_direction.tsv")}
    assert f"| Alpha2021 | 120 | Depression severity | PHQ-9 | {timepoint['Alpha2021', 'PHQ-9']} | favours exercise |" in md
    # the table shows the scale as extracted, its definition kept (the plot and the row's key: "PHQ-9 response")
    assert f"| Beta2022 | 80 | Response | PHQ-9 response (>= 50% reduction) | {timepoint['Beta2022', 'PHQ-9 response']} | favours control |" in md
    assert "Dose (sessions/week)" in md and "Dose (sessions/week)" in html
    dose_groups = json.loads((review / "results/synthesis/depression_md.json").read_text(encoding="utf-8"))["subgroups"]["dose"]["groups"]
    assert sorted(dose_groups) == ["2 sessions/week", "3 sessions/week"]
    # report.published_participants null: no comparison with a published review; reconstructed: false: no note
    assert "The published review reports" not in md and "The published review reports" not in html
    assert "reconstruction" not in md and "reconstruction" not in html
    # reporting bias: the funnel plot is shown exactly when its analysis drew one, with Egger's test in words
    for analysis in ("depression_md", "response_rr"):
        summary = json.loads((review / f"results/synthesis/{analysis}.json").read_text(encoding="utf-8"))
        words = reporting_bias_in_words(summary)
        assert words.startswith("Funnel plot: ") and "Egger's test" in words and str(html_escape(words)) in html
        assert (f"../synthesis/{analysis}_funnel.svg" in md) is bool(summary["funnel"]["drawn"])


def _png_text_chunks(data: bytes) -> bytes:
    """Every PNG chunk but the image data (tEXt, iTXt, ... metadata)."""
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        if kind not in (b"IDAT", b"IHDR", b"IEND"):
            out.append(data[i + 8:i + 8 + n])
        i += 12 + n
    return b"\n".join(out)


def test_no_output_names_the_shipped_review(review: Path) -> None:
    """Nothing under results/ names ketamine, PTSD or infusions: protocol text left in code would show up here."""
    hits = []
    files = sorted(p for p in (review / "results").rglob("*") if p.is_file())
    assert len(files) > 40
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".png":
            texts = [_png_text_chunks(data).decode("latin-1")]
        elif path.suffix == ".gz":
            texts = [gzip.decompress(data).decode("utf-8", "replace")]
        else:
            text = data.decode("utf-8")
            texts = [re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", text), *(_embedded(text) if path.suffix == ".html" else [])]
        for text in texts:
            for m in re.finditer(r"ketamin|ptsd|infusion", text, re.IGNORECASE):
                hits.append(f"{path.relative_to(review)}: ...{text[max(0, m.start() - 60):m.end() + 60]}...")
    assert hits == [], "\n".join(hits)


def test_report_reads_well_for_this_protocol_too(review: Path) -> None:
    """The readability fixes hold for a protocol that is not the shipped one: plain characters in report.md,
    one order of analyses (primary first), 'Primary analysis: <title>', subgroup columns in words, each
    scale as extracted and a summary without numbers in the Direction column's words."""
    from livingreview.report import md_inline

    md = (review / "results/report/report.md").read_text(encoding="utf-8")
    html = (review / "results/report/index.html").read_text(encoding="utf-8")
    titles = [a["title"] for a in _config()["synthesis"]["analyses"]]  # the primary first in this config
    assert not re.search(r"&(?:[A-Za-z]+|#[0-9]+);", md)
    methods, results = md[md.index("## Synthesis methods"):md.index("## Results")], md[md.index("## Results"):md.index("### Effect direction")]
    assert sorted(titles, key=methods.index) == titles
    assert re.findall(r"^### (.+)$", results, flags=re.M) == [f"Primary analysis: {titles[0]}", titles[1]]
    assert f"<h3>Primary analysis: {html_escape(titles[0])}</h3>" in html and f"- {titles[0]}, the primary analysis: " in md
    assert "subgroup analyses by dose with a test" in md and "subgroup analyses by dose with a test" in html
    direction = read_tsv(review / "results/synthesis/effect_direction.tsv")
    for r in direction:
        assert f" | {md_inline(r['scale_text'])} | " in md and f"<td>{html_escape(r['scale_text'])}</td>" in html
    assert "direction reported (" not in md and "direction reported (" not in html
