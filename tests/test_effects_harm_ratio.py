"""A ratio of an outcome where lower is better (relapse, an adverse event) is shown as intervention / control.

Every yi is harmonised so that positive favours the intervention, so the log RR of a harm is stored
negated (yi = log(control / intervention)). Plots, the report and trace used to back-transform that
yi as it is: 2/20 events on ketamine vs 8/20 on control (RR 0.25, ketamine better) was shown as
"risk ratio 4.00". The numbers below are SYNTHETIC (made up for this test), not from any trial.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from livingreview import report as rep
from livingreview.constants import shown_sign
from livingreview.effects import EFFECT_TABLE_FIELDS, analysis_effects, effect_from_row, read_effects
from livingreview.errors import InputFormatError
from livingreview.extraction import OutcomeRow, Study
from livingreview.meta import analyse
from livingreview.plots import _shown, cumulative_plot, forest_plot, funnel_plot
from livingreview.tables import write_tsv
from livingreview.trace import _format_numbers

Z = 1.959963984540054
# synthetic harm counts: (study, events ketamine, n ketamine, events control, n control, year)
HARMS = [("H1", 2, 20, 8, 20, 2019), ("H2", 3, 25, 9, 25, 2020), ("H3", 5, 30, 7, 30, 2021)]
ANALYSIS = {"id": "relapse_rr", "title": "Relapse (synthetic), risk ratio", "domain": "relapse", "measure": "RR", "method": "REML", "hksj": False}


def study(sid: str, year: int = 2020) -> Study:
    return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="", n_randomized=40,
                 n_per_arm="", dose=(0.5,), infusions="single", infusion_schedule="", comparator="saline", comparator_type="inactive",
                 co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)


def counts_row(sid: str, a: int, n1: int, c: int, n2: int, *, lower: bool = True, line: int = 2, domain: str = "relapse", oid: str = "") -> OutcomeRow:
    return OutcomeRow(outcome_id=oid or f"{sid}#1", study_id=sid, report_key="1", domain=domain, scale="relapse (synthetic)", timepoint="week 2",
                      timepoint_days=14.0, primary_endpoint=True, statistic_kind="counts", statistic="", value_text="", estimate=None, ci_low=None,
                      ci_high=None, se=None, p="", t=None, n_intervention=n1, n_control=n2, mean_intervention=None, sd_intervention=None,
                      mean_control=None, sd_control=None, events_intervention=a, events_control=c, direction="", lower_is_better=lower, favours="",
                      significant="", inferred=False, note="", sources="", location="synthetic", line=line)


def true_rr(a: int, n1: int, c: int, n2: int) -> tuple[float, float, float]:
    """RR (intervention / control) and its 95% CI, computed here from the counts (no zero cell)."""
    log_rr = math.log((a / n1) / (c / n2))
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return math.exp(log_rr), math.exp(log_rr - Z * se), math.exp(log_rr + Z * se)


@pytest.fixture()
def harm_summary() -> dict:
    rows = [counts_row(s, a, n1, c, n2, line=i + 2) for i, (s, a, n1, c, n2, _) in enumerate(HARMS)]
    studies = [study(s, y) for s, *_, y in HARMS]
    effects = analysis_effects(ANALYSIS, studies, rows)
    summary = analyse(ANALYSIS, effects, studies, direction_note="Positive values favour ketamine")
    summary["intervention_label"] = "ketamine"
    return summary


def test_harm_rr_is_harmonised_but_its_how_states_the_true_ratio() -> None:
    yi, vi, how = effect_from_row(counts_row("H1", 2, 20, 8, 20), "RR", study=study("H1"))
    assert yi == pytest.approx(math.log(4.0)) and vi == pytest.approx(1 / 2 - 1 / 20 + 1 / 8 - 1 / 20)
    assert "yi = log(control / intervention)" in how and "ratio (intervention / control) 0.25, below 1 favours the intervention" in how
    (eff,) = analysis_effects(ANALYSIS, [study("H1")], [counts_row("H1", 2, 20, 8, 20)])
    assert eff.lower_is_better is True


def test_effects_tsv_carries_the_direction_and_reads_it_back(tmp_path: Path) -> None:
    effects = analysis_effects(ANALYSIS, [study("H1"), study("H2")], [counts_row("H1", 2, 20, 8, 20), counts_row("H2", 3, 25, 9, 25, line=3)])
    write_tsv(tmp_path / "effects.tsv", EFFECT_TABLE_FIELDS, (e.to_row() for e in effects))
    header = (tmp_path / "effects.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert header[-1] == "lower_is_better"
    assert [e.lower_is_better for e in read_effects(tmp_path / "effects.tsv")] == [True, True]


def test_a_ratio_analysis_mixing_directions_is_refused_naming_both_rows() -> None:
    rows = [counts_row("H1", 2, 20, 8, 20, lower=True, line=5), counts_row("H2", 12, 25, 6, 25, lower=False, line=9)]
    with pytest.raises(InputFormatError) as err:
        analysis_effects(ANALYSIS, [study("H1"), study("H2")], rows)
    msg = str(err.value)
    assert "outcomes.tsv:5 and outcomes.tsv:9" in msg and "H1#1 (lower_is_better true)" in msg and "H2#1 (lower_is_better false)" in msg
    assert "\n" not in msg and "fix: give every row of that event the same lower_is_better" in msg
    with pytest.raises(InputFormatError, match=r"^results/x/outcomes.tsv:5 and results/x/outcomes.tsv:9: analysis relapse_rr"):
        analysis_effects(ANALYSIS, [study("H1"), study("H2")], rows, source="results/x/outcomes.tsv")
    # an SMD across scales of opposite directions is what harmonising is for: not refused
    smd = [OutcomeRow(**{**counts_row("H1", 0, 20, 0, 20).__dict__, "statistic_kind": "smd_ci", "estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9,
                         "direction": "intervention_minus_control", "lower_is_better": low, "study_id": sid, "outcome_id": f"{sid}#1"})
           for sid, low in (("H1", True), ("H2", False))]
    got = analysis_effects({**ANALYSIS, "measure": "SMD"}, [study("H1"), study("H2")], smd)
    assert [e.yi for e in got] == [pytest.approx(-0.5), pytest.approx(0.5)]
    summary = analyse({**ANALYSIS, "measure": "SMD"}, got, [study("H1"), study("H2")])
    assert summary["lower_is_better"] is None and summary["pooled"] is True


def test_analysis_json_says_lower_is_better_and_keeps_the_harmonised_scale(harm_summary: dict) -> None:
    assert harm_summary["lower_is_better"] is True and shown_sign(harm_summary) == -1.0
    # pooling is unchanged: the harmonised estimate is positive (fewer relapses on ketamine)
    assert harm_summary["pooled"] is True and harm_summary["estimate"] > 0
    shown = _shown(harm_summary)
    rr, lo, hi = true_rr(2, 20, 8, 20)
    first = next(s for s in shown["studies"] if s["study"] == "H1")
    assert math.exp(first["yi"]) == pytest.approx(rr) and math.exp(first["ci_low"]) == pytest.approx(lo) and math.exp(first["ci_high"]) == pytest.approx(hi)
    assert shown["estimate"] == pytest.approx(-harm_summary["estimate"]) and shown["ci_low"] == pytest.approx(-harm_summary["ci_high"])
    assert shown["pi_low"] == pytest.approx(-harm_summary["pi_high"]) and shown["pi_high"] == pytest.approx(-harm_summary["pi_low"])
    assert [c["estimate"] for c in shown["cumulative"]] == [pytest.approx(-c["estimate"]) for c in harm_summary["cumulative"]]


def _favours(svg: str) -> tuple[str, str]:
    def label(side: str) -> str:
        m = re.search(rf'id="favours_{side}".*?<text[^>]*>([^<]*)</text>', svg, re.S)
        assert m, side
        return m.group(1).strip()

    return label("left"), label("right")


def test_plots_show_the_true_ratio_with_favours_ketamine_on_the_left(harm_summary: dict, tmp_path: Path) -> None:
    rr, lo, hi = true_rr(2, 20, 8, 20)
    forest_plot(harm_summary, tmp_path / "f.svg")
    funnel_plot(harm_summary, tmp_path / "u.svg")
    cumulative_plot(harm_summary, tmp_path / "c.svg")
    forest = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert f"{rr:.2f} [{lo:.2f}, {hi:.2f}]" in forest  # 0.25 [..], not 4.00
    assert "4.00" not in forest
    pooled = math.exp(-harm_summary["estimate"])
    assert pooled < 1 and f"{pooled:.2f} [{math.exp(-harm_summary['ci_high']):.2f}, {math.exp(-harm_summary['ci_low']):.2f}]" in forest
    note = "Risk ratios below 1 favour ketamine (risk ratio = ketamine / control; fewer events are better)"
    for name in ("f", "u", "c"):
        svg = (tmp_path / f"{name}.svg").read_text(encoding="utf-8")
        assert note in svg and "above 1 favour" not in svg, name
    for name in ("f", "c", "u"):
        assert _favours((tmp_path / f"{name}.svg").read_text(encoding="utf-8")) == ("\u2190 Favours ketamine", "Favours control \u2192"), name
    cumul = (tmp_path / "c.svg").read_text(encoding="utf-8")
    assert f"{rr:.2f} [{lo:.2f}, {hi:.2f}]" in cumul  # the first step is H1 alone (2019)


def test_report_writes_the_true_ratio(harm_summary: dict) -> None:
    ctx = rep.analysis_context(harm_summary, {})
    rr, lo, hi = true_rr(2, 20, 8, 20)
    h1 = next(s for s in ctx["studies"] if s["study"] == "H1")
    assert h1["text"].startswith(f"H1: risk ratio {rr:.2f} (95% CI {lo:.2f} to {hi:.2f})")
    est = math.exp(-harm_summary["estimate"])
    assert f"): {est:.2f} (95% CI {math.exp(-harm_summary['ci_high']):.2f} to {math.exp(-harm_summary['ci_low']):.2f}); " in ctx["summary_text"]
    assert f"95% prediction interval {math.exp(-harm_summary['pi_high']):.2f} to {math.exp(-harm_summary['pi_low']):.2f}" in ctx["summary_text"]
    assert ctx["direction"].startswith("Risk ratios below 1 favour ketamine (risk ratio = ketamine / control")
    loo = sorted((math.exp(-r["estimate"]), r["omitted"]) for r in harm_summary["leave_one_out"])
    assert ctx["sensitivity"] == (f"Leave-one-out: the pooled estimate ranged from {loo[0][0]:.2f} (without {loo[0][1]}) "
                                  f"to {loo[-1][0]:.2f} (without {loo[-1][1]}).")
    # the primary-analysis row of "what's new" speaks of the same ratio
    by_run = {**harm_summary, "by_run": [{"run_id": "r1", "pooled": True, "k": 3, "estimate": harm_summary["estimate"],
                                          "ci_low": harm_summary["ci_low"], "ci_high": harm_summary["ci_high"]}]}
    assert rep.pooled_by_run(by_run)["r1"].startswith(f"RR {est:.2f} (95% CI {math.exp(-harm_summary['ci_high']):.2f} to")


def test_report_egger_limit_estimate_is_a_ratio_as_shown() -> None:
    summary = {"k": 11, "measure": "RR", "log_scale": True, "lower_is_better": True, "intervention_label": "ketamine",
               "funnel": {"drawn": True, "reason": None}, "egger": {"run": True, "k": 11, "t": 2.0, "df": 9, "p": 0.08, "limit_estimate": math.log(4.0)}}
    assert rep.reporting_bias_in_words(summary).endswith("t = -2.00, df = 9, p = 0.080; limit estimate 0.25 (risk ratio, ketamine / control).")


def test_trace_names_the_harmonised_yi_and_gives_the_true_ratio(harm_summary: dict) -> None:
    h1 = next(s for s in harm_summary["studies"] if s["study"] == "H1")
    plotted = {"figure": "relapse_rr_forest.svg", "analysis": "relapse_rr", "measure": "RR", "log_scale": True, "shown_sign": shown_sign(harm_summary),
               "yi": h1["yi"], "ci_low": h1["ci_low"], "ci_high": h1["ci_high"], "weight": None, "outcome_ids": ["H1#1"], "references": ["outcomes.tsv:2"]}
    (line, *_) = [x for x in _format_numbers({"plotted": [plotted]}, indent="") if "relapse_rr_forest.svg" in x]
    rr, lo, hi = true_rr(2, 20, 8, 20)
    assert line == (f"  relapse_rr_forest.svg [relapse_rr]: -log RR {h1['yi']:.2f} [{h1['ci_low']:.2f}, {h1['ci_high']:.2f}] "
                    f"(RR {rr:.2f} [{lo:.2f}, {hi:.2f}], intervention / control)")


def test_trace_names_the_yi_an_outcome_row_feeds_as_minus_log_rr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outcomes.tsv row of a lower-is-better ratio feeds yi = -log RR (log control / intervention):
    trace's 'feeds' line says so rather than 'RR yi', which reads as a risk ratio."""
    import livingreview.effects as eff

    rows = [counts_row(s, a, n1, c, n2, line=i + 2) for i, (s, a, n1, c, n2, _) in enumerate(HARMS)]
    studies = [study(s, y) for s, *_, y in HARMS]
    effects = analysis_effects(ANALYSIS, studies, rows)
    write_tsv(tmp_path / "effects.tsv", EFFECT_TABLE_FIELDS, (e.to_row() for e in effects))
    # the synthetic rows stand for the extraction tables (their files hold only the shipped review's)
    monkeypatch.setattr(eff, "load_studies", lambda path: studies)
    monkeypatch.setattr(eff, "load_outcomes", lambda path, known: rows)
    numbers = eff.trace_study_numbers("H1", outcomes_path="outcomes.tsv", studies_path="studies.tsv", effects_path=tmp_path / "effects.tsv")
    (row,) = numbers
    h1 = next(e for e in effects if e.study == "H1")
    assert row["used_in"] == [{"analysis": "relapse_rr", "measure": "RR", "yi": h1.yi, "vi": h1.vi, "yi_is": "-log RR"}]
    lines = _format_numbers({"outcomes": numbers}, indent="")
    assert any(line.endswith(f"feeds relapse_rr (yi = -log RR {h1.yi:.2f})") for line in lines), lines


