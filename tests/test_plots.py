"""Plots: byte-stable SVG, direction stated, unpooled analyses still drawn with the reason."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from livingreview.effects import Effect, direction_note

DIRECTION_NOTE = direction_note("ketamine")


DOMAIN_LABELS = {"ptsd_severity": "PTSD severity", "ptsd_response": "PTSD response"}  # as config/config.yaml names them


def analyse(*args, **kwargs):
    """meta.analyse with the shipped protocol's intervention label, as the pool stage stores it."""
    summary = _analyse(*args, **kwargs)
    summary["intervention_label"] = "ketamine"
    return summary
from livingreview.extraction import Study
from livingreview.meta import analyse as _analyse
from livingreview.plots import cumulative_plot, effect_direction_plot, forest_plot, funnel_plot


def study(sid: str, year: int, infusions: str) -> Study:
    return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="", n_randomized=30,
                 n_per_arm="", dose=(0.5,), infusions=infusions, infusion_schedule="", comparator="midazolam",
                 comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)


def pooled_summary() -> dict:
    eff = [Effect(s, "x", "SMD", y, v, "", scale="CAPS-5", n_intervention=15, n_control=15) for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
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
    assert "Total (REML, Knapp-Hartung, no ad hoc correction; k = 4)" in text and "Test for subgroup differences (single or repeated infusions)" in text
    assert "from each subgroup's Wald SE, not the Knapp-Hartung SE of its CI" in text  # the subgroup CIs are Knapp-Hartung
    adhoc = analyse({"id": "x", "title": "Test analysis", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True,
                     "hksj_adhoc": True}, [Effect(s, "x", "SMD", y, 0.1, "") for s, y in (("A", 0.30), ("B", 0.31))],
                    [study("A", 2019, "single"), study("B", 2020, "single")], direction_note=DIRECTION_NOTE)
    forest_plot(adhoc, tmp_path / "c.svg")
    text = (tmp_path / "c.svg").read_text(encoding="utf-8")
    assert "Total (REML, Knapp-Hartung, ad hoc correction; k = 2)" in text and "no ad hoc" not in text


def test_unpooled_plots_show_estimates_and_reason(tmp_path: Path) -> None:
    eff = [Effect("Feder2021", "x", "SMD", 1.13, 0.156, "", scale="CAPS-5", n_intervention=15, n_control=15)]
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
        {"study_id": "Feder2014", "year": "2014", "n_randomized": "41", "domain": "ptsd_severity", "scale": "IES-R", "favours": "intervention", "significant": "yes", "numbers": "yes"},
        {"study_id": "Pradhan2017", "year": "2017", "n_randomized": "10", "domain": "ptsd_severity", "scale": "", "favours": "not_reported", "significant": "", "numbers": "no"},
        {"study_id": "Duek2023", "year": "2023", "n_randomized": "27", "domain": "ptsd_severity", "scale": "PTSD symptoms", "favours": "none", "significant": "", "numbers": "no"},
    ]
    effect_direction_plot(rows, tmp_path / "a.svg", domains=["ptsd_severity", "ptsd_response"], intervention="ketamine", domain_labels=DOMAIN_LABELS)
    effect_direction_plot(rows, tmp_path / "b.svg", domains=["ptsd_severity", "ptsd_response"], intervention="ketamine", domain_labels=DOMAIN_LABELS)
    text = (tmp_path / "a.svg").read_text()
    assert text == (tmp_path / "b.svg").read_text()
    for s in ("Feder2014 (2014)", "Pradhan2017 (2017)", "Duek2023 (2023)", "PTSD symptoms (no numbers)", "favours ketamine", "no difference reported"):
        assert s in text


def svg_ids(text: str, prefix: str) -> list[str]:
    """The SVG group ids starting with ``prefix`` (the plots set gid on the elements they draw)."""
    return re.findall(rf'<g id="({prefix}[a-zA-Z0-9_]*)"', text)


def minus(text: str) -> str:
    """Numbers as the plots print them (U+2212 minus sign)."""
    return text.replace("-", "\u2212")


