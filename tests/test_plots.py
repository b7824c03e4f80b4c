"""Plots: byte-stable SVG, direction stated, unpooled analyses still drawn with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from livingreview.effects import DIRECTION_NOTE, Effect
from livingreview.extraction import Study
from livingreview.meta import analyse
from livingreview.plots import cumulative_plot, effect_direction_plot, forest_plot, funnel_plot


def study(sid: str, year: int, infusions: str) -> Study:
    return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="", n_randomized=30,
                 n_per_arm="", ketamine_dose_mg_per_kg=(0.5,), infusions=infusions, infusion_schedule="", comparator="midazolam",
                 comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)


def pooled_summary() -> dict:
    eff = [Effect(s, "x", "SMD", y, v, "", scale="CAPS-5", n_ketamine=15, n_control=15) for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
    eff.append(Effect("E", "x", "SMD", None, None, "no numbers reported: PCL-5: not significant"))
    studies = [study("A", 2019, "single"), study("B", 2015, "repeated"), study("C", 2020, "single"), study("D", 2018, "repeated"), study("E", 2022, "single")]
    return analyse({"id": "x", "title": "Test analysis", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["infusions"]},
                   eff, studies, direction_note=DIRECTION_NOTE)


def test_forest_svg_is_byte_stable_and_states_direction(tmp_path: Path) -> None:
    summary = pooled_summary()
    forest_plot(summary, tmp_path / "a.svg", subgroup="infusions")
    forest_plot(json.loads(json.dumps(summary)), tmp_path / "b.svg", subgroup="infusions")
    a = (tmp_path / "a.svg").read_bytes()
    assert a == (tmp_path / "b.svg").read_bytes()
    text = a.decode()
    assert DIRECTION_NOTE in text and "Favours ketamine" in text and "Favours control" in text
    assert "95% prediction interval" in text and "Subtotal (k = 2)" in text and "Not estimable" in text and "<dc:date>" not in text
    assert "Total (REML, Knapp-Hartung; k = 4)" in text and "Test for subgroup differences (infusions)" in text


def test_unpooled_plots_show_estimates_and_reason(tmp_path: Path) -> None:
    eff = [Effect("Feder2021", "x", "SMD", 1.13, 0.156, "", scale="CAPS-5", n_ketamine=15, n_control=15)]
    summary = analyse({"id": "x", "title": "k=1", "domain": "ptsd_severity", "measure": "SMD"}, eff, [study("Feder2021", 2021, "repeated")], direction_note=DIRECTION_NOTE)
    forest_plot(summary, tmp_path / "f.svg")
    funnel_plot(summary, tmp_path / "u.svg")
    cumulative_plot(summary, tmp_path / "c.svg")
    forest = (tmp_path / "f.svg").read_text()
    assert "Not pooled: k = 1 &lt; 2" in forest and "1.13 [0.36, 1.90]" in forest and "Feder2021 (2021)" in forest
    assert "Funnel plot not drawn: k = 1 &lt; 3" in (tmp_path / "u.svg").read_text()
    cum = (tmp_path / "c.svg").read_text()
    assert "Not pooled, so nothing to accumulate" in cum and DIRECTION_NOTE in cum


def test_funnel_and_cumulative_when_pooled(tmp_path: Path) -> None:
    summary = pooled_summary()
    funnel_plot(summary, tmp_path / "u.svg")
    cumulative_plot(summary, tmp_path / "c.svg")
    assert "Standard error" in (tmp_path / "u.svg").read_text()
    cum = (tmp_path / "c.svg").read_text()
    assert cum.index("+ B (2015)") < cum.index("+ D (2018)") < cum.index("+ A (2019)")


def test_effect_direction_plot_lists_every_study(tmp_path: Path) -> None:
    rows = [
        {"study_id": "Feder2014", "year": "2014", "n_randomized": "41", "domain": "ptsd_severity", "scale": "IES-R", "favours": "ketamine", "significant": "yes", "numbers": "yes"},
        {"study_id": "Pradhan2017", "year": "2017", "n_randomized": "10", "domain": "ptsd_severity", "scale": "", "favours": "not_reported", "significant": "", "numbers": "no"},
        {"study_id": "Duek2023", "year": "2023", "n_randomized": "27", "domain": "ptsd_severity", "scale": "PTSD symptoms", "favours": "none", "significant": "", "numbers": "no"},
    ]
    effect_direction_plot(rows, tmp_path / "a.svg", domains=["ptsd_severity", "ptsd_response"])
    effect_direction_plot(rows, tmp_path / "b.svg", domains=["ptsd_severity", "ptsd_response"])
    text = (tmp_path / "a.svg").read_text()
    assert text == (tmp_path / "b.svg").read_text()
    for s in ("Feder2014 (2014)", "Pradhan2017 (2017)", "Duek2023 (2023)", "PTSD symptoms (no numbers)", "favours ketamine", "no difference reported"):
        assert s in text
