"""Hand-made synthetic cases checked against metafor 3.8 (REF["synthetic"], made by
tests/reference/make_metafor_reference.R): small-sample Hedges' g, SMD from an exact p, 2x2 tables
with a double-zero, a single-zero and an all-events arm, Knapp-Hartung leave-one-out, cumulative
(with a tied year) and 2-vs-3 subgroups, Egger at k = 10, and a tau² CI beyond metafor's search cap.
The pooled models of the synthetic data sets (k = 2, 3, 4, 5, 7; tau² = 0 and > 0) are in
REF["models"] and so run in test_meta_metafor.test_pool_equals_metafor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from livingreview.effects import NotEstimable, effect_from_row, smd_from_means, t_from_p, two_by_two
from livingreview.meta import (
    cumulative,
    egger_test,
    leave_one_out,
    pool,
    subgroup_analysis,
)
from test_effects import row, study

REF = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
SYN = REF["synthetic"]
TOL = REF["tolerances"]["metafor"]


def close(ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return abs(ours - theirs) <= TOL * max(1.0, abs(theirs))


def test_hedges_g_of_small_arms_equals_escalc_and_flips_when_lower_is_better() -> None:
    d = SYN["smd_means"]
    for i in range(3):
        args = (d["m1i"][i], d["sd1i"][i], int(d["n1i"][i]), d["m2i"][i], d["sd2i"][i], int(d["n2i"][i]))
        g, v = smd_from_means(*args)
        assert close(g, d["yi"][i]) and close(v, d["vi"][i]), (i, g, v, d["yi"][i], d["vi"][i])
        r = row(statistic_kind="mean_sd", mean_intervention=args[0], sd_intervention=args[1], n_intervention=args[2],
                mean_control=args[3], sd_control=args[4], n_control=args[5], lower_is_better=True)
        yi, vi, _ = effect_from_row(r, "SMD", study=study())
        assert close(yi, -d["yi"][i]) and close(vi, d["vi"][i])


def test_smd_from_exact_p_equals_escalc_of_the_t_for_either_direction_of_better() -> None:
    d = SYN["smd_exact_p"]
    for i in range(3):
        n1, n2, sgn = int(d["n1i"][i]), int(d["n2i"][i]), d["sgn"][i]
        assert close(t_from_p(d["p"][i], n1, n2, sign=sgn), d["ti"][i])
        # sgn < 0: intervention minus control is negative, which favours the intervention when lower is better
        r = row(statistic_kind="p_n", p=repr(d["p"][i]), n_intervention=n1, n_control=n2, direction="",
                favours="intervention" if sgn < 0 else "control", lower_is_better=True)
        yi, vi, _ = effect_from_row(r, "SMD", study=study())
        assert close(yi, -d["yi"][i]) and close(vi, d["vi"][i]), i
        r = row(statistic_kind="p_n", p=repr(d["p"][i]), n_intervention=n1, n_control=n2, direction="",
                favours="intervention" if sgn > 0 else "control", lower_is_better=False)
        yi, vi, _ = effect_from_row(r, "SMD", study=study())
        assert close(yi, d["yi"][i]) and close(vi, d["vi"][i]), i


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_double_zero_single_zero_and_all_events_tables_equal_escalc_only0(measure: str) -> None:
    d = SYN["two_by_two_zero_cells"]
    for i in range(4):
        a, n1, c, n2 = d["ai"][i], d["n1i"][i], d["ci"][i], d["n2i"][i]
        yi, vi, corrected = two_by_two(a, n1, c, n2, measure=measure)
        assert close(yi, d[measure]["yi"][i]) and close(vi, d[measure]["vi"][i]), (measure, i)
        assert corrected == (min(a, n1 - a, c, n2 - c) == 0)
        r = row(statistic_kind="counts", events_intervention=a, n_intervention=int(n1), events_control=c, n_control=int(n2), direction="", lower_is_better=True)
        if measure != "RD" and ((a == 0 and c == 0) or (a == n1 and c == n2)):
            # a ratio from a study with no events (or only events) in both arms is left out, as
            # Cochrane/RevMan and metafor's rma.mh do; escalc's value above is only the arithmetic
            with pytest.raises(NotEstimable, match="in both arms .*uninformative for an"):
                effect_from_row(r, measure, study=study())
            continue
        hy, hv, how = effect_from_row(r, measure, study=study())
        assert close(hy, -d[measure]["yi"][i]) and close(hv, d[measure]["vi"][i])
        assert ("0.5 added to every cell" in how) == corrected


@pytest.mark.parametrize("key", ["REML_knha", "PM_z"])
def test_leave_one_out_and_cumulative_with_a_tied_year_equal_metafor(key: str) -> None:
    data = REF["datasets"]["syn_k7_smd"]
    labels = [f"S{i + 1}" for i in range(7)]
    ref = SYN["leave1out"][key]
    got = leave_one_out(data["yi"], data["vi"], labels=labels, method=ref["method"], hksj=ref["hksj"])
    assert [g["omitted"] for g in got] == labels
    for i, g in enumerate(got):
        bad = {q: (g[q], ref[q][i]) for q in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "p") if not close(g[q], ref[q][i])}
        assert not bad, (ref["call"], i, bad)
    ref = SYN["cumulative"][key]
    got = cumulative(data["yi"], data["vi"], labels=labels, order=ref["year"], method=ref["method"], hksj=ref["hksj"])
    # 2012 twice (S2, S4): input order kept, as metafor's order()
    assert [g["added"] for g in got] == ["S2", "S4", "S1", "S6", "S3", "S7", "S5"]
    for i, g in enumerate(got):
        bad = {q: (g[q], ref[q][i]) for q in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2") if not close(g[q] if g[q] is not None else 0.0, ref[q][i])}
        assert not bad, (ref["call"], i, bad)


def _assert_subgroups_equal_metafor(got: dict[str, Any], ref: dict[str, Any]) -> None:
    """Every subgroup (shown fit and the Wald se the test used), the not-reported subgroup and Q-between, df, p."""
    reported = {name: g for name, g in got["groups"].items() if g["reported"]}
    assert sorted(reported) == sorted(ref["groups"])
    for name, g in ref["groups"].items():
        mine = got["groups"][name]
        assert mine["k"] == g["k"] and mine["in_test"] is True
        bad = {q: (mine[q], g[q]) for q in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "test_se") if not close(mine[q], g[q])}
        assert not bad, (ref["call"], name, bad)
    if ref["not_reported"] is None:
        assert "not reported" not in got["groups"] and got["not_in_test"] is None
    else:
        mine, g = got["groups"]["not reported"], ref["not_reported"]
        assert mine["k"] == g["k"] and mine["reported"] is False and mine["in_test"] is False and mine["test_se"] is None
        bad = {q: (mine[q], g[q]) for q in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q") if not close(mine[q], g[q])}
        assert not bad, (ref["call"], "not reported", bad)
    assert close(got["q_between"], ref["q_between"]) and got["df"] == ref["df"] and close(got["p"], ref["p"]), (ref["call"], got["q_between"])
    assert got["test_se"] == "wald" and got["reason"] is None


@pytest.mark.parametrize("key", ["REML_z", "REML_knha", "REML_adhoc", "PM_knha", "DL_z"])
def test_two_versus_three_subgroups_equal_separate_rma_fits_and_fe_q_between(key: str) -> None:
    data, ref = REF["datasets"]["syn_k5_subgroups"], SYN["subgroups"][key]
    got = subgroup_analysis(data["yi"], data["vi"], labels=[f"S{i + 1}" for i in range(5)], groups=ref["groups_of_studies"],
                            method=ref["method"], hksj=ref["hksj"], hksj_adhoc=ref["hksj_adhoc"])
    _assert_subgroups_equal_metafor(got, ref)
    # separate tau² per subgroup (RevMan), not metafor's one-tau² moderator test: a different number
    assert abs(got["q_between"] - ref["common_tau2_qm_not_used"]) > 0.5
    if ref["hksj"]:  # the subgroup CIs are Knapp-Hartung, the test's se is the Wald one, not the se shown
        assert not close(got["q_between"], ref["q_between_from_shown_se_not_used"])
        assert "Wald (z) SE" in got["test_note"] and "Knapp-Hartung" in got["test_note"]
    if ref["method"] == "REML":  # so the same Q as test="z"
        assert close(got["q_between"], SYN["subgroups"]["REML_z"]["q_between"])


@pytest.mark.parametrize("key", ["REML_knha", "REML_adhoc", "REML_z"])
def test_knapp_hartung_subgroup_test_uses_wald_se_not_the_knapp_hartung_se(key: str) -> None:
    """The statistician's example: Knapp-Hartung subgroup CIs -1.53 to 2.26 and -0.27 to 2.25 overlap widely, but a
    chi² Q from their Knapp-Hartung se gave 12.06 (p = 0.0005). From the Wald se (as metafor test="z"): 5.81 (p = 0.016)."""
    ref = SYN["subgroups_knha_example"][key]
    got = subgroup_analysis(ref["yi"], ref["vi"], labels=["A", "B", "C", "D"], groups=ref["groups_of_studies"],
                            method=ref["method"], hksj=ref["hksj"], hksj_adhoc=ref["hksj_adhoc"], column="dose")
    _assert_subgroups_equal_metafor(got, ref)
    assert round(got["q_between"], 2) == 5.81 and round(got["p"], 3) == 0.016
    if key == "REML_knha":
        assert (round(got["groups"]["AC"]["ci_low"], 2), round(got["groups"]["AC"]["ci_high"], 2)) == (-1.53, 2.26)
        assert (round(got["groups"]["BD"]["ci_low"], 2), round(got["groups"]["BD"]["ci_high"], 2)) == (-0.27, 2.25)
        assert round(ref["q_between_from_shown_se_not_used"], 2) == 12.06  # the old, anti-conservative test
        assert got["groups"]["BD"]["se"] < got["groups"]["BD"]["test_se"]


@pytest.mark.parametrize("key", ["REML_adhoc", "REML_knha", "REML_z"])
def test_studies_with_no_subgroup_value_are_shown_but_not_in_the_test(key: str) -> None:
    """Eight studies: a (k = 2), b (k = 3), c (k = 1) and two with no value. The two are a "not reported" subgroup
    with its own fit; Q-between (df = 2) is metafor's over a, b and c only."""
    ref = SYN["subgroups_not_reported"][key]
    labels = [f"S{i + 1}" for i in range(8)]
    got = subgroup_analysis(ref["yi"], ref["vi"], labels=labels, groups=ref["groups_of_studies"], method=ref["method"],
                            hksj=ref["hksj"], hksj_adhoc=ref["hksj_adhoc"], column="dose")
    _assert_subgroups_equal_metafor(got, ref)
    assert got["df"] == 2 and got["groups"]["not reported"]["studies"] == ["S6", "S7"]
    assert got["not_in_test"] == {"k": 2, "studies": ["S6", "S7"], "why": "k = 2 studies with no dose reported are not in the test"}
    # the same Q as the reported studies alone
    keep = [i for i, g in enumerate(ref["groups_of_studies"]) if g is not None]
    alone = subgroup_analysis([ref["yi"][i] for i in keep], [ref["vi"][i] for i in keep], labels=[labels[i] for i in keep],
                              groups=[ref["groups_of_studies"][i] for i in keep], method=ref["method"], hksj=ref["hksj"], hksj_adhoc=ref["hksj_adhoc"])
    assert alone["q_between"] == got["q_between"] and alone["not_in_test"] is None