def test_forest_plot_has_every_revman_element(tmp_path: Path) -> None:
    summary = pooled_summary()
    forest_plot(summary, tmp_path / "f.svg", subgroup="infusions")
    text = (tmp_path / "f.svg").read_text()
    # one CI line and one weighted square per estimable study, one diamond per subgroup, a total diamond and the PI bar
    assert len(svg_ids(text, "ci_")) == 4 and len(svg_ids(text, "square_")) == 4
    assert len(svg_ids(text, "subtotal_")) == 2 and svg_ids(text, "diamond_total") == ["diamond_total"]
    assert svg_ids(text, "prediction_interval") == ["prediction_interval"]
    for header in ("Study", "n ketamine / control", "Effect [95% CI]", "Weight"):
        assert header in text
    assert text.count("15 / 15") == 4  # n per arm of each estimable study
    weights = [float(w) for w in re.findall(r"(\d+\.\d)%", text)]
    assert len(weights) == 4 and abs(sum(weights) - 100) < 0.3 and "100%" in text
    by_study = {s["study"]: s for s in summary["studies"]}
    a = by_study["A"]
    assert minus(f"{a['yi']:.2f} [{a['ci_low']:.2f}, {a['ci_high']:.2f}]") in text
    assert minus(f"[{summary['pi_low']:.2f}, {summary['pi_high']:.2f}]") in text
    # subgroup blocks: a header per group, studies under it
    assert text.index("repeated") < text.index("B (2015)") < text.index("single") < text.index("A (2019)")
    # squares sized by weight: the heaviest study has the largest marker
    # (squares and weight texts both come in row order)
    sizes = [float(x) for x in re.findall(r'<g id="square_\d+">\s*<defs>\s*<path id="[^"]+" d="M -([0-9.]+)', text)]
    assert len(sizes) == 4 and len(set(sizes)) == 4
    assert sorted(range(4), key=lambda i: sizes[i]) == sorted(range(4), key=lambda i: weights[i])
    assert "Favours control" in text and "Favours ketamine" in text and DIRECTION_NOTE in text


def test_forest_plot_shows_studies_with_no_subgroup_value_last_and_says_they_are_not_in_the_test(tmp_path: Path) -> None:
    """Study E has no dose: its own block, last, headed 'dose not reported (not in the test)'; the footer gives
    Q-between of the reported doses (the metafor reference's Knapp-Hartung example, Q = 5.81), the SEs it used
    and the study left out; with one reported dose the footer says why there is no test."""
    ref = json.loads((Path(__file__).parent / "data/metafor_reference.json").read_text(encoding="utf-8"))
    ref = ref["synthetic"]["subgroups_knha_example"]["REML_knha"]

    def dosed(sid: str, year: int, dose: tuple[float, ...]) -> Study:
        return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="",
                     n_randomized=30, n_per_arm="", dose=dose, infusions="single", infusion_schedule="", comparator="midazolam",
                     comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)

    eff = [Effect(s, "x", "SMD", y, v, "", scale="CAPS-5", n_intervention=15, n_control=15)
           for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1), ("E", 0.7, 0.06))]
    analysis = {"id": "x", "title": "Test analysis", "domain": "ptsd_severity", "measure": "SMD", "method": "REML", "hksj": True, "subgroups": ["dose"]}
    doses = {"A": (0.2,), "B": (0.5,), "C": (0.2,), "D": (0.5,), "E": ()}
    summary = analyse(analysis, eff, [dosed(s, y, doses[s]) for s, y in (("A", 2019), ("B", 2015), ("C", 2020), ("D", 2018), ("E", 2021))],
                      direction_note=DIRECTION_NOTE, dose_unit="mg/kg")
    sub = summary["subgroups"]["dose"]
    assert abs(sub["q_between"] - ref["q_between"]) <= 1e-6 * ref["q_between"]
    forest_plot(json.loads(json.dumps(summary, sort_keys=True)), tmp_path / "f.svg", subgroup="dose")  # as read back from the JSON
    text = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert (text.index("0.2 mg/kg") < text.index("A (2019)") < text.index("0.5 mg/kg") < text.index("B (2015)")
            < text.index("dose not reported (not in the test)") < text.index("E (2021)"))
    assert len(svg_ids(text, "subtotal_")) == 3
    footer = " ".join(re.findall(r">([^<]*)</text>", text))
    assert ("Test for subgroup differences (dose): Q = 5.81, df = 1, p = 0.016; from each subgroup's Wald SE, not the Knapp-Hartung "
            "SE of its CI; k = 1 study with no dose") in footer and "reported is not in the test" in footer
    doses = {"A": (0.2,), "B": (0.2,), "C": (0.2,), "D": (), "E": ()}
    one = analyse(analysis, eff, [dosed(s, y, doses[s]) for s, y in (("A", 2019), ("B", 2015), ("C", 2020), ("D", 2018), ("E", 2021))],
                  direction_note=DIRECTION_NOTE, dose_unit="mg/kg")
    forest_plot(one, tmp_path / "g.svg", subgroup="dose")
    text = (tmp_path / "g.svg").read_text(encoding="utf-8")
    footer = " ".join(re.findall(r">([^<]*)</text>", text))
    assert ("No test for subgroup differences (dose): one subgroup with a reported dose (0.2 mg/kg), and a test for subgroup differences "
            "needs at least 2; k = 2 studies with no dose reported are not in the test") in footer
    assert "Test for subgroup differences" not in footer


