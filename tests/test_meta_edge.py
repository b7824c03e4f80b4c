"""Pooling edge cases: k = 1, tau² = 0, identical studies, bad variances, the analysis JSON and the pool CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livingreview.cli import main
from livingreview.constants import POOL_JSON_KEYS
from livingreview.effects import Effect
from livingreview.errors import InputFormatError
from livingreview.extraction import Study
from livingreview.meta import analyse, pool


def make_study(sid: str, year: int, infusions: str = "single", dose: tuple[float, ...] = (0.5,)) -> Study:
    return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="", n_randomized=30,
                 n_per_arm="", dose=dose, infusions=infusions, infusion_schedule="", comparator="midazolam",
                 comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)


def test_k1_is_not_pooled_but_keeps_every_key() -> None:
    eff = [Effect("A", "x", "SMD", 1.13, 0.156, "A#2: d with CI"), Effect("B", "x", "SMD", None, None, "no numbers reported: PCL-5: not significant")]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["infusions"]},
                  eff, [make_study("A", 2021), make_study("B", 2022)])
    assert set(POOL_JSON_KEYS) <= set(out)
    assert out["pooled"] is False and out["k"] == 1 and out["estimate"] is None and "k = 1 < 2" in out["reason"]
    assert [s["study"] for s in out["studies"]] == ["A"] and out["studies"][0]["yi"] == 1.13
    assert out["not_estimable"] == [{"study": "B", "outcome_id": "", "reason": "no numbers reported: PCL-5: not significant"}]
    assert out["egger"]["run"] is False and out["funnel"]["drawn"] is False
    with pytest.raises(InputFormatError, match="k = 1"):
        pool([1.0], [0.1])


def test_md_on_different_scales_is_not_pooled() -> None:
    eff = [Effect("A", "x", "MD", 12.7, 26.8, "", scale="IES-R"), Effect("B", "x", "MD", 11.88, 15.7, "", scale="CAPS-5")]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "MD"}, eff, [make_study("A", 2014), make_study("B", 2021)])
    assert out["pooled"] is False and "needs one scale" in out["reason"] and "IES-R" in out["reason"]


def test_pooled_analysis_has_subgroups_cumulative_and_reasons() -> None:
    eff = [Effect(s, "x", "SMD", y, v, "", scale="CAPS-5") for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
    studies = [make_study("A", 2019, "single"), make_study("B", 2015, "repeated"), make_study("C", 2020, "single", (0.2,)), make_study("D", 2018, "repeated")]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["infusions", "comparator_type", "dose"]},
                  eff, studies, dose_unit="mg/kg")
    ref = pool([0.9, 1.1, 0.2, 0.5], [0.08, 0.1, 0.05, 0.04], method="REML", hksj=True)
    assert out["pooled"] is True and out["estimate"] == pytest.approx(ref.estimate) and out["df"] == 3
    assert [c["added"] for c in out["cumulative"]] == ["B", "D", "A", "C"]  # publication year order
    assert out["subgroups"]["infusions"]["run"] is True and set(out["subgroups"]["infusions"]["groups"]) == {"single", "repeated"}
    assert out["subgroups"]["comparator_type"] == {"run": False, "label": "active or inactive comparator", "reason": "all studies in one subgroup (active)"}
    assert set(out["subgroups"]["dose"]["groups"]) == {"0.2 mg/kg", "0.5 mg/kg"}
    assert len(out["leave_one_out"]) == 4 and sum(s["weight"] for s in out["studies"]) == pytest.approx(100.0)
    assert out["egger"]["run"] is False and "k = 4 < 10" in out["egger"]["reason"]


def test_studies_with_no_dose_are_a_not_reported_subgroup_left_out_of_the_test_as_metafor() -> None:
    """analyse(): a study with no value in the subgroup column is shown in a "not reported" subgroup (its own fit)
    but is not in the test for subgroup differences; Q-between equals metafor's over the reported doses only
    (tests/data/metafor_reference.json synthetic.subgroups_not_reported, the shipped REML + ad hoc Knapp-Hartung)."""
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    ref = ref["synthetic"]["subgroups_not_reported"]["REML_adhoc"]
    dose = {"a": (0.2,), "b": (0.5,), "c": (1.0,), None: ()}
    ids = [f"S{i + 1}" for i in range(8)]
    studies = [make_study(sid, 2010 + i, dose=dose[g]) for i, (sid, g) in enumerate(zip(ids, ref["groups_of_studies"]))]
    eff = [Effect(sid, "x", "SMD", y, v, "") for sid, y, v in zip(ids, ref["yi"], ref["vi"])]
    analysis = {"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "hksj_adhoc": True, "subgroups": ["dose"]}
    sub = analyse(analysis, eff, studies, dose_unit="mg/kg")["subgroups"]["dose"]
    assert sub["run"] is True and sorted(sub["groups"]) == ["0.2 mg/kg", "0.5 mg/kg", "1 mg/kg", "not reported"]
    nr = sub["groups"]["not reported"]
    assert nr["studies"] == ["S6", "S7"] and nr["reported"] is False and nr["in_test"] is False
    assert abs(nr["estimate"] - ref["not_reported"]["estimate"]) < 1e-6 and abs(nr["ci_low"] - ref["not_reported"]["ci_low"]) < 1e-6
    assert sub["df"] == 2 and abs(sub["q_between"] - ref["q_between"]) < 1e-6 * ref["q_between"] and abs(sub["p"] - ref["p"]) < 1e-6
    assert sub["not_in_test"]["why"] == "k = 2 studies with no dose reported are not in the test"
    # one reported dose and studies without one: both shown, no test, and why
    one = [make_study(sid, 2010 + i, dose=(0.5,) if g is not None else ()) for i, (sid, g) in enumerate(zip(ids, ref["groups_of_studies"]))]
    sub = analyse(analysis, eff, one, dose_unit="mg/kg")["subgroups"]["dose"]
    assert sub["run"] is True and sorted(sub["groups"]) == ["0.5 mg/kg", "not reported"] and sub["q_between"] is None
    assert sub["reason"] == ("one subgroup with a reported dose (0.5 mg/kg), and a test for subgroup differences needs at least 2; "
                             "k = 2 studies with no dose reported are not in the test")
    # no study reports a dose: not run
    none = [make_study(sid, 2010 + i, dose=()) for i, sid in enumerate(ids)]
    assert analyse(analysis, eff, none)["subgroups"]["dose"] == {"run": False, "label": "dose", "reason": "no study reports dose"}
    # the forest plot shows a subgroup analysis with a test before one without
    from livingreview.meta import forest_subgroup

    both = analyse({**analysis, "subgroups": ["dose", "infusions"]}, eff,
                   [make_study(s.study_id, s.year, infusions="repeated" if i % 2 else "single", dose=s.dose) for i, s in enumerate(one)])
    assert both["subgroups"]["dose"]["q_between"] is None and both["subgroups"]["infusions"]["q_between"] is not None
    assert forest_subgroup(both) == "infusions"
    assert forest_subgroup({"subgroups": {"dose": both["subgroups"]["dose"]}}) == "dose"
    assert forest_subgroup({"subgroups": {"dose": {"run": False, "reason": "no study reports dose"}}}) is None


def test_tau2_zero_when_studies_agree() -> None:
    res = pool([0.3, 0.3, 0.3], [0.02, 0.02, 0.02], method="REML")
    assert res.tau2 == 0.0 and res.i2 == 0.0 and res.h2 == 1.0 and res.q == 0.0
    t1 = 12.706204736174698  # t(0.975, df = k - 2 = 1)
    assert (res.pi_low, res.pi_high) == pytest.approx((0.3 - t1 * res.se, 0.3 + t1 * res.se))
    assert res.tau2_ci_low == 0.0 and res.tau2_ci_high == 0.0


def test_prediction_interval_uses_t_with_k_minus_2_df_and_needs_three_studies() -> None:
    # Higgins et al. 2009: estimate +/- t(k-2) sqrt(se^2 + tau^2), here with the Knapp-Hartung se.
    res = pool([0.1, 0.5, 0.9], [0.02, 0.03, 0.05], method="REML", hksj=True)
    half = 12.706204736174698 * (res.se**2 + res.tau2) ** 0.5
    assert (res.pi_low, res.pi_high) == pytest.approx((res.estimate - half, res.estimate + half))
    assert res.pi_low == pytest.approx(-4.87, abs=0.01) and res.pi_high == pytest.approx(5.82, abs=0.01)
    two = pool([0.2, 1.1], [0.02, 0.03], method="REML", hksj=True).to_json()
    assert two["pooled"] is True and two["pi_low"] is None and two["pi_high"] is None  # k = 2: no df left
    fixed = pool([0.1, 0.5, 0.9], [0.02, 0.03, 0.05], method="FE").to_json()
    assert fixed["pi_low"] is None and fixed["pi_high"] is None  # no between-study distribution


@pytest.mark.parametrize("vi", [0.0, -0.1, float("nan")])
def test_non_positive_variance_is_an_error_naming_the_row(vi: float) -> None:
    with pytest.raises(InputFormatError, match=r"effects.tsv:3: sampling variance vi must be > 0"):
        pool([0.1, 0.2], [0.1, vi], labels=["effects.tsv:2", "effects.tsv:3"])


def test_unknown_method_is_refused() -> None:
    with pytest.raises(InputFormatError, match="unknown method 'HS'"):
        pool([0.1, 0.2], [0.1, 0.1], method="HS")


def write_bcg(path: Path) -> None:
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    d = ref["datasets"]["bcg"]
    path.write_text("study\tyi\tvi\n" + "".join(f"T{int(t)}\t{y!r}\t{v!r}\n" for t, y, v in zip(d["trial"], d["yi"], d["vi"])), encoding="utf-8")


def test_pool_cli_json_keys_and_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    write_bcg(tmp_path / "bcg.tsv")
    assert main(["pool", str(tmp_path / "bcg.tsv"), "--method", "DL", "--hksj", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(POOL_JSON_KEYS) <= set(out) and out["pooled"] is True and out["method"] == "DL" and out["hksj"] is True
    expected = next(m for m in ref["models"]["bcg"] if m["method"] == "DL" and m["hksj"])
    assert out["estimate"] == pytest.approx(expected["estimate"], rel=1e-5) and out["tau2_ci_high"] == pytest.approx(expected["tau2_ci_high"], rel=1e-5)


def test_pool_cli_k1_and_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.tsv"
    one.write_text("study\tyi\tvi\nFeder2021\t1.13\t0.156\nFeder2014\t\t\n", encoding="utf-8")
    assert main(["pool", str(one), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"] is False and out["k"] == 1 and out["estimate"] is None and out["skipped"] == [f"{one}:3 Feder2014"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("study\tyi\tvi\nA\t0.1\t0.2\nB\t0.3\t-0.2\n", encoding="utf-8")
    assert main(["pool", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "vi must be > 0" in err and len(err.strip().splitlines()) == 1


def test_pool_cli_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_bcg(tmp_path / "bcg.tsv")
    assert main(["pool", str(tmp_path / "bcg.tsv")]) == 0
    text = capsys.readouterr().out
    assert "method: REML" in text and "tau^2 0.3132 (95% CI 0.1197 to 1.1115)" in text and "I^2 92.22%" in text


def test_pool_cli_hksj_adhoc_flag_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--hksj-adhoc (implies --hksj) is metafor test="adhoc"; --hksj stays test="knha"; the JSON says which (new key
    hksj_adhoc) and the text names the variant. Two studies that nearly agree: knha collapses, adhoc does not."""
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    d = ref["datasets"]["syn_k2_near"]
    near = tmp_path / "near.tsv"
    near.write_text("study\tyi\tvi\n" + "".join(f"S{i}\t{y!r}\t{v!r}\n" for i, (y, v) in enumerate(zip(d["yi"], d["vi"]))), encoding="utf-8")
    knha = next(m for m in ref["models"]["syn_k2_near"] if m["method"] == "REML" and m["hksj"])
    adhoc = next(m for m in ref["models_adhoc"]["syn_k2_near"] if m["method"] == "REML")
    for flags, expected in ((["--hksj"], knha), (["--hksj-adhoc"], adhoc), (["--hksj", "--hksj-adhoc"], adhoc)):
        assert main(["pool", str(near), *flags, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert set(POOL_JSON_KEYS) <= set(out) and out["hksj"] is True and out["hksj_adhoc"] is expected.get("hksj_adhoc", False), flags
        assert out["se"] == pytest.approx(expected["se"], rel=1e-5) and out["ci_low"] == pytest.approx(expected["ci_low"], rel=1e-5), flags
        assert out["ci_high"] == pytest.approx(expected["ci_high"], rel=1e-5), flags
    assert main(["pool", str(near), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hksj"] is False and out["hksj_adhoc"] is False
    assert main(["pool", str(near), "--hksj-adhoc"]) == 0
    text = capsys.readouterr().out
    assert "method: REML, Knapp-Hartung, ad hoc correction)" in text and "t(1)" in text and "95% CI -2.5362 to 3.1462" in text
    assert main(["pool", str(near), "--hksj"]) == 0
    text = capsys.readouterr().out
    assert "method: REML, Knapp-Hartung, no ad hoc correction)" in text and "95% CI 0.2415 to 0.3685" in text
    one = tmp_path / "one.tsv"
    one.write_text("study\tyi\tvi\nA\t0.3\t0.1\n", encoding="utf-8")
    assert main(["pool", str(one), "--hksj-adhoc", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"] is False and out["hksj"] is True and out["hksj_adhoc"] is True


def write_two_analyses(path: Path) -> None:
    """An effects.tsv-shaped table: the bcg trials as analysis bcg_rr (log RR), the same trials again as analysis bcg_md (MD)."""
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    d = ref["datasets"]["bcg"]
    rows = [f"T{int(t)}\tbcg_rr\tRR\t{y!r}\t{v!r}\n" for t, y, v in zip(d["trial"], d["yi"], d["vi"])]
    rows += [f"T{int(t)}\tbcg_md\tMD\t{2 * y!r}\t{v!r}\n" for t, y, v in zip(d["trial"], d["yi"], d["vi"])]
    path.write_text("study\tanalysis\tmeasure\tyi\tvi\n" + "".join(rows), encoding="utf-8")


def test_pool_cli_refuses_a_file_of_several_analyses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    effects = tmp_path / "effects.tsv"
    write_two_analyses(effects)
    assert main(["pool", str(effects), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (f"livingreview: error: {effects}: the file holds 2 analyses (bcg_md, bcg_rr); pooling them together would mix measures "
                                    "and count studies more than once; fix: pool one analysis with --analysis <id>")
    assert main(["pool", str(effects), "--analysis", "bcg_or"]) == 1
    err = capsys.readouterr().err
    assert f"{effects}: analysis 'bcg_or' is not in the file (analyses present: bcg_md, bcg_rr)" in err and "--analysis <id>" in err
    assert len(err.strip().splitlines()) == 1


def test_pool_cli_one_analysis_of_several_equals_metafor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = json.loads((Path(__file__).parent / "data" / "metafor_reference.json").read_text(encoding="utf-8"))
    expected = next(m for m in ref["models"]["bcg"] if m["method"] == "REML" and m["hksj"])
    effects = tmp_path / "effects.tsv"
    write_two_analyses(effects)
    assert main(["pool", str(effects), "--analysis", "bcg_rr", "--hksj", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"] is True and out["k"] == 13 and out["estimate"] == pytest.approx(expected["estimate"], rel=1e-5)
    assert out["ci_low"] == pytest.approx(expected["ci_low"], rel=1e-5) and out["tau2"] == pytest.approx(expected["tau2"], rel=1e-5)
    # A file holding a single analysis needs no --analysis and pools the same.
    single = tmp_path / "single.tsv"
    single.write_text("".join(line for line in effects.read_text(encoding="utf-8").splitlines(keepends=True) if "\tbcg_md\t" not in line), encoding="utf-8")
    assert main(["pool", str(single), "--hksj", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == out


def test_pool_cli_refuses_a_study_twice_and_mixed_measures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = tmp_path / "twice.tsv"
    twice.write_text("study\tyi\tvi\nA\t0.1\t0.2\nB\t0.3\t0.2\nA\t0.5\t0.1\n", encoding="utf-8")
    assert main(["pool", str(twice), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == (f"livingreview: error: {twice}:4: study A appears twice in the pool (first at line 2); "
                                                           "fix: keep one row per study (one estimate per study and analysis)")
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("study\tanalysis\tmeasure\tyi\tvi\nA\tx\tMD\t1.5\t0.2\nB\tx\tSMD\t0.3\t0.2\n", encoding="utf-8")
    assert main(["pool", str(mixed), "--analysis", "x"]) == 1
    err = capsys.readouterr().err
    assert f"{mixed}: the rows to pool use 2 measures (MD, SMD)" in err and "fix: pool one measure at a time" in err


def test_pool_cli_does_not_pool_mean_differences_on_two_scales(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = tmp_path / "md.tsv"
    md.write_text("study\tanalysis\tmeasure\tyi\tvi\tscale\nA\tsev_md\tMD\t12.7\t26.8\tIES-R\nB\tsev_md\tMD\t11.9\t15.7\tCAPS-5\nC\tsev_md\tMD\t\t\tCAPS-5\n",
                  encoding="utf-8")
    assert main(["pool", str(md), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"] is False and out["k"] == 2 and out["estimate"] is None and out["skipped"] == [f"{md}:4 C"]
    # no config here, so no standardized mean difference analysis to point to
    assert out["reason"] == "a mean difference needs one scale, the 2 studies used 2 scales (A: IES-R; B: CAPS-5); a standardized mean difference could compare them"


def test_pool_cli_header_only_effects_file_is_k0_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A review with no included study yet writes effects.tsv with its header only.
    empty = tmp_path / "effects.tsv"
    empty.write_text("study\tanalysis\tmeasure\tyi\tvi\n", encoding="utf-8")
    for args in (["--analysis", "ptsd_severity_md"], []):
        assert main(["pool", str(empty), *args, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["pooled"] is False and out["k"] == 0


def test_pool_cli_text_says_why_there_is_no_prediction_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two = tmp_path / "two.tsv"
    two.write_text("study\tyi\tvi\nA\t0.2\t0.02\nB\t1.1\t0.03\n", encoding="utf-8")
    assert main(["pool", str(two)]) == 0
    assert "; no PI (fixed effect or k < 3)" in capsys.readouterr().out


def test_subgroup_with_zero_knapp_hartung_standard_error_is_tested_with_its_wald_standard_error() -> None:
    """Knapp-Hartung gives se 0 to a subgroup whose studies agree exactly; the test for subgroup differences uses
    each subgroup's Wald se (sqrt(1 / sum(w))), which is never 0, so Q-between is defined."""
    from livingreview.meta import subgroup_analysis

    got = subgroup_analysis([0.3, 0.3, 0.9, 0.5], [0.02, 0.03, 0.05, 0.04], labels=["A", "B", "C", "D"], groups=["x", "x", "y", "y"], method="REML", hksj=True)
    wald = {g: pool(y, v, method="REML") for g, y, v in (("x", [0.3, 0.3], [0.02, 0.03]), ("y", [0.9, 0.5], [0.05, 0.04]))}
    assert got["groups"]["x"]["se"] == 0.0 and got["groups"]["x"]["test_se"] == wald["x"].se == pytest.approx(0.012**0.5)  # tau² = 0: 1 / (1/0.02 + 1/0.03) = 0.012
    w = [1 / wald[g].se ** 2 for g in ("x", "y")]
    est = [wald[g].estimate for g in ("x", "y")]
    mean = (w[0] * est[0] + w[1] * est[1]) / sum(w)
    assert got["q_between"] == pytest.approx(sum(wi * (e - mean) ** 2 for wi, e in zip(w, est)), rel=1e-12)
    assert got["df"] == 1 and got["reason"] is None


def test_studies_are_listed_by_publication_year_then_id_whatever_the_input_order() -> None:
    # effects.tsv lists studies by study_id; the forest plot and the JSON list them by year (ties by id)
    eff = [Effect(s, "x", "SMD", y, v, "") for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
    studies = [make_study("A", 2019), make_study("B", 2015), make_study("C", 2015), make_study("D", 2018)]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML"}, eff, studies)
    assert [(s["study"], s["year"]) for s in out["studies"]] == [("B", 2015), ("C", 2015), ("D", 2018), ("A", 2019)]
    assert [s["yi"] for s in out["studies"]] == [0.9, 0.5, 1.1, 0.2]  # each estimate stays with its study
    assert [r["omitted"] for r in out["leave_one_out"]] == ["B", "C", "D", "A"]


def test_funnel_is_drawn_at_exactly_funnel_min_k_studies() -> None:
    eff = [Effect(s, "x", "SMD", y, v, "") for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04))]
    studies = [make_study("A", 2019), make_study("B", 2015), make_study("C", 2020)]
    analysis = {"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML"}
    assert analyse(analysis, eff, studies, funnel_min_k=3)["funnel"] == {"drawn": True, "reason": None}
    assert analyse(analysis, eff[:2], studies, funnel_min_k=3)["funnel"] == {
        "drawn": False, "reason": "k = 2 < 3: a funnel plot needs at least 3 studies"}


def test_leave_one_out_of_two_studies_is_empty_not_an_error() -> None:
    from livingreview.meta import leave_one_out

    # leaving one of two out leaves a single study: nothing to refit (metafor's leave1out needs k >= 3 to pool)
    assert leave_one_out([0.2, 0.9], [0.05, 0.08], labels=["A", "B"]) == []
    three = leave_one_out([0.2, 0.9, 0.5], [0.05, 0.08, 0.04], labels=["A", "B", "C"], method="FE")
    # FE without A: inverse-variance mean of B and C = (0.9/0.08 + 0.5/0.04) / (1/0.08 + 1/0.04)
    assert [r["omitted"] for r in three] == ["A", "B", "C"] and three[0]["k"] == 2
    assert three[0]["estimate"] == pytest.approx((0.9 / 0.08 + 0.5 / 0.04) / (1 / 0.08 + 1 / 0.04))


def test_by_run_pools_the_studies_found_up_to_each_run() -> None:
    """The What's new pooled estimate: after each search run, the studies of the runs so far; fixed
    effect here, so each estimate is the inverse-variance mean computed by hand."""
    eff = [Effect(s, "x", "SMD", y, v, "", scale="CAPS-5") for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04))]
    studies = [make_study("A", 2019), make_study("B", 2015), make_study("C", 2020)]
    credited = [("2025-09-30", ["A"]), ("2025-10-31", []), ("2025-11-30", ["B", "C", "Z"]), ("2025-12-31", [])]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "FE"}, eff, studies, credited=credited)
    steps = out["by_run"]
    assert [(s["run_id"], s["added"], s["k"], s["pooled"]) for s in steps] == [
        ("2025-09-30", ["A"], 1, False), ("2025-10-31", [], 1, False), ("2025-11-30", ["B", "C"], 3, True), ("2025-12-31", [], 3, True)]
    assert steps[0]["estimate"] is None and "k = 1 < 2" in steps[0]["reason"]
    w = {"A": 1 / 0.05, "B": 1 / 0.08, "C": 1 / 0.04}
    by_hand = (0.2 * w["A"] + 0.9 * w["B"] + 0.5 * w["C"]) / sum(w.values())
    se = sum(w.values()) ** -0.5
    assert steps[2]["estimate"] == pytest.approx(by_hand) == pytest.approx(out["estimate"])
    assert (steps[2]["ci_low"], steps[2]["ci_high"]) == (pytest.approx(by_hand - 1.959964 * se, abs=1e-5), pytest.approx(by_hand + 1.959964 * se, abs=1e-5))
    assert steps[3]["estimate"] == steps[2]["estimate"]
    assert analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, eff, studies)["by_run"] == []


def test_by_run_follows_the_one_scale_rule_and_names_a_study_no_run_found() -> None:
    from livingreview.errors import ReconciliationError

    eff = [Effect("A", "x", "MD", 12.7, 26.8, "", scale="IES-R"), Effect("B", "x", "MD", 11.88, 15.7, "", scale="CAPS-5")]
    studies = [make_study("A", 2014), make_study("B", 2021)]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "MD"}, eff, studies, credited=[("2025-09-30", ["A", "B"])])
    assert out["by_run"][0]["pooled"] is False and "needs one scale" in out["by_run"][0]["reason"]
    with pytest.raises(ReconciliationError, match=r"analysis x: B added by no search run's summary\.json.*fix: re-run the whats_new rule"):
        analyse({"id": "x", "domain": "ptsd_severity", "measure": "MD"}, eff, studies, credited=[("2025-09-30", ["A"])])


def test_smd_of_change_scores_and_final_values_is_not_pooled() -> None:
    # Cochrane Handbook 10.5.2: change-score SDs differ from final-value SDs, so their SMDs do not combine.
    change = "A#1: Hedges' g from change-score means/SDs, n 20/20 (escalc SMD); sign flipped so that positive favours the intervention (lower is better)."
    final = "B#1: Hedges' g from follow-up means/SDs, n 15/15 (escalc SMD); sign flipped so that positive favours the intervention (lower is better)."
    reported = "C#1: SMD/d 1.13 (95% CI 0.36 to 1.91) as reported; vi from the CI; sign kept: positive favours the intervention (as reported)."
    studies = [make_study("A", 2014), make_study("B", 2021), make_study("C", 2022)]
    eff = [Effect("A", "x", "SMD", 0.5, 0.1, change), Effect("B", "x", "SMD", 0.8, 0.14, final), Effect("C", "x", "SMD", 1.13, 0.156, reported)]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, eff, studies)
    assert out["pooled"] is False and out["estimate"] is None and out["k"] == 3
    assert out["reason"] == ("a standardized mean difference cannot combine change scores with final values, since their SDs differ "
                             "(Cochrane Handbook 10.5.2) (A: change scores; B: final values); the study estimates are shown")
    # one basis (the reported d's basis is unknown) pools
    same = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, [eff[1], eff[2]], studies)
    assert same["pooled"] is True and same["k"] == 2


def test_analysis_hksj_adhoc_key_picks_the_variant_everywhere_and_the_schema_defaults_it_to_true() -> None:
    """analyses[].hksj_adhoc (the pool stage's analyse()): the pooled model, subgroups, leave-one-out, cumulative and
    by-run steps all use the same variant; the config schema fills hksj_adhoc: true, and config/config.yaml sets it."""
    import copy

    import yaml

    from livingreview.config import validate_config

    root = Path(__file__).parent.parent
    studies = [make_study("A", 2019), make_study("B", 2020), make_study("C", 2021, infusions="repeated")]
    eff = [Effect(s, "x", "SMD", y, 0.1, "test") for s, y in (("A", 0.30), ("B", 0.31), ("C", 0.305))]
    base = {"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["infusions"]}
    credited = [("2020-01-01", ["A", "B"]), ("2021-01-01", ["C"])]
    for adhoc in (True, False):
        out = analyse({**base, "hksj_adhoc": adhoc}, eff, studies, credited=credited)
        ref = pool([0.30, 0.31, 0.305], [0.1] * 3, method="REML", hksj=True, hksj_adhoc=adhoc)
        two = pool([0.30, 0.31], [0.1, 0.1], method="REML", hksj=True, hksj_adhoc=adhoc)
        assert out["hksj"] is True and out["hksj_adhoc"] is adhoc and out["ci_low"] == ref.ci_low and out["se"] == ref.se
        assert out["cumulative"][1]["ci_low"] == two.ci_low and out["by_run"][0]["ci_low"] == two.ci_low
        assert out["subgroups"]["infusions"]["groups"]["single"]["se"] == two.se
        assert out["leave_one_out"][2]["se"] == two.se  # C omitted: A and B
        if adhoc:  # never below the random-effects se sqrt(1/sum(w)) (tau² = 0 here)
            assert ref.se == pytest.approx((1 / 30) ** 0.5) and two.se == pytest.approx((1 / 20) ** 0.5)
        else:  # studies agree: knha is far narrower
            assert ref.se < 0.01 and two.se < 0.01
    # hksj: false -> the key has no effect and the JSON says false
    out = analyse({**base, "hksj": False, "hksj_adhoc": True}, eff, studies)
    assert out["hksj"] is False and out["hksj_adhoc"] is False and out["df"] is None
    # not pooled (k = 1): the JSON still says which variant the model would use
    out = analyse({**base, "hksj_adhoc": True}, eff[:1], studies)
    assert out["pooled"] is False and out["hksj_adhoc"] is True
    raw = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert [a.get("hksj_adhoc") for a in raw["synthesis"]["analyses"]] == [True] * len(raw["synthesis"]["analyses"])
    bare = copy.deepcopy(raw)
    for a in bare["synthesis"]["analyses"]:
        del a["hksj_adhoc"]
    filled = validate_config(bare, where="test config")
    assert all(a["hksj_adhoc"] is True for a in filled["synthesis"]["analyses"])


def test_studies_that_cannot_be_pooled_get_no_funnel_plot_and_no_egger_test() -> None:
    """An analysis not pooled because its studies do not combine (SMDs of change scores and of final values;
    mean differences on different scales) drew a funnel plot of them around their fixed-effect average, and
    from egger_min_k studies ran Egger's test on them; the report then said 'Funnel plot: drawn from 3 studies'
    under 'Not pooled: ... cannot combine'. Neither is done now, and the reason names why."""
    change = "Hedges' g from change-score means/SDs, n 20/20 (escalc SMD)"
    final = "Hedges' g from follow-up means/SDs, n 15/15 (escalc SMD)"
    studies = [make_study(s, 2010 + i) for i, s in enumerate("ABCD")]
    eff = [Effect("A", "x", "SMD", 0.5, 0.1, change), Effect("B", "x", "SMD", 0.8, 0.14, final), Effect("C", "x", "SMD", 0.6, 0.12, final)]
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, eff, studies, egger_min_k=3)
    assert out["pooled"] is False
    why = f"the studies are not pooled: {out['reason']}"
    assert out["funnel"] == {"drawn": False, "reason": why}
    assert out["egger"] == {"run": False, "k": 3, "reason": why}
    # the same studies on one basis: drawn and run as before
    same = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, [Effect(e.study, "x", "SMD", e.yi, e.vi, final) for e in eff], studies, egger_min_k=3)
    assert same["pooled"] is True and same["funnel"] == {"drawn": True, "reason": None} and same["egger"]["run"] is True
    # too few studies keeps the k message
    two = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD"}, eff[:2], studies)
    assert two["funnel"]["reason"] == "k = 2 < 3: a funnel plot needs at least 3 studies" and two["egger"]["reason"].startswith("k = 2 < 10")


def test_statsmodels_is_imported_only_for_the_dl_and_pm_estimators() -> None:
    """A REML pool job (the default review's method) does not load statsmodels (and the pandas it
    imports); DL and PM still use statsmodels' combine_effects and give its tau²."""
    from fresh_interpreter import run_fresh

    out = run_fresh(
        "import numpy as np",
        "from livingreview import meta, plots",
        "y, v = np.array([0.1, 0.5, 0.9, -0.2]), np.array([0.04, 0.05, 0.08, 0.03])",
        "meta.pool(list(y), list(v), method='REML')",
        "print(sorted(m for m in ('statsmodels', 'pandas') if m in sys.modules))",
        "from statsmodels.stats.meta_analysis import combine_effects",
        "assert meta.tau2_dl(y, v) == max(0.0, float(combine_effects(y, v, method_re='dl').tau2)) > 0",
        "assert meta.pool(list(y), list(v), method='PM').tau2 > 0",
    )
    assert out == "[]"