def test_one_reported_subgroup_and_not_reported_studies_give_no_test_and_say_why() -> None:
    ref = SYN["subgroups_not_reported"]["REML_adhoc"]
    groups = ["a" if g is not None else None for g in ref["groups_of_studies"]]  # one reported subgroup (a) and two without a value
    got = subgroup_analysis(ref["yi"], ref["vi"], labels=[f"S{i + 1}" for i in range(8)], groups=groups, method="REML", hksj=True,
                            hksj_adhoc=True, column="dose")
    assert got["q_between"] is None and got["df"] is None and got["p"] is None
    assert got["reason"] == ("one subgroup with a reported dose (a), and a test for subgroup differences needs at least 2; "
                             "k = 2 studies with no dose reported are not in the test")
    assert close(got["groups"]["not reported"]["estimate"], ref["not_reported"]["estimate"]) and got["groups"]["a"]["k"] == 6


def test_egger_at_ten_studies_equals_regtest_lm_with_limit_estimate() -> None:
    ref = SYN["egger"]
    got = egger_test(ref["yi"], ref["vi"])
    assert got["run"] is True and got["df"] == ref["df"]
    assert close(got["t"], ref["t"]) and close(got["p"], ref["p"]) and close(got["limit_estimate"], ref["limit_estimate"])


def test_tau2_ci_upper_bound_is_the_q_profile_root_beyond_metafors_default_search_cap() -> None:
    # metafor's confint() stops at tau2.max = max(100, 10 tau²) and prints ">100" for this k = 2 case;
    # with tau2.max = 1e6 it finds the root that pool() returns (about 286).
    data = REF["datasets"]["syn_k2_het"]
    model: dict[str, Any] = next(m for m in REF["models"]["syn_k2_het"] if m["method"] == "REML" and not m["hksj"])
    assert "tau2.max=1e+06" in model["confint_call"]
    res = pool(data["yi"], data["vi"], method="REML")
    assert close(res.tau2_ci_high, model["tau2_ci_high"]) and res.tau2_ci_high > 100
    assert res.pi_low is None and res.pi_high is None  # k = 2: no t(k-2) prediction interval
