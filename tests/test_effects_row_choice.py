"""Which outcomes.tsv row a study contributes to an analysis, and what happened to the others.

Several rows of one study can fall in an analysis's domain and window (two arms against one
control, two timepoints, a contrast and arm-level data). The first in the protocol's order is used;
the effect's how now names every other row and why it was not used, and two rows that tie on every
ordering key but give different estimates are refused instead of being chosen by file order.
The numbers of S1 below are SYNTHETIC (made up for the test).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from livingreview.config import load_config
from livingreview.effects import analysis_effects, run_compute_effects
from livingreview.errors import ConfigError
from livingreview.extraction import OutcomeRow, Study
from livingreview.tables import read_tsv

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
MD = {"id": "sev_md", "domain": "ptsd_severity", "measure": "MD", "timepoint_days": {"min": 1, "max": 14}}


def study() -> Study:
    return Study(study_id="S1", reports=("1",), primary_report="1", year=2020, design="parallel", crossover=False, population="", n_randomized=60,
                 n_per_arm="20/20/20", dose=(0.2, 0.5), infusions="single", infusion_schedule="", comparator="saline", comparator_type="inactive",
                 co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)


def arm(oid: str, mean: float, *, line: int, primary: bool = True, days: float = 14.0, kind: str = "mean_sd", **kw: object) -> OutcomeRow:
    """A CAPS-5 row of S1: one ketamine arm (mean ± 10, n 20) against the shared saline arm (40 ± 10, n 20)."""
    base = dict(outcome_id=oid, study_id="S1", report_key="1", domain="ptsd_severity", scale="CAPS-5", timepoint=f"day {days:g}", timepoint_days=days,
                primary_endpoint=primary, statistic_kind=kind, statistic="", value_text="", estimate=None, ci_low=None, ci_high=None, se=None, p="",
                t=None, n_intervention=20, n_control=20, mean_intervention=mean, sd_intervention=10.0, mean_control=40.0, sd_control=10.0,
                events_intervention=None, events_control=None, direction="intervention_minus_control", lower_is_better=True, favours="",
                significant="", inferred=False, note="", sources="", location="synthetic", line=line)
    base.update(kw)
    return OutcomeRow(**base)  # type: ignore[arg-type]


LOW, HIGH = arm("S1#1", 35.0, line=7), arm("S1#2", 30.0, line=8)  # 0.2 mg/kg and 0.5 mg/kg, each vs saline


def test_two_tied_arms_giving_different_estimates_are_refused_naming_both_lines() -> None:
    with pytest.raises(ConfigError) as err:
        analysis_effects(MD, [study()], [LOW, HIGH])
    msg = str(err.value)
    assert msg.startswith("outcomes.tsv:7 and outcomes.tsv:8: analysis sev_md: S1 has two primary-endpoint mean_sd rows in the window (1 to 14 days)")
    assert "S1#1 and S1#2" in msg and "\n" not in msg
    assert "fix: set primary_endpoint true on the row to pool and false on the other, or narrow timepoint_days of analysis sev_md" in msg


def test_marking_one_arm_primary_uses_it_and_names_the_other() -> None:
    (eff,) = analysis_effects(MD, [study()], [LOW, arm("S1#2", 30.0, line=8, primary=False)])
    # 35 - 40 = -5 on a lower-is-better scale: yi 5; vi = 10²/20 + 10²/20
    assert (eff.outcome_id, eff.yi, eff.vi) == ("S1#1", 5.0, 10.0)
    assert eff.how.endswith("Also in the window, not used: S1#2 (a primary-endpoint row comes first).")
    # the other way round: the row order in outcomes.tsv does not matter once the reviewer decided
    (eff,) = analysis_effects(MD, [study()], [arm("S1#1", 35.0, line=7, primary=False), HIGH])
    assert (eff.outcome_id, eff.yi) == ("S1#2", 10.0) and eff.how.endswith("Also in the window, not used: S1#1 (a primary-endpoint row comes first).")


def test_a_narrower_window_leaves_the_other_timepoint_outside_and_says_so() -> None:
    early, late = arm("S1#1", 35.0, line=7, days=1.0), arm("S1#2", 30.0, line=8, days=14.0)
    with pytest.raises(ConfigError, match="two primary-endpoint mean_sd rows in the window"):
        analysis_effects(MD, [study()], [early, late])
    (eff,) = analysis_effects({**MD, "timepoint_days": {"min": 1, "max": 7}}, [study()], [early, late])
    assert eff.outcome_id == "S1#1" and eff.yi == 5.0
    assert eff.how.endswith("Outside the window (1 to 7 days): S1#2 (14 days).")


def test_kind_order_and_not_estimable_rows_are_named_with_their_reason() -> None:
    contrast = arm("S1#2", 0.0, line=8, kind="md_ci", estimate=-5.0, ci_low=-11.0, ci_high=1.0, mean_intervention=None, mean_control=None,
                   sd_intervention=None, sd_control=None)
    words = arm("S1#3", 0.0, line=9, kind="p_only", p="0.03", mean_intervention=None, mean_control=None, sd_intervention=None, sd_control=None)
    (eff,) = analysis_effects(MD, [study()], [words, contrast, LOW])
    assert eff.outcome_id == "S1#1" and eff.yi == 5.0 and eff.vi == 10.0
    assert eff.how.endswith("Also in the window, not used: S1#2 (mean_sd comes before md_ci); "
                            "S1#3 (not estimable as MD: p_only gives no mean difference with a precision).")
    # the tie check is about the row used: a tie between rows ranked after it changes nothing
    (eff,) = analysis_effects(MD, [study()], [LOW, arm("S1#2", 30.0, line=8, primary=False), arm("S1#3", 32.0, line=9, primary=False)])
    assert eff.outcome_id == "S1#1" and "S1#2 (a primary-endpoint row comes first); S1#3 (a primary-endpoint row comes first)" in eff.how


def test_a_tie_giving_the_same_numbers_uses_the_first_and_says_so() -> None:
    """The same arm data restated by a second report: the choice cannot move the result."""
    again = arm("S1#2", 35.0, line=8, report_key="2")
    (eff,) = analysis_effects(MD, [study()], [LOW, again])
    assert (eff.outcome_id, eff.yi, eff.vi) == ("S1#1", 5.0, 10.0)
    assert eff.how.endswith("S1#2 (ties with S1#1 and gives the same yi and vi; the earlier outcomes.tsv line is used).")


def test_effects_stage_refuses_a_tie_and_writes_nothing(tmp_path: Path) -> None:
    """The shipped tables plus a synthetic second primary-endpoint MD row for Feder2021 (estimate -5, SE 3; made up)."""
    outcomes = tmp_path / "outcomes.tsv"
    text = (shipped_resources() / "extraction" / "outcomes.tsv").read_text(encoding="utf-8")
    rows = read_tsv(shipped_resources() / "extraction" / "outcomes.tsv")
    header = text.splitlines()[0].split("\t")
    f21 = next(r for r in rows if r["outcome_id"] == "Feder2021#1")
    extra = {**{k: f21[k] for k in header}, "outcome_id": "Feder2021#99", "estimate": "-5", "value_text": "-5", "se": "3", "location": "synthetic test row"}
    outcomes.write_text(text + "\t".join(extra[k] for k in header) + "\n", encoding="utf-8")
    new_line = len(text.splitlines()) + 1
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    with pytest.raises(ConfigError) as err:
        run_compute_effects(outcomes_path=outcomes, studies_path=shipped_resources() / "extraction" / "studies.tsv", included_path=None,
                            synthesis=synthesis, effects_out=tmp_path / "effects.tsv", direction_out=tmp_path / "direction.tsv")
    assert str(err.value).startswith(f"{outcomes}:{f21['_line']} and {outcomes}:{new_line}: analysis ptsd_severity_md: Feder2021 has two "
                                     "primary-endpoint md_se rows")
    assert not (tmp_path / "effects.tsv").exists() and not (tmp_path / "direction.tsv").exists()


def test_default_review_names_the_rows_it_did_not_use(tmp_path: Path) -> None:
    res = shipped_resources() / "extraction"
    synthesis = load_config(ROOT / "config" / "config.yaml")["synthesis"]
    run_compute_effects(outcomes_path=res / "outcomes.tsv", studies_path=res / "studies.tsv", included_path=None, synthesis=synthesis,
                        effects_out=tmp_path / "effects.tsv", direction_out=tmp_path / "direction.tsv")
    got = {(r["analysis"], r["study"]): r for r in read_tsv(tmp_path / "effects.tsv")}
    f14 = got[("ptsd_severity_md", "Feder2014")]
    assert f14["outcome_id"] == "Feder2014#1" and math.isclose(float(f14["yi"]), 12.7)
    assert f14["how"].endswith("Also in the window, not used: Feder2014#2 (not estimable as MD: md_only gives no mean difference with a precision).")
    assert got[("ptsd_severity_smd", "Feder2021")]["how"].endswith(
        "Also in the window, not used: Feder2021#1 (not estimable as SMD: mean difference without SDs or n (CAPS-5); no SD imputed); "
        "Feder2021#3 (not estimable as SMD: p_only gives no standardized mean difference).")
    assert got[("ptsd_response_rr", "Feder2021")]["how"].endswith("Also in the window, not used: Feder2021#4 (not estimable as RR: percent gives no 2x2 table).")


def test_a_study_with_no_estimable_row_in_the_window_names_the_rows_outside_it_in_a_new_sentence() -> None:
    """The reasons of the rows tried end without a full stop; the note on the rows outside the window
    ran on into them ("... no SD imputed Outside the window ...")."""
    rows = [arm("S1#1", 35.0, line=7, days=1.0, sd_intervention=None), arm("S1#2", 30.0, line=8, days=14.0)]
    (eff,) = analysis_effects({**MD, "timepoint_days": {"min": 1, "max": 7}}, [study()], rows)
    assert eff.yi is None
    assert eff.how == "not estimable as MD: S1#1: sd_intervention not reported; no SD imputed. Outside the window (1 to 7 days): S1#2 (14 days)."
