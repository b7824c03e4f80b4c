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
                 n_per_arm="", ketamine_dose_mg_per_kg=dose, infusions=infusions, infusion_schedule="", comparator="midazolam",
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
    out = analyse({"id": "x", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["infusions", "comparator_type", "ketamine_dose_mg_per_kg"]},
                  eff, studies)
    ref = pool([0.9, 1.1, 0.2, 0.5], [0.08, 0.1, 0.05, 0.04], method="REML", hksj=True)
    assert out["pooled"] is True and out["estimate"] == pytest.approx(ref.estimate) and out["df"] == 3
    assert [c["added"] for c in out["cumulative"]] == ["B", "D", "A", "C"]  # publication year order
    assert out["subgroups"]["infusions"]["run"] is True and set(out["subgroups"]["infusions"]["groups"]) == {"single", "repeated"}
    assert out["subgroups"]["comparator_type"] == {"run": False, "reason": "all studies in one subgroup (active)"}
    assert set(out["subgroups"]["ketamine_dose_mg_per_kg"]["groups"]) == {"0.2 mg/kg", "0.5 mg/kg"}
    assert len(out["leave_one_out"]) == 4 and sum(s["weight"] for s in out["studies"]) == pytest.approx(100.0)
    assert out["egger"]["run"] is False and "k = 4 < 10" in out["egger"]["reason"]


def test_tau2_zero_when_studies_agree() -> None:
    res = pool([0.3, 0.3, 0.3], [0.02, 0.02, 0.02], method="REML")
    assert res.tau2 == 0.0 and res.i2 == 0.0 and res.h2 == 1.0 and res.q == 0.0
    assert (res.pi_low, res.pi_high) == pytest.approx((res.ci_low, res.ci_high))
    assert res.tau2_ci_low == 0.0 and res.tau2_ci_high == 0.0


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
