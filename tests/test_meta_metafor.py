"""Pooling pinned to metafor 3.8 (tests/data/metafor_reference.json, made by tests/reference/make_metafor_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from livingreview.meta import cumulative, egger_test, leave_one_out, pool, subgroup_analysis

REF = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
METAFOR_TOL = REF["tolerances"]["metafor"]  # 1e-6, relative to max(1, |metafor value|)
KEYS = ("estimate", "se", "ci_low", "ci_high", "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q", "q_p")


def higgins_pi(model: dict[str, Any]) -> tuple[float | None, float | None]:
    """The 95% prediction interval of Higgins et al. 2009 (Cochrane Handbook 10.10.4.3) from metafor's
    estimate, se and tau2: estimate +/- t(k-2) sqrt(se^2 + tau2); none for FE or k < 3. (metafor's
    own predict() uses a normal or t(k-1) quantile, kept in the reference as pi_low/pi_high.)"""
    from scipy import stats

    if model["method"] == "FE" or model["k"] < 3:
        return None, None
    half = stats.t.ppf(0.975, model["k"] - 2) * (model["se"] ** 2 + model["tau2"]) ** 0.5
    return model["estimate"] - half, model["estimate"] + half


def close(ours: float | None, theirs: float | None) -> bool:
    """Equal within METAFOR_TOL (both None also counts as equal)."""
    if theirs is None or ours is None:
        return ours is None and theirs is None
    return abs(ours - theirs) <= METAFOR_TOL * max(1.0, abs(theirs))


CASES = [(ds, m) for ds, models in REF["models"].items() for m in models]


@pytest.mark.parametrize(("dataset", "model"), CASES, ids=[f"{ds}-{m['method']}-{'knha' if m['hksj'] else 'z'}" for ds, m in CASES])
def test_pool_equals_metafor(dataset: str, model: dict[str, Any]) -> None:
    data = REF["datasets"][dataset]
    res = pool(data["yi"], data["vi"], method=model["method"], hksj=model["hksj"]).to_json()
    assert res["k"] == model["k"]
    bad = {key: (res[key], model[key]) for key in KEYS if not close(res[key], model[key])}
    assert not bad, f"differs from {model['call']}: {bad}"
    lo, hi = higgins_pi(model)
    assert close(res["pi_low"], lo) and close(res["pi_high"], hi), (res["pi_low"], res["pi_high"], lo, hi)


def test_leave_one_out_equals_metafor() -> None:
    data, ref = REF["datasets"]["bcg"], REF["bcg_leave1out"]
    labels = [str(int(t)) for t in data["trial"]]
    got = leave_one_out(data["yi"], data["vi"], labels=labels, method="REML")
    assert [g["omitted"] for g in got] == labels
    for key, ref_key in (("estimate", "estimate"), ("se", "se"), ("tau2", "tau2"), ("i2", "i2"), ("q", "q")):
        assert all(close(g[key], r) for g, r in zip(got, ref[ref_key])), key


def test_cumulative_by_year_equals_metafor() -> None:
    data, ref = REF["datasets"]["bcg"], REF["bcg_cumulative"]
    labels = [str(int(t)) for t in data["trial"]]
    got = cumulative(data["yi"], data["vi"], labels=labels, order=data["year"], method="REML")
    assert [int(g["added"]) for g in got] == [int(t) for t in ref["order_trial"]]
    # metafor's first step is the single study: estimate = yi, se = sqrt(vi), tau2 = 0
    assert all(close(g["estimate"], r) for g, r in zip(got, ref["estimate"]))
    assert all(close(g["se"], r) for g, r in zip(got, ref["se"]))
    assert all(close(g["tau2"] or 0.0, r) for g, r in zip(got, ref["tau2"]))


def test_subgroup_by_allocation_equals_metafor() -> None:
    data, ref = REF["datasets"]["bcg"], REF["bcg_subgroup_alloc"]
    labels = [str(int(t)) for t in data["trial"]]
    got = subgroup_analysis(data["yi"], data["vi"], labels=labels, groups=data["alloc"], method="REML")
    assert sorted(got["groups"]) == sorted(ref["groups"])
    for name, g in ref["groups"].items():
        mine = got["groups"][name]
        assert mine["k"] == g["k"]
        assert all(close(mine[key], g[key]) for key in ("estimate", "se", "tau2", "q", "test_se")), name
    assert close(got["q_between"], ref["q_between"]) and got["df"] == ref["df"] and close(got["p"], ref["p"])


def test_egger_equals_metafor_regtest_lm() -> None:
    data, ref = REF["datasets"]["bcg"], REF["bcg_egger"]
    got = egger_test(data["yi"], data["vi"])
    assert got["run"] is True and got["df"] == ref["df"]
    assert close(got["t"], ref["t"]) and close(got["p"], ref["p"])


def test_egger_refuses_below_ten_studies() -> None:
    data = REF["datasets"]["normand"]  # k = 9
    got = egger_test(data["yi"], data["vi"])
    assert got["run"] is False and "k = 9 < 10" in got["reason"]
    assert egger_test(data["yi"], data["vi"], min_k=9)["run"] is True


def _entries(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every dict of the reference that holds a computed value (has a ``call``), with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "call" in node and any(k in node for k in ("yi", "estimate", "t", "q_between")):
            found.append((path, node))
        for key, value in node.items():
            found += _entries(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _entries(value, f"{path}/{i}")
    return found


def test_reference_covers_the_issue_and_names_call_and_tolerance_for_every_value() -> None:
    assert REF["generated_by"] == "tests/reference/make_metafor_reference.R"
    assert (Path(__file__).parent / "reference" / "make_metafor_reference.R").is_file()
    assert REF["tolerances"] == {"metafor": 1e-6}
    entries = [(p, e) for p, e in _entries(REF) if not p.startswith(("/datasets/hom", "/datasets/same"))]
    assert len(entries) >= 2 * 8 + 4 + 3 + 3  # bcg and normand models, bcg extras, escalc data sets, 2x2 measures
    unnamed = [p for p, e in entries if e.get("tolerance") not in REF["tolerances"] or not e["call"]]
    assert not unnamed, unnamed
    for dataset in ("bcg", "normand"):
        fitted = {(m["method"], m["hksj"]) for m in REF["models"][dataset]}
        assert fitted == {(m, kh) for m in ("FE", "DL", "REML", "PM") for kh in (False, True)}, dataset
        for m in REF["models"][dataset]:
            assert m["pi_low"] is not None and m["i2"] is not None
            assert (m["tau2_ci_low"] is None) == (m["method"] == "FE")
    assert 'measure="RR"' in REF["datasets"]["bcg"]["call"] and "dat.bcg" in REF["datasets"]["bcg"]["call"]
    assert 'measure="SMD"' in REF["datasets"]["normand"]["call"] and "dat.normand1999" in REF["datasets"]["normand"]["call"]
    assert len(REF["bcg_leave1out"]["estimate"]) == 13 and set(REF["bcg_subgroup_alloc"]["groups"]) == {"alternate", "random", "systematic"}


ADHOC_CASES = [(ds, m) for ds, models in REF["models_adhoc"].items() for m in models]


@pytest.mark.parametrize(("dataset", "model"), ADHOC_CASES, ids=[f"{ds}-{m['method']}-adhoc" for ds, m in ADHOC_CASES])
def test_pool_hksj_adhoc_equals_metafor_test_adhoc(dataset: str, model: dict[str, Any]) -> None:
    assert model["hksj"] is True and model["hksj_adhoc"] is True and 'test="adhoc"' in model["call"]
    data = REF["datasets"][dataset]
    res = pool(data["yi"], data["vi"], method=model["method"], hksj=True, hksj_adhoc=True).to_json()
    assert res["k"] == model["k"] and res["hksj"] is True and res["hksj_adhoc"] is True
    bad = {key: (res[key], model[key]) for key in KEYS if not close(res[key], model[key])}
    assert not bad, f"differs from {model['call']}: {bad}"
    lo, hi = higgins_pi(model)
    assert close(res["pi_low"], lo) and close(res["pi_high"], hi), (res["pi_low"], res["pi_high"], lo, hi)


def test_reference_holds_adhoc_fits_where_they_differ_from_knha_and_where_they_do_not() -> None:
    assert {(ds, m["method"]) for ds, m in ADHOC_CASES} >= {("bcg", "REML"), ("bcg", "DL"), ("syn_k2_near", "REML"), ("syn_k2_near", "DL")}
    knha = {(ds, m["method"]): m for ds, models in REF["models"].items() for m in models if m["hksj"]}
    for ds, m in ADHOC_CASES:
        plain = knha[(ds, m["method"])]
        if ds == "bcg":  # studies disagree more than their variances say: s² > 1, the correction does nothing
            assert close(m["se"], plain["se"]) and close(m["ci_low"], plain["ci_low"])
        else:  # studies agree (near-)exactly: s² < 1, knha is narrower than adhoc
            assert m["se"] > 10 * plain["se"], (ds, m["se"], plain["se"])


def test_knha_collapses_when_two_studies_agree_and_adhoc_does_not() -> None:
    """Two studies, yi 0.30 and 0.31, vi 0.1 each (REML tau² = 0): plain Knapp-Hartung gives a CI of 0.24 to 0.37,
    far narrower than the fixed-effect CI (-0.13 to 0.74) from the same two studies; the ad hoc correction keeps the
    se at the random-effects se (here sqrt(1/20)) and, with t(1), gives -2.54 to 3.15. Values as metafor test="knha"/"adhoc"."""
    data = REF["datasets"]["syn_k2_near"]
    assert data["yi"] == [0.30, 0.31] and data["vi"] == [0.1, 0.1]
    fe = pool(data["yi"], data["vi"], method="FE")
    knha = pool(data["yi"], data["vi"], method="REML", hksj=True)
    adhoc = pool(data["yi"], data["vi"], method="REML", hksj=True, hksj_adhoc=True)
    assert knha.hksj_adhoc is False and adhoc.hksj_adhoc is True and knha.tau2 == adhoc.tau2 == 0.0
    ref_fe = next(m for m in REF["models"]["syn_k2_near"] if m["method"] == "FE" and not m["hksj"])
    ref_knha = next(m for m in REF["models"]["syn_k2_near"] if m["method"] == "REML" and m["hksj"])
    ref_adhoc = next(m for m in REF["models_adhoc"]["syn_k2_near"] if m["method"] == "REML")
    for ours, ref in ((fe, ref_fe), (knha, ref_knha), (adhoc, ref_adhoc)):
        assert close(ours.se, ref["se"]) and close(ours.ci_low, ref["ci_low"]) and close(ours.ci_high, ref["ci_high"]), ref["call"]
    assert round(knha.ci_low, 2) == 0.24 and round(knha.ci_high, 2) == 0.37 and round(fe.ci_low, 2) == -0.13 and round(fe.ci_high, 2) == 0.74
    assert fe.ci_low < knha.ci_low and knha.ci_high < fe.ci_high  # the collapse: narrower than fixed effect
    assert round(adhoc.ci_low, 2) == -2.54 and round(adhoc.ci_high, 2) == 3.15 and close(adhoc.se, (1 / 20) ** 0.5)
    assert adhoc.ci_low < fe.ci_low and fe.ci_high < adhoc.ci_high
    assert knha.estimate == adhoc.estimate and knha.df == adhoc.df == 1
    # identical studies: knha se = 0 (an infinite t statistic), adhoc se = the random-effects se (metafor: 0.0816)
    same = REF["datasets"]["same"]
    assert pool(same["yi"], same["vi"], method="REML", hksj=True).se == 0.0
    assert close(pool(same["yi"], same["vi"], method="REML", hksj=True, hksj_adhoc=True).se, REF["models_adhoc"]["same"][0]["se"])
    # without hksj the keyword has no effect and is not reported as used
    z = pool(data["yi"], data["vi"], method="REML", hksj_adhoc=True)
    assert z.hksj_adhoc is False and z.df is None and close(z.ci_low, fe.ci_low)