def test_unpooled_forest_plot_has_no_diamond(tmp_path: Path) -> None:
    eff = [Effect("Feder2014", "x", "MD", 12.7, 27.0, "", scale="IES-R", n_intervention=22, n_control=19),
           Effect("Feder2021", "x", "MD", 11.88, 15.68, "", scale="CAPS-5", n_intervention=15, n_control=15)]
    studies = [study("Feder2014", 2014, "single"), study("Feder2021", 2021, "repeated")]
    summary = analyse({"id": "x", "title": "MD", "domain": "ptsd_severity", "measure": "MD"}, eff, studies, direction_note=DIRECTION_NOTE)
    forest_plot(summary, tmp_path / "f.svg")
    text = (tmp_path / "f.svg").read_text()
    assert len(svg_ids(text, "ci_")) == 2 and not svg_ids(text, "diamond_total") and not svg_ids(text, "prediction_interval")
    assert "22 / 19" in text and "15 / 15" in text and "Not pooled: a mean difference needs one scale" in text


def test_png_and_svg_together_are_byte_stable_and_undated(tmp_path: Path) -> None:
    summary = pooled_summary()
    for name in ("a", "b"):
        forest_plot(summary, [tmp_path / f"{name}.svg", tmp_path / f"{name}.png"], subgroup="infusions")
        funnel_plot(summary, [tmp_path / f"{name}_u.svg", tmp_path / f"{name}_u.png"])
        cumulative_plot(summary, [tmp_path / f"{name}_c.svg", tmp_path / f"{name}_c.png"])
    for stem in ("", "_u", "_c"):
        for ext in ("svg", "png"):
            assert (tmp_path / f"a{stem}.{ext}").read_bytes() == (tmp_path / f"b{stem}.{ext}").read_bytes(), f"{stem}.{ext}"
    png = (tmp_path / "a.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = []
    pos = 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos:pos + 4])[0]
        chunks.append((png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert b"tIME" not in kinds
    texts = [d for k, d in chunks if k in (b"tEXt", b"iTXt", b"zTXt")]
    assert texts == [b"Software\x00livingreview (matplotlib)"]


def test_funnel_drawn_from_three_studies_and_explained_below(tmp_path: Path) -> None:
    summary = pooled_summary()
    funnel_plot(summary, tmp_path / "u.svg")
    text = (tmp_path / "u.svg").read_text()
    assert svg_ids(text, "funnel_points") and svg_ids(text, "funnel_limits")
    assert sorted(re.findall(r">([A-D])</text>", text)) == ["A", "B", "C", "D"]
    two = analyse({"id": "x", "title": "k=2", "domain": "ptsd_severity", "measure": "SMD"},
                  [Effect("A", "x", "SMD", 0.2, 0.05, ""), Effect("B", "x", "SMD", 0.9, 0.08, "")],
                  [study("A", 2019, "single"), study("B", 2015, "single")], direction_note=DIRECTION_NOTE)
    funnel_plot(two, tmp_path / "two.svg")
    text = (tmp_path / "two.svg").read_text()
    assert not svg_ids(text, "funnel_points") and "Funnel plot not drawn: k = 2 &lt; 3" in text


def test_cumulative_plot_one_row_per_step(tmp_path: Path) -> None:
    summary = pooled_summary()
    cumulative_plot(summary, tmp_path / "c.svg")
    text = (tmp_path / "c.svg").read_text()
    assert len(svg_ids(text, "ci_")) == 4 == len(summary["cumulative"])
    last = summary["cumulative"][-1]
    assert last["k"] == 4 and minus(f"{last['estimate']:.2f} [{last['ci_low']:.2f}, {last['ci_high']:.2f}]") in text
    assert "k = 1" in text and "k = 4" in text and "Cumulative meta-analysis by publication year" in text


def test_effect_direction_marks_every_study_and_domain(tmp_path: Path) -> None:
    rows = [
        {"study_id": "Feder2014", "year": "2014", "n_randomized": "41", "domain": "ptsd_severity", "scale": "IES-R", "favours": "intervention", "significant": "yes", "numbers": "yes"},
        {"study_id": "Feder2014", "year": "2014", "n_randomized": "41", "domain": "ptsd_response", "scale": "CAPS", "favours": "none", "significant": "no", "numbers": "no"},
        {"study_id": "Pradhan2017", "year": "2017", "n_randomized": "10", "domain": "ptsd_severity", "scale": "", "favours": "not_reported", "significant": "", "numbers": "no"},
    ]
    effect_direction_plot(rows, [tmp_path / "d.svg", tmp_path / "d.png"], domains=["ptsd_severity", "ptsd_response"], intervention="ketamine", domain_labels=DOMAIN_LABELS)
    text = (tmp_path / "d.svg").read_text()
    assert svg_ids(text, "direction_") == ["direction_Feder2014_ptsd_severity", "direction_Feder2014_ptsd_response"]
    assert "N randomized" in text and "41" in text and "10" in text
    assert "PTSD severity" in text and "PTSD response" in text and (tmp_path / "d.png").stat().st_size > 1000


def test_crossover_without_arm_sizes_shows_n_randomized(tmp_path: Path) -> None:
    cross = Study(study_id="X2014", reports=("1",), primary_report="1", year=2014, design="crossover", crossover=True, population="", n_randomized=41,
                  n_per_arm="", dose=(0.5,), infusions="single", infusion_schedule="", comparator="midazolam",
                  comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)
    eff = [Effect("X2014", "x", "MD", 12.7, 27.0, "", scale="IES-R")]
    summary = analyse({"id": "x", "title": "k=1", "domain": "ptsd_severity", "measure": "MD"}, eff, [cross], direction_note=DIRECTION_NOTE)
    forest_plot(summary, tmp_path / "f.svg")
    text = (tmp_path / "f.svg").read_text()
    assert "N = 41 (crossover)" in text and "not reported" not in text


def test_a_failing_format_leaves_no_file_of_the_figure(tmp_path: Path) -> None:
    summary = pooled_summary()
    with pytest.raises(ValueError, match="Format 'notaformat' is not supported"):
        forest_plot(summary, [tmp_path / "f.svg", tmp_path / "f.png", tmp_path / "f.notaformat"])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["forest", "cumulative"])
def test_favours_labels_clear_the_tick_labels_and_axis_label(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short plot (the default review's cumulative plot of 2 studies) drew '<- Favours control' over
    the x tick labels: the labels sat at a fraction of the axes height below the axis."""
    from livingreview import plots

    eff = [Effect(s, "x", "MD", y, v, "", scale=sc) for s, y, v, sc in (("Feder2014", 12.7, 26.8186, "IES-R"), ("Feder2021", 11.88, 15.6816, "CAPS-5"))]
    summary = analyse({"id": "x", "title": "MD", "domain": "ptsd_severity", "measure": "MD"}, eff,
                      [study("Feder2014", 2014, "single"), study("Feder2021", 2021, "repeated")], direction_note=DIRECTION_NOTE)
    assert summary["pooled"] is False  # two scales
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    (plots.forest_plot if kind == "forest" else plots.cumulative_plot)(summary, "unused.svg")
    (fig,) = figures
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = next(a for a in fig.axes if a.get_xlabel())
    favours = [t for t in ax.texts if t.get_text().startswith("\u2190 Favours") or t.get_text().endswith("ketamine \u2192")]
    assert len(favours) == 2
    others = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()] + [ax.xaxis.label.get_window_extent(renderer)]
    for label in favours:
        box = label.get_window_extent(renderer)
        assert not any(box.overlaps(o) for o in others), label.get_text()
        assert box.y1 <= min(o.y0 for o in others), f"{label.get_text()} is below the tick labels and the axis label"
        assert box.y0 >= 0, "inside the figure"


def test_plots_name_the_protocols_intervention(tmp_path: Path) -> None:
    """Labels come from the protocol (config synthesis.intervention_label), not from the code."""
    summary = pooled_summary()
    summary["intervention_label"] = "psilocybin"
    summary["direction"] = direction_note("psilocybin")
    forest_plot(summary, tmp_path / "f.svg", subgroup="infusions")
    text = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert "Favours psilocybin" in text and "n psilocybin / control" in text and "Positive values favour psilocybin" in text
    assert "ketamine" not in text
    rows = [{"study_id": "A", "year": "2020", "n_randomized": "40", "domain": "mood", "scale": "HAM-D", "favours": "intervention", "significant": "yes", "numbers": "yes"}]
    effect_direction_plot(rows, tmp_path / "d.svg", domains=["mood"], intervention="psilocybin", domain_labels={"mood": "Depressive symptoms"})
    text = (tmp_path / "d.svg").read_text(encoding="utf-8")
    assert "favours psilocybin" in text and "Depressive symptoms" in text and "ketamine" not in text and "PTSD" not in text


def test_every_configured_direction_domain_gets_a_column(tmp_path: Path) -> None:
    """SWiM: a configured domain nobody reported is a column of dashes, not left out."""
    from livingreview.effects import DIRECTION_FIELDS
    from livingreview.plots import run_effect_direction_plot
    from livingreview.tables import write_tsv

    rows = [{"study_id": "A", "year": "2020", "n_randomized": "40", "domain": "sleep", "scale": "ISI", "favours": "intervention",
             "significant": "yes", "numbers": "yes", "summary": "x", "inferred": False, "outcome_ids": "A#1", "timepoint": ""}]
    write_tsv(tmp_path / "d.tsv", DIRECTION_FIELDS, rows)
    synthesis = {"direction_domains": ["sleep", "fatigue"], "domain_labels": {"sleep": "Insomnia severity", "fatigue": "Daytime fatigue"}}
    assert run_effect_direction_plot(direction_path=tmp_path / "d.tsv", plot_out=tmp_path / "d.svg", synthesis=synthesis) == 1
    text = (tmp_path / "d.svg").read_text(encoding="utf-8")
    assert "Insomnia severity" in text and "Daytime fatigue" in text and text.index("Insomnia severity") < text.index("Daytime fatigue")


# A personal matplotlibrc (~/.config/matplotlib/matplotlibrc, $MATPLOTLIBRC or ./matplotlibrc in the
# review folder) of the kind people keep: it must not reach the review's figures.
USER_MATPLOTLIBRC = {
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "savefig.bbox": "tight",
    "savefig.transparent": True,
    "figure.facecolor": "0.9",
    "svg.fonttype": "path",
}


def _all_figures(out: Path) -> None:
    summary = pooled_summary()
    forest_plot(summary, [out / "forest.svg", out / "forest.png"], subgroup="infusions")
    funnel_plot(summary, [out / "funnel.svg", out / "funnel.png"])
    cumulative_plot(summary, [out / "cumulative.svg", out / "cumulative.png"])
    rows = [{"study_id": "A", "year": "2019", "n_randomized": "30", "domain": "ptsd_severity", "scale": "CAPS-5", "favours": "intervention", "significant": "yes", "numbers": "yes"}]
    effect_direction_plot(rows, [out / "direction.svg", out / "direction.png"], domains=["ptsd_severity"], intervention="ketamine", domain_labels=DOMAIN_LABELS)


def test_a_users_matplotlibrc_does_not_change_the_figures(tmp_path: Path) -> None:
    """The figures start from matplotlib's own defaults: the same bytes with or without a personal matplotlibrc."""
    import matplotlib

    (tmp_path / "plain").mkdir()
    (tmp_path / "user").mkdir()
    _all_figures(tmp_path / "plain")
    with matplotlib.rc_context(USER_MATPLOTLIBRC):  # what loading that matplotlibrc does to rcParams
        _all_figures(tmp_path / "user")
        assert matplotlib.rcParams["axes.grid"] is True  # the user's settings are back after each figure
    names = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert len(names) == 8
    for name in names:
        assert (tmp_path / "user" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name


@pytest.mark.parametrize("measure, words", [("RR", "Risk ratios"), ("OR", "Odds ratios")])
def test_ratio_plots_state_the_direction_as_ratios_above_1(tmp_path: Path, measure: str, words: str) -> None:
    """A ratio is drawn on a log axis labelled in ratios (all positive): "Positive values favour ketamine"
    says nothing there. The forest, funnel and cumulative plots say what the report says: ratios above 1."""
    eff = [Effect(s, "r", measure, y, v, "", scale="response", n_intervention=15, n_control=15)
           for s, y, v in (("A", 1.2, 0.3), ("B", 0.4, 0.2), ("C", 0.8, 0.25))]
    studies = [study("A", 2019, "single"), study("B", 2015, "repeated"), study("C", 2020, "single")]
    summary = analyse({"id": "r", "title": "Response", "domain": "ptsd_response", "measure": measure, "method": "REML", "hksj": True},
                      eff, studies, direction_note=DIRECTION_NOTE)
    single = analyse({"id": "r", "title": "Response", "domain": "ptsd_response", "measure": measure}, eff[:1], studies[:1], direction_note=DIRECTION_NOTE)
    assert summary["pooled"] is True and summary["funnel"]["drawn"] is True and single["pooled"] is False
    for name, s in (("pooled", summary), ("single", single)):
        forest_plot(s, tmp_path / f"{name}_f.svg")
        funnel_plot(s, tmp_path / f"{name}_u.svg")
        cumulative_plot(s, tmp_path / f"{name}_c.svg")
        for kind in ("f", "u", "c"):
            text = (tmp_path / f"{name}_{kind}.svg").read_text(encoding="utf-8")
            assert f"{words} above 1 favour ketamine" in text, (name, kind)
            assert "Positive values favour" not in text, (name, kind)


@pytest.mark.parametrize("harm", [False, True])
def test_report_sentence_and_forest_plot_list_the_subgroups_in_one_order_with_the_same_numbers(tmp_path: Path, harm: bool) -> None:
    """The report's subgroup sentence and the forest plot's subgroup blocks come from one ordering
    (constants.shown_groups): reported subgroups by name, then 'not reported'. Read from the SVG's text in
    document order: each block's header and its 'Subtotal' estimate match the sentence's label and estimate,
    in the same order, for an MD and for a ratio of a lower-is-better outcome (drawn as intervention / control)."""
    import html

    from livingreview.report import analysis_context

    def dosed(sid: str, year: int, dose: tuple[float, ...], infusions: str) -> Study:
        return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="",
                     n_randomized=30, n_per_arm="", dose=dose, infusions=infusions, infusion_schedule="", comparator="midazolam",
                     comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)

    # effects listed (and dict-inserted) in an order that is not the shown one
    rows = (("F", 2016, (), "", 0.4), ("B", 2015, (0.5,), "repeated", 0.9), ("A", 2019, (0.2,), "single", 0.2),
            ("G", 2023, (0.2, 0.5), "repeated", 0.6), ("D", 2018, (0.5,), "single", 1.1), ("C", 2020, (0.2,), "repeated", 0.5),
            ("E", 2021, (), "", 0.7))
    measure = "RR" if harm else "MD"
    eff = [Effect(s, "x", measure, y, 0.05 + 0.01 * i, "", scale="CAPS-5", n_intervention=15, n_control=15, lower_is_better=harm)
           for i, (s, _, _, _, y) in enumerate(rows)]
    analysis = {"id": "x", "title": "Test analysis", "domain": "ptsd_severity", "measure": measure, "method": "REML", "hksj": True,
                "subgroups": ["infusions", "dose"]}
    summary = analyse(analysis, eff, [dosed(s, y, d, inf) for s, y, d, inf, _ in rows], direction_note=DIRECTION_NOTE, dose_unit="mg/kg")
    summary = json.loads(json.dumps(summary, sort_keys=True))  # as the report reads it back from the JSON
    sentences = analysis_context(summary, {})["subgroups"]
    for column in ("dose", "infusions"):
        label = summary["subgroups"][column]["label"]  # the column in words, in the report and the plot
        assert label == {"dose": "dose", "infusions": "single or repeated infusions"}[column]
        sentence = next(s for s in sentences if s.startswith(f"Subgroups by {label}: "))
        said = re.findall(rf"(?:^Subgroups by {label}: |; )(.+?) (\d+\.\d\d \(95% CI -?\d+\.\d\d to -?\d+\.\d\d); k = \d+", sentence)
        forest_plot(summary, tmp_path / f"{column}.svg", subgroup=column)
        texts = [html.unescape(t).replace("\u2212", "-")
                 for t in re.findall(r"<text[^>]*>(.*?)</text>", (tmp_path / f"{column}.svg").read_text(encoding="utf-8"), re.S)]
        subtotal_at = [i for i, t in enumerate(texts) if t.startswith("Subtotal (k = ")]
        drawn = []
        for i in subtotal_at:
            header = next(t for t in reversed(texts[:i]) if t in summary["subgroups"][column]["groups"] or t == f"{label} not reported (not in the test)")
            est, lo, hi = re.fullmatch(r"(-?\d+\.\d\d) \[(-?\d+\.\d\d), (-?\d+\.\d\d)\]", texts[i + 1]).groups()
            drawn.append((header.replace(" (not in the test)", ""), f"{est} (95% CI {lo} to {hi}"))
        assert len(drawn) == len(summary["subgroups"][column]["groups"]) == len(said) >= 2
        assert drawn == said, (column, drawn, said)
        assert said[-1][0] == f"{label} not reported"
    assert [g for g, _ in said] == ["repeated", "single", "single or repeated infusions not reported"]


def test_a_dollar_pair_in_a_label_prints_as_written_not_as_mathtext(tmp_path: Path) -> None:
    """Labels come from outcomes.tsv (scale) and the config (titles, domain labels); matplotlib
    read a "$...$" pair in one as mathtext: "$x^2$" was drawn as x squared and "$\\foo$" stopped the
    pool job with a ValueError traceback (unknown symbol)."""
    scale = "$\\foo$ scale"
    eff = [Effect(s, "x", "SMD", y, v, "", scale=scale, n_intervention=15, n_control=15) for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08))]
    summary = analyse({"id": "x", "title": "Title $\\sqrt{$ and $x^2$", "domain": "ptsd_severity", "measure": "SMD", "method": "REML"},
                      eff, [study("A", 2019, "single"), study("B", 2015, "repeated")], direction_note=DIRECTION_NOTE)
    rows = [{"study_id": "A", "year": "2019", "n_randomized": "30", "domain": "ptsd_severity", "scale": scale, "favours": "intervention",
             "significant": "yes", "numbers": "yes"}]
    forest_plot(summary, tmp_path / "f.svg")
    funnel_plot(summary, tmp_path / "u.svg")
    cumulative_plot(summary, tmp_path / "c.svg")
    effect_direction_plot(rows, tmp_path / "d.svg", domains=["ptsd_severity"], intervention="ketamine", domain_labels={"ptsd_severity": "PTSD $x$"})

    def drawn(name: str) -> str:  # the SVG's text without its comments (mathtext keeps the source there)
        return re.sub(r"<!--.*?-->", "", (tmp_path / name).read_text(encoding="utf-8"), flags=re.S)

    forest = drawn("f.svg")
    title = "Title $\\sqrt{$ and $x^2$"
    assert scale in forest and title in forest
    assert title in drawn("u.svg") and title in drawn("c.svg")
    direction = drawn("d.svg")
    assert scale in direction and "PTSD $x$" in direction
