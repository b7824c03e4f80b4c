"""`livingreview trace` shows the outcomes.tsv row (file:line) behind every plotted number of a study or report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from livingreview.cli import main
from livingreview.config import load_config
from livingreview.effects import run_compute_effects
from livingreview.meta import run_pool_analysis
from livingreview.plots import run_effect_direction_plot
from livingreview.tables import read_tsv
from livingreview.trace import format_trace, trace
from review_stages import ROOT, SHIPPED, STUDIES, run_to_ledger

OUTCOMES = SHIPPED / "extraction/outcomes.tsv"  # the default review as shipped (conftest)
SEARCHES = SHIPPED / "searches"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default review's workflow from the archived snapshot to the pooled analyses and plots."""
    res = tmp_path_factory.mktemp("trace_numbers") / "results"
    run_to_ledger(res)
    synthesis = load_config(ROOT / "config/config.yaml")["synthesis"]
    syn = res / "synthesis"
    run_compute_effects(outcomes_path=OUTCOMES, studies_path=STUDIES, included_path=res / "studies/included_studies.tsv", synthesis=synthesis,
                        effects_out=syn / "effects.tsv", direction_out=syn / "effect_direction.tsv")
    for a in synthesis["analyses"]:
        run_pool_analysis(effects_path=str(syn / "effects.tsv"), studies_path=str(STUDIES), analysis_id=a["id"], synthesis=synthesis,
                          summary_out=str(syn / f"{a['id']}.json"), forest_out=str(syn / f"{a['id']}_forest.svg"),
                          funnel_out=str(syn / f"{a['id']}_funnel.svg"), cumulative_out=str(syn / f"{a['id']}_cumulative.svg"))
    run_effect_direction_plot(direction_path=syn / "effect_direction.tsv", plot_out=syn / "effect_direction.svg")
    return res


def outcome_lines(study_id: str) -> dict[str, int]:
    """outcome_id -> line of outcomes.tsv (header = line 1), read independently of the code under test."""
    return {r["outcome_id"]: int(r["_line"]) for r in read_tsv(OUTCOMES) if r["study_id"] == study_id}


def primary(results: Path) -> dict:
    config = load_config(ROOT / "config/config.yaml")
    (analysis,) = [a for a in config["synthesis"]["analyses"] if a["primary"]]
    return json.loads((results / "synthesis" / f"{analysis['id']}.json").read_text())


def test_study_trace_gives_the_row_behind_each_forest_number(results: Path) -> None:
    got = trace("Feder2021", results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES)
    lines = outcome_lines("Feder2021")
    st = got["study"]
    assert st["included"] is True
    assert {o["outcome_id"] for o in st["outcomes"]} == set(lines)
    assert all(o["reference"] == f"{OUTCOMES}:{lines[o['outcome_id']]}" for o in st["outcomes"])
    # every number drawn for Feder2021 in a forest plot names the outcomes.tsv row it came from
    summary = primary(results)
    drawn = {s["study"]: s for s in summary["studies"]}
    assert set(drawn) == {"Feder2014", "Feder2021"}
    forest = [p for p in st["plotted"] if "yi" in p]
    analyses_with_feder = sorted(json.loads(p.read_text())["analysis"] for p in (results / "synthesis").glob("*.json")
                                 if any(s["study"] == "Feder2021" for s in json.loads(p.read_text())["studies"]))
    assert sorted(p["analysis"] for p in forest) == analyses_with_feder
    prim = next(p for p in forest if p["analysis"] == summary["analysis"])
    oid = drawn["Feder2021"]["outcome_id"]
    assert prim["yi"] == pytest.approx(drawn["Feder2021"]["yi"]) and prim["outcome_ids"] == [oid]
    assert prim["references"] == [f"{OUTCOMES}:{lines[oid]}"] and prim["figure"].endswith(f"{summary['analysis']}_forest.svg")
    # and every effect-direction cell of the study lists its rows
    direction = [p for p in st["plotted"] if p["figure"].endswith("effect_direction.svg")]
    assert direction and all(p["references"] == [f"{OUTCOMES}:{lines[o]}" for o in p["outcome_ids"]] for p in direction)


