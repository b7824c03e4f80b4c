"""The effects and pool stages on the committed extraction tables (the default review's synthesis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livingreview.config import load_config
from livingreview.constants import EFFECT_FIELDS, POOL_JSON_KEYS
from livingreview.effects import direction_note, read_effects, run_compute_effects, trace_study_numbers
from livingreview.errors import ConfigError, InputFormatError
from livingreview.config import primary_analysis
from livingreview.meta import run_pool_analysis
from livingreview.tables import read_tsv

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
STUDIES = shipped_resources() / "extraction" / "studies.tsv"  # the default review as shipped (conftest)
OUTCOMES = shipped_resources() / "extraction" / "outcomes.tsv"
INCLUDED = ["Abdallah2022", "Dadabayev2020", "Duek2023", "Feder2014", "Feder2021", "Pradhan2017_TIMBER", "Pradhan2018_TIMBER"]


@pytest.fixture(scope="module")
def synthesis_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthesis")
    # a small stand-in for results/studies/included_studies.tsv (written by link_studies)
    (out / "included_studies.tsv").write_text("study_id\treports\tn_reports\n" + "".join(f"{s}\tx\t1\n" for s in INCLUDED), encoding="utf-8")
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    run_compute_effects(outcomes_path=OUTCOMES, studies_path=STUDIES, included_path=out / "included_studies.tsv", synthesis=synthesis,
                        effects_out=out / "effects.tsv", direction_out=out / "effect_direction.tsv")
    for a in synthesis["analyses"]:
        run_pool_analysis(effects_path=str(out / "effects.tsv"), studies_path=str(STUDIES), analysis_id=a["id"], synthesis=synthesis,
                          summary_out=str(out / f"{a['id']}.json"), forest_out=str(out / f"{a['id']}_forest.svg"),
                          funnel_out=str(out / f"{a['id']}_funnel.svg"), cumulative_out=str(out / f"{a['id']}_cumulative.svg"))
    return out


def test_effects_table_covers_every_study_and_analysis(synthesis_dir: Path) -> None:
    rows = read_tsv(synthesis_dir / "effects.tsv")
    assert list(rows[0])[: len(EFFECT_FIELDS)] == list(EFFECT_FIELDS)
    assert len(rows) == 3 * len(INCLUDED)  # nothing dropped: every included study in every analysis
    got = {(r["analysis"], r["study"]): r for r in rows}
    f14 = got[("ptsd_severity_md", "Feder2014")]
    assert float(f14["yi"]) == pytest.approx(12.7) and f14["how"].startswith("Feder2014#1:")
    f21 = got[("ptsd_severity_md", "Feder2021")]
    assert float(f21["yi"]) == pytest.approx(11.88) and float(f21["vi"]) == pytest.approx(3.96**2, rel=1e-5)
    assert float(got[("ptsd_severity_smd", "Feder2021")]["yi"]) == pytest.approx(1.13)
    assert got[("ptsd_severity_smd", "Feder2014")]["yi"] == "" and "no SD imputed" in got[("ptsd_severity_smd", "Feder2014")]["how"]
    assert got[("ptsd_response_rr", "Feder2021")]["inferred"] == "true" and "INFERRED" in got[("ptsd_response_rr", "Feder2021")]["how"]
    assert got[("ptsd_severity_md", "Abdallah2022")]["how"].startswith("no numbers reported: PCL-5: not significant")


def test_primary_analysis_shows_both_feder_trials_and_says_why_not_pooled(synthesis_dir: Path) -> None:
    out = json.loads((synthesis_dir / "ptsd_severity_md.json").read_text(encoding="utf-8"))
    assert set(POOL_JSON_KEYS) <= set(out) and out["primary"] is True
    assert out["pooled"] is False and out["estimate"] is None and "needs one scale" in out["reason"]
    assert [s["study"] for s in out["studies"]] == ["Feder2014", "Feder2021"]
    assert [s["scale"] for s in out["studies"]] == ["IES-R", "CAPS-5"]
    assert out["direction"] == direction_note("ketamine") and out["intervention_label"] == "ketamine"
    assert len(out["not_estimable"]) == 5
    smd = json.loads((synthesis_dir / "ptsd_severity_smd.json").read_text(encoding="utf-8"))
    assert smd["pooled"] is False and smd["k"] == 1 and "k = 1 < 2" in smd["reason"]
    assert {m["study"] for m in smd["not_estimable"]} >= {"Feder2014"}


def test_effect_direction_covers_all_seven_studies(synthesis_dir: Path) -> None:
    rows = read_tsv(synthesis_dir / "effect_direction.tsv")
    assert sorted({r["study_id"] for r in rows}) == INCLUDED
    by = {(r["study_id"], r["scale"]): r for r in rows}
    assert by[("Dadabayev2020", "IES-R")]["summary"] == "no difference reported, no numbers"
    assert by[("Pradhan2017_TIMBER", "")]["favours"] == "not_reported"
    assert by[("Feder2014", "IES-R")]["favours"] == "intervention" and by[("Feder2014", "IES-R")]["significant"] == "yes"
    assert by[("Feder2021", "CAPS-5 response")]["inferred"] == "true"
    # A number from the ketamine arm alone (median days to loss of response) is not a between-arm number.
    durability = by[("Feder2021", "CAPS-5 response durability")]
    assert durability["numbers"] == "no" and durability["favours"] == "unclear" and "27.5" in durability["summary"]
    assert by[("Feder2014", "IES-R")]["numbers"] == "yes"


def test_included_study_missing_from_studies_table_is_an_error(tmp_path: Path) -> None:
    inc = tmp_path / "included_studies.tsv"
    inc.write_text("study_id\nFeder2021\nNew2026\n", encoding="utf-8")
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    with pytest.raises(InputFormatError, match="included studies without a studies.tsv row: New2026"):
        run_compute_effects(outcomes_path=OUTCOMES, studies_path=STUDIES, included_path=inc, synthesis=synthesis,
                            effects_out=tmp_path / "e.tsv", direction_out=tmp_path / "d.tsv")
    assert not (tmp_path / "e.tsv").exists()


def test_trace_numbers_of_feder2021(synthesis_dir: Path) -> None:
    got = trace_study_numbers("Feder2021", outcomes_path=OUTCOMES, studies_path=STUDIES, effects_path=synthesis_dir / "effects.tsv")
    by = {g["outcome_id"]: g for g in got}
    assert len(got) == 10 and by["Feder2021#1"]["reference"].endswith("outcomes.tsv:13")
    assert by["Feder2021#1"]["used_in"] == [{"analysis": "ptsd_severity_md", "measure": "MD", "yi": pytest.approx(11.88), "vi": pytest.approx(15.6816), "yi_is": "MD"}]
    assert by["Feder2021#5"]["inferred"] is True and by["Feder2021#5"]["used_in"][0]["analysis"] == "ptsd_response_rr"
    assert by["Feder2021#5"]["used_in"][0]["yi_is"] == "log RR"  # a response: more is better, yi = log RR
    assert len(read_effects(synthesis_dir / "effects.tsv", analysis="ptsd_severity_smd")) == 7


def test_config_marks_one_primary_analysis_on_ptsd_severity() -> None:
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    primary = primary_analysis(synthesis)
    assert primary is not None and primary["domain"] == "ptsd_severity"
    assert [a["id"] for a in synthesis["analyses"] if a["primary"]] == [primary["id"]]


def test_two_primary_analyses_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    twice = {**synthesis, "analyses": [{**a, "primary": True} for a in synthesis["analyses"]]}
    with pytest.raises(ConfigError, match="analyses are marked primary"):
        run_compute_effects(outcomes_path=OUTCOMES, studies_path=STUDIES, included_path=None, synthesis=twice,
                            effects_out=tmp_path / "e.tsv", direction_out=tmp_path / "d.tsv")
    assert not (tmp_path / "e.tsv").exists()
    assert primary_analysis({"analyses": [{"id": "x"}]}) is None


def test_primary_analysis_json_says_primary(synthesis_dir: Path) -> None:
    primary = primary_analysis(load_config(ROOT / "config" / "config.yaml")["synthesis"])
    assert primary is not None
    data = json.loads((synthesis_dir / f"{primary['id']}.json").read_text())
    assert data["primary"] is True and {s["study"] for s in data["studies"]} == {"Feder2014", "Feder2021"}


def test_a_review_without_any_outcome_domain_yet_lists_its_studies(tmp_path: Path) -> None:
    """A new protocol: studies.tsv has a study, outcomes.tsv only its header, no direction_domains
    (default []): the SWiM table still lists every study as not reported (it raised IndexError)
    and the plot lists the study with no domain column."""
    from livingreview.plots import run_effect_direction_plot

    outcomes = tmp_path / "outcomes.tsv"
    outcomes.write_text(OUTCOMES.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    studies = tmp_path / "studies.tsv"
    lines = STUDIES.read_text(encoding="utf-8").splitlines()
    studies.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    sid = lines[1].split("\t")[0]
    n_eff, n_dir = run_compute_effects(outcomes_path=outcomes, studies_path=studies, included_path=None,
                                       synthesis={"analyses": [], "direction_domains": []},
                                       effects_out=tmp_path / "effects.tsv", direction_out=tmp_path / "direction.tsv")
    rows = read_tsv(tmp_path / "direction.tsv")
    assert (n_eff, n_dir) == (0, 1)
    assert [(r["study_id"], r["domain"], r["favours"]) for r in rows] == [(sid, "", "not_reported")]
    assert run_effect_direction_plot(direction_path=tmp_path / "direction.tsv", plot_out=tmp_path / "d.svg", synthesis={}) == 1
    text = (tmp_path / "d.svg").read_text(encoding="utf-8")
    assert sid in text and 'id="direction_' not in text