def test_subgroups_of_a_harm_ratio_show_the_true_ratio_in_the_report_and_the_forest_plot(tmp_path: Path) -> None:
    """Subgroup estimates meet the shown ratio: each subgroup below holds one SYNTHETIC study, so its
    estimate is that study's RR (intervention / control) with a normal CI, computed here from the
    counts; the test for subgroup differences is the fixed-effect Q of the two reported studies (a
    sign-free statistic), and the study with no value is shown last, not in the test."""
    import dataclasses

    data = [("H1", 2, 20, 8, 20, 2019, "A"), ("H2", 6, 25, 9, 25, 2020, "B"), ("H3", 5, 30, 7, 30, 2021, "")]
    rows = [counts_row(s, a, n1, c, n2, line=i + 2) for i, (s, a, n1, c, n2, _, _) in enumerate(data)]
    studies = [dataclasses.replace(study(s, y), co_intervention=g) for s, *_, y, g in data]
    analysis = {**ANALYSIS, "hksj": True, "hksj_adhoc": False, "subgroups": ["co_intervention"]}
    summary = analyse(analysis, analysis_effects(analysis, studies, rows), studies, direction_note="Positive values favour ketamine")
    summary["intervention_label"] = "ketamine"
    shown = {s: true_rr(a, n1, c, n2) for s, a, n1, c, n2, _, _ in data}
    logs = {s: (math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2) for s, a, n1, c, n2, _, _ in data}
    q = (logs["H1"][0] - logs["H2"][0]) ** 2 / (logs["H1"][1] + logs["H2"][1])
    p = math.erfc(math.sqrt(q / 2))  # chi² with 1 df
    words = rep.analysis_context(summary, {})["subgroups"]

    def cell(sid: str) -> str:
        return f"{shown[sid][0]:.2f} (95% CI {shown[sid][1]:.2f} to {shown[sid][2]:.2f}; k = 1"

    assert words == [f"Subgroups by co-intervention: A {cell('H1')}); B {cell('H2')}); co-intervention not reported {cell('H3')}; not in the test); "
                     f"test for subgroup differences Q = {q:.2f}, df = 1, p = {p:.3f} (from each subgroup's Wald standard error, not the "
                     "Knapp-Hartung one of its CI); k = 1 study with no co-intervention reported is not in the test."]
    forest_plot(summary, tmp_path / "f.svg", subgroup="co_intervention")
    svg = (tmp_path / "f.svg").read_text(encoding="utf-8")
    texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    expected = [f"{shown[s][0]:.2f} [{shown[s][1]:.2f}, {shown[s][2]:.2f}]" for s in ("H1", "H2", "H3")]
    after = [texts[i + 1] for i, t in enumerate(texts) if t == "Subtotal (k = 1)"]
    assert after == expected
    assert "co-intervention not reported (not in the test)" in texts