def test_text_trace_of_a_study_shows_file_and_line(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = outcome_lines("Feder2021")
    summary = primary(results)
    oid = next(s for s in summary["studies"] if s["study"] == "Feder2021")["outcome_id"]
    assert main(["trace", "Feder2021", "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
    text = capsys.readouterr().out
    assert "plotted numbers" in text and f"{summary['analysis']}_forest.svg" in text
    assert f"<- {oid} {OUTCOMES}:{lines[oid]}" in text
    for o, line in lines.items():
        assert f"{o} {OUTCOMES}:{line}:" in text
    # each row names what the yi it feeds is: the measure, or log RR for a ratio (the shipped RR is of a response)
    effects = {(r["analysis"], r["outcome_id"]): r for r in read_tsv(results / "synthesis/effects.tsv") if r["study"] == "Feder2021" and r["yi"]}
    for (analysis, outcome), row in sorted(effects.items()):
        name = f"log {row['measure']}" if row["measure"] in ("RR", "OR") else row["measure"]
        assert f"{analysis} (yi = {name} {float(row['yi']):.2f})" in text, (analysis, outcome)
    assert text == format_trace(trace("Feder2021", results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES))


def test_json_trace_of_an_included_report_carries_the_rows(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study_row = next(r for r in read_tsv(STUDIES) if r["study_id"] == "Feder2014")
    key = study_row["primary_report"]
    assert main(["trace", key, "--json", "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "record"
    (cluster,) = [c for c in data["clusters"] if c["study"]]
    st = cluster["study"]
    lines = outcome_lines("Feder2014")
    assert st["study_id"] == "Feder2014" and {o["outcome_id"] for o in st["outcomes"]} == set(lines)
    forest = [p for p in st["plotted"] if "yi" in p]
    assert forest and all(len(p["references"]) == 1 and p["references"][0] == f"{OUTCOMES}:{lines[p['outcome_ids'][0]]}" for p in forest)
    assert main(["trace", key, "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
    text = capsys.readouterr().out
    assert all(f"{p['outcome_ids'][0]} {p['references'][0]}" in text for p in forest)


def test_default_run_primary_analysis_effect_direction_and_cumulative(results: Path) -> None:
    summary = primary(results)
    assert summary["domain"] == "ptsd_severity" and summary["primary"] is True
    by = {s["study"]: s for s in summary["studies"]}
    assert set(by) == {"Feder2014", "Feder2021"}
    assert by["Feder2014"]["yi"] == pytest.approx(12.7) and by["Feder2021"]["yi"] == pytest.approx(11.88)
    syn = results / "synthesis"
    assert (syn / f"{summary['analysis']}_forest.svg").read_text().count("Feder20") >= 2
    assert "Cumulative meta-analysis" in (syn / f"{summary['analysis']}_cumulative.svg").read_text()
    direction = (syn / "effect_direction.svg").read_text()
    included = [r["study_id"] for r in read_tsv(results / "studies/included_studies.tsv")]
    assert len(included) == 7 and all(s in direction for s in included)


def test_forest_rows_drawn_as_not_estimable_and_unreported_cells_are_traced(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A study the forest plots draw as 'Not estimable' (and an effect-direction cell of an outcome not
    reported) is part of what the figures show, so its trace lists each such row with the reason."""
    for study_id in ("Pradhan2017_TIMBER", "Abdallah2022"):
        expected = {}
        for path in (results / "synthesis").glob("*.json"):
            data = json.loads(path.read_text())
            for n in data.get("not_estimable", []):
                if n["study"] == study_id:
                    expected[data["analysis"]] = (n["reason"], n["outcome_id"])
        assert expected, study_id
        st = trace(study_id, results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES)["study"]
        got = {p["analysis"]: p for p in st["plotted"] if "not_estimable" in p}
        assert set(got) == set(expected)
        lines = outcome_lines(study_id)
        for analysis, (reason, oid) in expected.items():
            assert got[analysis]["not_estimable"] == reason and got[analysis]["figure"].endswith(f"{analysis}_forest.svg")
            assert got[analysis]["references"] == ([f"{OUTCOMES}:{lines[oid]}"] if oid else [])
        assert sorted(st["not_estimable_in"]) == sorted(str(results / "synthesis" / f"{a}.json") for a in expected)
    # Pradhan2017_TIMBER reported no PTSD outcome: its effect-direction cell is drawn ("-") with no row behind it
    direction = [r for r in read_tsv(results / "synthesis/effect_direction.tsv") if r["study_id"] == "Pradhan2017_TIMBER"]
    assert direction and not any(r["outcome_ids"] for r in direction)
    st = trace("Pradhan2017_TIMBER", results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES)["study"]
    cells = [p for p in st["plotted"] if p["figure"].endswith("effect_direction.svg")]
    assert len(cells) == len(direction) and all(p["outcome_ids"] == [] and p["favours"] == "not_reported" for p in cells)
    assert main(["trace", "Pradhan2017_TIMBER", "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
    text = capsys.readouterr().out
    assert "[ptsd_severity_md]: not estimable (no ptsd_severity outcome reported" in text
    assert "not reported (no outcome of these domains reported in the retrieved sources)\n      <- no outcomes.tsv row" in text
    assert "favours not_reported" not in text


def test_effect_direction_rows_are_traced_in_the_plot_legend_words(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each effect_direction.tsv row of a study is traced with the words of the plot's legend: Dadabayev2020's
    "none" is "no difference reported", Feder2021's "unclear" is "direction unclear", never "favours none"."""
    rows = [r for r in read_tsv(results / "synthesis/effect_direction.tsv") if r["study_id"] in ("Dadabayev2020", "Feder2021")]
    seen = {r["favours"] for r in rows}
    assert {"none", "unclear", "intervention"} <= seen
    words = {"none": "no difference reported", "unclear": "direction unclear", "intervention": "favours ketamine"}
    for study_id in ("Dadabayev2020", "Feder2021"):
        assert main(["trace", study_id, "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
        text = capsys.readouterr().out
        for r in rows:
            if r["study_id"] == study_id:
                assert f"[effect direction: {r['domain']}]: {words[r['favours']]}" in text
        assert "favours none" not in text and "favours unclear" not in text


def test_forest_number_shows_how_it_was_derived_from_the_reported_ci(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Feder2014 reported MD 12.7 (95% CI 2.5 to 22.8); the plot draws yi +/- 1.96 SE with SE from that CI
    (2.55 to 22.85). The trace shows both, so the drawn CI can be checked against outcomes.tsv."""
    row = next(r for r in read_tsv(OUTCOMES) if r["outcome_id"] == "Feder2014#1")
    reported = f"95% CI {float(row['ci_low']):g} to {float(row['ci_high']):g}"
    summary = primary(results)
    drawn = next(s for s in summary["studies"] if s["study"] == "Feder2014")
    st = trace("Feder2014", results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES)["study"]
    (forest,) = [p for p in st["plotted"] if "yi" in p and p["analysis"] == summary["analysis"]]
    assert forest["how"] == drawn["how"] and reported in forest["how"]
    assert main(["trace", "Feder2014", "--results", str(results), "--studies", str(STUDIES), "--outcomes", str(OUTCOMES), "--searches", str(SEARCHES)]) == 0
    text = capsys.readouterr().out
    assert f"MD 12.70 [{drawn['ci_low']:.2f}, {drawn['ci_high']:.2f}]\n      <- Feder2014#1 {OUTCOMES}:{row['_line']}\n      derived: {drawn['how']}\n" in text


def test_effect_direction_cells_name_the_intervention(results: Path) -> None:
    """A cell favouring the intervention is traced with its name (the analyses' intervention_label)."""
    st = trace("Feder2014", results_dir=results, studies_table=STUDIES, outcomes_table=OUTCOMES, runs_root=SEARCHES)["study"]
    cells = [p for p in st["plotted"] if p["figure"].endswith("effect_direction.svg")]
    raw = {r["favours"] for r in read_tsv(results / "synthesis/effect_direction.tsv") if r["study_id"] == "Feder2014"}
    assert "intervention" in raw and {p["favours"] for p in cells} == (raw - {"intervention"}) | {"ketamine"}
