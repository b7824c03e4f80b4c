"""Effect sizes equal to metafor's escalc; harmonised direction; what cannot be computed says why."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from livingreview.effects import (
    NotEstimable,
    effect_from_row,
    md_from_means,
    smd_from_means,
    smd_from_t,
    two_by_two,
    variance_from_ci,
)
from livingreview.errors import InputFormatError
from livingreview.extraction import OutcomeRow, Study

REF = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
METAFOR_TOL = REF["tolerances"]["metafor"]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= METAFOR_TOL * max(1.0, abs(b))


def study(**kw: object) -> Study:
    base = dict(study_id="S1", reports=("1",), primary_report="1", year=2020, design="parallel", crossover=False, population="", n_randomized=40,
                n_per_arm="", dose=(0.5,), infusions="single", infusion_schedule="", comparator="saline", comparator_type="inactive",
                co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)
    base.update(kw)
    return Study(**base)  # type: ignore[arg-type]


def row(**kw: object) -> OutcomeRow:
    base = dict(outcome_id="S1#1", study_id="S1", report_key="1", domain="ptsd_severity", scale="CAPS-5", timepoint="week 2", timepoint_days=14.0,
                primary_endpoint=True, statistic_kind="md_ci", statistic="", value_text="", estimate=None, ci_low=None, ci_high=None, se=None, p="",
                t=None, n_intervention=None, n_control=None, mean_intervention=None, sd_intervention=None, mean_control=None, sd_control=None,
                events_intervention=None, events_control=None, direction="intervention_minus_control", lower_is_better=True, favours="", significant="",
                inferred=False, note="", sources="", location="test", line=2)
    base.update(kw)
    return OutcomeRow(**base)  # type: ignore[arg-type]


def test_smd_equals_escalc_normand1999() -> None:
    d = REF["datasets"]["normand"]
    for i in range(len(d["yi"])):
        g, v = smd_from_means(d["m1i"][i], d["sd1i"][i], int(d["n1i"][i]), d["m2i"][i], d["sd2i"][i], int(d["n2i"][i]))
        assert close(g, d["yi"][i]) and close(v, d["vi"][i]), i
        md, mv = md_from_means(d["m1i"][i], d["sd1i"][i], int(d["n1i"][i]), d["m2i"][i], d["sd2i"][i], int(d["n2i"][i]))
        assert close(md, d["md_yi"][i]) and close(mv, d["md_vi"][i]), i


def test_smd_from_t_equals_escalc() -> None:
    d = REF["datasets"]["smd_from_t"]
    for t, n1, n2, y, v in zip(d["ti"], d["n1i"], d["n2i"], d["yi"], d["vi"]):
        g, gv = smd_from_t(t, int(n1), int(n2))
        assert close(g, y) and close(gv, v)


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_two_by_two_equals_escalc_with_zero_cell_correction(measure: str) -> None:
    d = REF["datasets"]["two_by_two"]
    for i in range(3):
        a, b, c, dd = d["ai"][i], d["bi"][i], d["ci"][i], d["di"][i]
        y, v, corrected = two_by_two(a, a + b, c, c + dd, measure=measure)
        assert close(y, d[measure]["yi"][i]) and close(v, d[measure]["vi"][i]), (measure, i)
        assert corrected == (min(a, b, c, dd) == 0)


def test_md_with_ci_is_harmonised_to_favour_ketamine() -> None:
    # Feder 2014 style: control minus ketamine = +12.7 (2.5 to 22.8), lower IES-R is better
    r = row(statistic_kind="md_ci", estimate=12.7, ci_low=2.5, ci_high=22.8, direction="control_minus_intervention", scale="IES-R")
    yi, vi, how = effect_from_row(r, "MD", study=study(crossover=True))
    assert yi == pytest.approx(12.7)
    assert vi == pytest.approx(((22.8 - 2.5) / (2 * 1.959963984540054)) ** 2)
    assert "crossover" in how and "positive favours the intervention" in how
    # the same difference reported as ketamine minus control gives the same harmonised value
    r2 = row(statistic_kind="md_se", estimate=-11.88, se=3.96, direction="intervention_minus_control")
    yi2, vi2, _ = effect_from_row(r2, "MD", study=study())
    assert yi2 == pytest.approx(11.88) and vi2 == pytest.approx(3.96**2)


def test_change_scores_give_md_and_hedges_g() -> None:
    r = row(statistic_kind="change_sd", mean_intervention=-20.0, sd_intervention=10.0, mean_control=-10.0, sd_control=12.0, n_intervention=15, n_control=14)
    md, mv, how = effect_from_row(r, "MD", study=study())
    assert md == pytest.approx(10.0) and mv == pytest.approx(100 / 15 + 144 / 14) and "change-score" in how
    g, gv, _ = effect_from_row(r, "SMD", study=study())
    g_ref, v_ref = smd_from_means(-20.0, 10.0, 15, -10.0, 12.0, 14)
    assert g == pytest.approx(-g_ref) and gv == pytest.approx(v_ref) and g > 0


def test_smd_from_exact_p_and_n_uses_the_reported_direction() -> None:
    r = row(statistic_kind="p_n", p="0.004", n_intervention=15, n_control=15, favours="intervention", direction="")
    g, v, how = effect_from_row(r, "SMD", study=study())
    t = -float(__import__("scipy.stats", fromlist=["t"]).t.isf(0.002, 28))
    g_ref, v_ref = smd_from_t(t, 15, 15)
    assert g == pytest.approx(-g_ref) and v == pytest.approx(v_ref) and g > 0 and "exact p" in how


def test_missing_sd_is_not_estimable_and_no_sd_is_imputed() -> None:
    r = row(statistic_kind="md_ci", estimate=12.7, ci_low=2.5, ci_high=22.8, direction="control_minus_intervention", scale="IES-R")
    with pytest.raises(NotEstimable, match="no SD imputed"):
        effect_from_row(r, "SMD", study=study())
    r2 = row(statistic_kind="mean_sd", mean_intervention=30.0, sd_intervention=None, mean_control=35.0, sd_control=9.0, n_intervention=10, n_control=10)
    with pytest.raises(NotEstimable, match="sd_intervention not reported; no SD imputed"):
        effect_from_row(r2, "MD", study=study())


def test_non_positive_variance_names_the_row() -> None:
    r = row(statistic_kind="md_se", estimate=-3.0, se=0.0, line=7)
    with pytest.raises(InputFormatError, match=r"^outcomes\.tsv:7: S1#1: md_se gives a sampling variance of 0\.0 for the MD, not a positive number; fix: "):
        effect_from_row(r, "MD", study=study())
    with pytest.raises(InputFormatError, match=r"^resources/extraction/outcomes\.tsv:7: S1#1: "):
        effect_from_row(r, "MD", study=study(), source="resources/extraction/outcomes.tsv")


def test_responder_counts_give_log_rr_positive_for_more_responders() -> None:
    r = row(domain="ptsd_response", statistic_kind="counts", events_intervention=10, n_intervention=15, events_control=3, n_control=15, lower_is_better=False, inferred=True)
    yi, vi, how = effect_from_row(r, "RR", study=study())
    assert yi == pytest.approx(math.log((10 / 15) / (3 / 15))) and vi == pytest.approx(1 / 10 - 1 / 15 + 1 / 3 - 1 / 15)
    assert "INFERRED" in how


def test_variance_from_ci_refuses_a_zero_width_ci() -> None:
    with pytest.raises(NotEstimable):
        variance_from_ci(1.0, 1.0)


@pytest.mark.parametrize(
    "fields",
    [
        dict(statistic_kind="t_n", t=2.5, n_intervention=0, n_control=12),
        dict(statistic_kind="t_n", t=2.5, n_intervention=1, n_control=1),
        dict(statistic_kind="p_n", p="0.03", n_intervention=1, n_control=1, favours="intervention"),
        dict(statistic_kind="mean_sd", mean_intervention=30.0, sd_intervention=8.0, mean_control=35.0, sd_control=9.0, n_intervention=1, n_control=1),
    ],
)
def test_smd_without_degrees_of_freedom_is_not_estimable(fields: dict[str, object]) -> None:
    with pytest.raises(NotEstimable, match=r"S1#1: .*n per arm .* no SMD"):
        effect_from_row(row(**fields), "SMD", study=study())


def test_effects_table_keeps_yi_and_vi_at_full_precision(tmp_path) -> None:
    """The pool stage computes from effects.tsv: yi/vi read back as the very floats computed."""
    from livingreview.effects import EFFECT_TABLE_FIELDS, Effect, read_effects
    from livingreview.tables import write_tsv

    eff = Effect("A", "x", "SMD", 1 / 3, 2 / 7, "how", "A#1", "CAPS-5", 15, 15, False)
    neg0 = Effect("B", "x", "SMD", -0.0, 0.1, "how", "B#1", "CAPS-5", 15, 15, False)
    row = eff.to_row()
    assert row["yi"] == "0.3333333333333333" and row["vi"] == "0.2857142857142857"
    assert neg0.to_row()["yi"] == "0.0"
    path = tmp_path / "effects.tsv"
    write_tsv(path, EFFECT_TABLE_FIELDS, [row, neg0.to_row()])
    back = read_effects(path)
    assert (back[0].yi, back[0].vi) == (1 / 3, 2 / 7) and back[1].yi == 0.0


def test_a_study_with_every_participant_an_event_in_both_arms_gives_no_ratio() -> None:
    from livingreview.effects import NotEstimable, effect_from_row

    r = row(statistic_kind="counts", events_intervention=12, n_intervention=12, events_control=10, n_control=10, direction="", lower_is_better=False)
    for measure in ("OR", "RR"):
        with pytest.raises(NotEstimable, match=r"every participant had the event in both arms \(12/12 vs 10/10\): uninformative for an"):
            effect_from_row(r, measure, study=study())
    yi, vi, _ = effect_from_row(r, "RD", study=study())
    assert abs(yi) < 0.01 and vi > 0  # the RD keeps it (escalc adds 0.5 to each cell: 12.5/13 - 10.5/11)


@pytest.mark.parametrize(
    ("kind", "extra", "direction", "lower", "expected_yi", "says"),
    [
        # Feder 2014: control − ketamine = +12.7 on IES-R (lower better): already positive for ketamine
        ("md_ci", {"ci_low": 2.5, "ci_high": 22.8}, "control_minus_intervention", True, 12.7, "sign kept"),
        # Feder 2021: ketamine − midazolam = -11.88 on CAPS-5 (lower better): flipped to +11.88
        ("md_se", {"se": 3.96}, "intervention_minus_control", True, 11.88, "sign flipped"),
        # control − intervention on a higher-is-better scale: flipped
        ("md_ci", {"ci_low": 2.5, "ci_high": 22.8}, "control_minus_intervention", False, -12.7, "sign flipped"),
        # intervention − control on a higher-is-better scale: kept
        ("md_ci", {"ci_low": 2.5, "ci_high": 22.8}, "intervention_minus_control", False, 12.7, "sign kept"),
    ],
)
def test_how_says_whether_the_reported_sign_was_flipped(kind: str, extra: dict, direction: str, lower: bool, expected_yi: float, says: str) -> None:
    # The note must describe what happened to the number as reported: a reported +12.7 that stays
    # +12.7 was not "sign flipped", whatever the internal intervention-minus-control step did.
    est = -11.88 if kind == "md_se" else 12.7
    r = row(statistic_kind=kind, estimate=est, direction=direction, lower_is_better=lower, **extra)
    yi, _, how = effect_from_row(r, "MD", study=study())
    assert yi == pytest.approx(expected_yi)
    assert says in how and ("sign flipped" in how) == (says == "sign flipped")
    reported = "control − intervention" if direction == "control_minus_intervention" else "intervention − control"
    assert f"reported as {reported}" in how


def test_how_of_a_reported_smd_says_the_sign_was_kept() -> None:
    # Feder 2021 d 1.13 (0.36 to 1.91) recorded as control − intervention: yi +1.13, nothing flipped
    r = row(statistic_kind="smd_ci", estimate=1.13, ci_low=0.36, ci_high=1.91, direction="control_minus_intervention", n_intervention=15, n_control=15)
    yi, _, how = effect_from_row(r, "SMD", study=study())
    assert yi == pytest.approx(1.13) and "sign kept" in how and "sign flipped" not in how


def test_how_of_arm_level_data_says_it_was_computed_intervention_minus_control() -> None:
    r = row(statistic_kind="mean_sd", mean_intervention=30.0, sd_intervention=9.0, mean_control=35.0, sd_control=9.0, n_intervention=10, n_control=10)
    yi, _, how = effect_from_row(r, "MD", study=study())
    assert yi == pytest.approx(5.0) and "computed as intervention − control" in how and "sign flipped" in how


def test_crossover_counts_are_not_called_a_paired_estimate() -> None:
    # a 2x2 table built from a crossover's periods is analysed as parallel groups, not "as reported"
    r = row(statistic_kind="counts", events_intervention=10, n_intervention=15, events_control=3, n_control=15, lower_is_better=False, domain="ptsd_response")
    yi, _, how = effect_from_row(r, "RR", study=study(crossover=True))
    assert yi == pytest.approx(math.log(10 / 3))
    assert "paired (within-participant) estimate used as reported" not in how and "analysed as parallel groups" in how


@pytest.mark.parametrize("kind", ["t_n", "p_n"])
def test_crossover_t_or_p_is_not_converted_with_the_parallel_group_formula(kind: str) -> None:
    # A crossover's t or p comes from a paired analysis: the independent-samples conversion to
    # Hedges' g needs the within-person correlation (Cochrane Handbook 23.2.7), so no SMD.
    r = row(statistic_kind=kind, t=3.0, p="0.004", n_intervention=15, n_control=15, favours="intervention")
    with pytest.raises(NotEstimable, match="crossover"):
        effect_from_row(r, "SMD", study=study(crossover=True))
    g, _, _ = effect_from_row(r, "SMD", study=study(crossover=False))
    assert math.isfinite(g)


def test_primary_endpoint_row_is_used_before_a_secondary_row_of_a_preferred_kind() -> None:
    from livingreview.effects import analysis_effects

    secondary = row(outcome_id="S1#1", primary_endpoint=False, statistic_kind="mean_sd", n_intervention=10, n_control=10,
                    mean_intervention=10.0, sd_intervention=5.0, mean_control=20.0, sd_control=5.0, line=2)
    primary = row(outcome_id="S1#2", primary_endpoint=True, statistic_kind="md_ci", estimate=5.0, ci_low=1.0, ci_high=9.0, line=3)
    (eff,) = analysis_effects({"id": "a", "domain": "ptsd_severity", "measure": "MD"}, [study()], [secondary, primary])
    # the primary row: MD 5 (intervention - control, lower is better) -> yi -5, vi from the CI
    assert eff.outcome_id == "S1#2" and eff.yi == -5.0
    assert eff.vi == pytest.approx((8.0 / (2 * 1.959963984540054)) ** 2)


def test_effect_direction_rows_are_in_publication_year_order() -> None:
    from livingreview.effects import effect_direction

    studies = [study(study_id="Alpha2021", year=2021), study(study_id="Beta2014", year=2014)]
    out = effect_direction(studies, [], domains=["ptsd_severity"])
    assert [(r["study_id"], r["year"]) for r in out] == [("Beta2014", 2014), ("Alpha2021", 2021)]


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
@pytest.mark.parametrize(("n1", "n2"), [(0, 15), (15, 0), (0, 0)])
def test_counts_with_an_empty_arm_give_no_effect(measure: str, n1: int, n2: int) -> None:
    """An arm with no participants says nothing; the 0.5 correction must not turn 0/0 into a risk of 0.5."""
    r = row(statistic_kind="counts", events_intervention=0, n_intervention=n1, events_control=0 if n2 == 0 else 3, n_control=n2, lower_is_better=False)
    with pytest.raises(NotEstimable, match=rf"S1#1: n per arm {n1}/{n2}: an arm without participants gives no {measure}"):
        effect_from_row(r, measure, study=study())


def test_effect_direction_summary_writes_means_and_sds_with_one_precision() -> None:
    """'34.44 ± 19.12 vs 16.50 ± 11.39' as Pradhan 2018 reported it: outcomes.tsv keeps 16.50 as the number
    16.5, and the summary wrote '16.5' beside '34.44' (the same quantity in two precisions)."""
    from livingreview.effects import effect_direction

    r = row(domain="ptsd_response_duration", scale="duration of response (days)", statistic_kind="mean_sd", value_text="34.44 ± 19.12 vs 16.50 ± 11.39",
            mean_intervention=34.44, sd_intervention=19.12, mean_control=16.5, sd_control=11.39, p="0.022", favours="intervention")
    [out] = effect_direction([study()], [r], domains=["ptsd_response_duration"])
    assert out["summary"] == "34.44 ± 19.12 vs 16.50 ± 11.39, p 0.022" and out["summary"].startswith(r.value_text)
    whole = row(statistic_kind="mean_sd", mean_intervention=30.0, sd_intervention=8.0, mean_control=41.0, sd_control=9.5)
    [out] = effect_direction([study()], [whole], domains=["ptsd_severity"])
    assert out["summary"] == "30.0 ± 8.0 vs 41.0 ± 9.5"


def test_scipy_is_imported_only_by_the_functions_that_compute_with_it() -> None:
    """The plot and report jobs import livingreview.effects (labels, constants) and plots without
    loading scipy (about a second per job); the CI-based variance still uses scipy's 97.5% normal
    quantile (Z975, checked here to equal scipy.stats.norm.ppf(0.975)), and Z975 is still there as the module attribute it was."""
    from fresh_interpreter import run_fresh

    out = run_fresh(
        "import livingreview.effects, livingreview.plots, livingreview.trace",
        "print(sorted(m for m in ('scipy', 'scipy.stats', 'scipy.special') if m in sys.modules))",
        "from livingreview import effects",
        "from scipy import stats",
        "assert effects.Z975 == float(stats.norm.ppf(0.975))",
        "assert effects.variance_from_ci(1.0, 3.0) == (2.0 / (2 * float(stats.norm.ppf(0.975)))) ** 2",
    )
    assert out == "[]"


def test_the_start_up_check_computes_the_default_review_s_effects_without_scipy() -> None:
    """Snakemake's start computes the effects of every analysis (validate.check_inputs); the default
    review's need no scipy (a CI's variance takes Z975), whose scipy.stats import cost about 0.85 s
    CPU at every start."""
    from fresh_interpreter import run_fresh

    from conftest import shipped_project

    out = run_fresh(
        "import os",
        f"os.chdir({str(shipped_project())!r})",
        "from livingreview.config import load_config",
        "from livingreview.validate import check_inputs",
        "summary, _layout = check_inputs(load_config('config/config.yaml'))",
        "print(summary['outcome rows'] > 0, sorted(m for m in ('scipy', 'scipy.stats', 'scipy.special') if m in sys.modules))",
    )
    assert out == "True []"
