"""Forest, funnel, cumulative and SWiM effect-direction plots (matplotlib; byte-stable SVG)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from .constants import (  # noqa: E402
    DEFAULT_INTERVENTION,
    RATIO_NAMES,
    direction_words,
    hksj_words,
    ratio_direction_note,
    shown_groups,
    subgroup_label,
    shown_interval,
    shown_sign,
    wald_test_beside_knapp_hartung,
)
from .effects import FAVOURS_LEFT, direction_note, favours_right  # noqa: E402
from .tables import atomic_path, format_fixed  # noqa: E402

RC: dict[str, Any] = {
    "svg.hashsalt": "livingreview",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.unicode_minus": False,
    "path.simplify": False,
    "savefig.dpi": 150,
    "figure.dpi": 100,
    # Labels are text from the team's tables and config (a scale, a reported value, a title): a "$"
    # pair in one must print as written, not as mathtext ("$x^2$" drawn as x squared, "$\\foo$" an
    # unknown-symbol traceback). No figure uses mathtext.
    "text.parse_math": False,
}
SAVE_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": "livingreview (matplotlib)"},
    "png": {"Software": "livingreview (matplotlib)"},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "livingreview"},
}
COLOUR_STUDY = "#1f3a5f"
COLOUR_POOLED = "#b22222"
COLOUR_MUTED = "#666666"


def _style() -> Any:
    """The figures' style: matplotlib's own defaults, then RC.

    Starting from the defaults (not from the rcParams in force) keeps a personal matplotlibrc
    (~/.config/matplotlib/matplotlibrc, $MATPLOTLIBRC, or ./matplotlibrc in the review folder) out
    of the figures, so every machine draws the same bytes. The caller's rcParams are restored after.
    """
    return plt.style.context(["default", RC])


# One output path, or several (the same figure as .svg and .png, say).
Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def output_paths(paths: Paths) -> list[Path]:
    """The output paths as a list (a single path becomes a one-element list)."""
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def save_figure(fig: Figure, paths: Paths) -> None:
    """Save atomically to every path; the format follows each suffix (.svg, .png, .pdf).

    All files or none are written. Metadata is fixed (SVG without a date, PNG ``Software`` set and no time chunk, PDF without
    dates), so the same figure gives the same bytes on every run.
    """
    try:
        # Every file is rendered before any is renamed into place: a failure leaves none of them.
        with ExitStack() as stack:
            for path in output_paths(paths):
                suffix = path.suffix.lstrip(".").lower() or "svg"
                tmp = stack.enter_context(atomic_path(path))
                fig.savefig(tmp, format=suffix, metadata=SAVE_METADATA.get(suffix), bbox_inches=None)
    finally:
        plt.close(fig)


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return format_fixed(x, digits).replace("-", "\u2212")


def _transform(log_scale: bool) -> Callable[[float], float]:
    return math.exp if log_scale else (lambda x: x)


def _measure_label(summary: Mapping[str, Any]) -> str:
    measure = summary["measure"]
    return {"MD": "Mean difference", "SMD": "Std. mean difference", "OR": "Odds ratio", "RR": "Risk ratio", "RD": "Risk difference"}.get(measure, measure)


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return "\n".join(lines)


# Distance (points) from the x axis to the top of the favours labels: ticks (3.5) + pad (3.5) + 9 pt tick
# labels + labelpad (4) + the 9 pt axis label come to about 33 points.
FAVOURS_OFFSET_PT = 36.0


def _intervention(summary: Mapping[str, Any]) -> str:
    """The intervention's name (config synthesis.intervention_label, stored in the analysis JSON)."""
    return str(summary.get("intervention_label") or DEFAULT_INTERVENTION)


def _direction(summary: Mapping[str, Any]) -> str:
    """The analysis' sign convention in words; for a ratio (drawn back-transformed on a log axis, so
    every value is positive) "Risk ratios above (below) 1 favour ... (risk ratio = ... / control)", as the report says it."""
    if summary.get("log_scale") and summary.get("measure") in RATIO_NAMES:
        return ratio_direction_note(str(summary["measure"]), _intervention(summary), lower_is_better=bool(summary.get("lower_is_better")))
    return str(summary.get("direction") or direction_note(_intervention(summary)))


def _shown(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis as drawn: a ratio of a lower-is-better outcome is drawn as intervention / control,
    the negated harmonised values with each CI's limits swapped (constants.shown_sign); otherwise unchanged.
    ``flipped`` tells _axis_setup to put the intervention's favours label on the left."""
    sign = shown_sign(summary)
    out = dict(summary)
    out["flipped"] = sign < 0
    if sign > 0:
        return out

    def turn(entry: Mapping[str, Any], est: str = "estimate") -> dict[str, Any]:
        new = dict(entry)
        new[est], new["ci_low"], new["ci_high"] = shown_interval(entry.get(est), entry.get("ci_low"), entry.get("ci_high"), sign)
        return new

    out.update(turn(summary))
    if summary.get("pi_low") is not None:
        _, out["pi_low"], out["pi_high"] = shown_interval(None, summary.get("pi_low"), summary.get("pi_high"), sign)
    out["studies"] = [turn(st, "yi") for st in summary.get("studies", [])]
    out["cumulative"] = [turn(st) for st in summary.get("cumulative", [])]
    out["subgroups"] = {c: ({**sub, "groups": {g: turn(v) for g, v in sub["groups"].items()}} if sub.get("groups") else sub)
                        for c, sub in (summary.get("subgroups") or {}).items()}
    return out


def _axis_setup(ax: Any, xs: Sequence[float], summary: Mapping[str, Any]) -> None:
    lo, hi = min(xs + [0.0]), max(xs + [0.0])
    pad = (hi - lo) * 0.08 or 1.0
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.spines[["left", "right", "top"]].set_visible(False)
    ax.set_yticks([])
    if summary.get("log_scale"):
        nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
        ticks = [math.log(v) for v in nice if lo - pad <= math.log(v) <= hi + pad]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{math.exp(t):g}" for t in ticks])
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"{_measure_label(summary)} (95% CI)")
    # Below the tick labels and the axis label at a fixed distance in points (a fraction of the axes
    # height put them on the tick labels of a short plot, e.g. a cumulative plot of two studies).
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    left, right = FAVOURS_LEFT, favours_right(_intervention(summary))
    if summary.get("flipped"):  # a ratio of a lower-is-better outcome: below 1 favours the intervention
        left, right = right, FAVOURS_LEFT
    for x, text, ha in ((ax.get_xlim()[0], f"\u2190 {left}", "left"), (ax.get_xlim()[1], f"{right} \u2192", "right")):
        ax.annotate(text, xy=(x, 0.0), xycoords=trans, xytext=(0, -FAVOURS_OFFSET_PT), textcoords="offset points", ha=ha, va="top", fontsize=8,
                    annotation_clip=False, gid=f"favours_{ha}")


FOOTER_LINE_IN = 0.14  # inches per 8-point footer line of the forest plot
FOOTER_WIDTH = 165  # characters per footer line (8 points across the 11-inch figure)


def _forest_footer(summary: Mapping[str, Any], sub: Mapping[str, Any] | None, subgroup: str | None) -> str:
    """Footer of a pooled forest plot: heterogeneity and overall effect; for the subgroup analysis shown,
    the test for subgroup differences (with the SEs it used when the subgroup CIs are Knapp-Hartung, and
    the studies with no value that are not in it) or why there is none."""
    het = (f"Heterogeneity: \u03c4\u00b2 = {_fmt(summary['tau2'], 3)} [{_fmt(summary['tau2_ci_low'], 3)}, {_fmt(summary['tau2_ci_high'], 3)}]; "
           f"Q = {_fmt(summary['q'])} (df = {summary['k'] - 1}), p = {_fmt(summary['q_p'], 3)}; I\u00b2 = {_fmt(summary['i2'], 0)}%. "
           f"Overall effect: p = {_fmt(summary['p'], 3)}")
    if not (sub and sub.get("run")):
        return het
    subgroup = subgroup_label(subgroup or "", sub)  # the column in words, as the report says it
    if sub.get("q_between") is not None:
        test = f"Test for subgroup differences ({subgroup}): Q = {_fmt(sub['q_between'])}, df = {sub['df']}, p = {_fmt(sub['p'], 3)}"
        if wald_test_beside_knapp_hartung(summary, sub):
            test += "; from each subgroup's Wald SE, not the Knapp-Hartung SE of its CI"
        if sub.get("not_in_test"):
            test += f"; {sub['not_in_test']['why']}"
    else:
        test = f"No test for subgroup differences ({subgroup}): {sub.get('reason') or 'fewer than 2 subgroups'}"
    return f"{het}\n{_wrap(test, FOOTER_WIDTH)}"


def forest_plot(summary: Mapping[str, Any], path: Paths, *, subgroup: str | None = None) -> None:
    """RevMan/metafor-style forest plot of an analysis summary (meta.analyse output).

    Columns: study (year), n intervention/control, effect and 95% CI as text, weight %; squares sized by
    weight, the pooled diamond and the prediction-interval bar when pooled, favours labels, the
    direction note, heterogeneity and the not-estimable studies with their reason. ``subgroup`` (a
    key of summary["subgroups"] that was run) draws subgroup blocks with their own diamonds.
    ``path`` is one output file or several (.svg and .png). Drawn elements carry SVG ids
    (ci_<n>, square_<n>, subtotal_<n>, diamond_total, prediction_interval) so tests and
    readers can find them.
    """
    summary = _shown(summary)
    with _style():
        studies = list(summary["studies"])
        missing = list(summary["not_estimable"])
        tf = _transform(bool(summary.get("log_scale")))
        sub = summary.get("subgroups", {}).get(subgroup) if subgroup else None
        # rows: (kind, payload)
        rows: list[tuple[str, Any]] = []
        if sub and sub.get("run"):
            # reported subgroups by name, then the studies with no value (not in the test for subgroup differences)
            for name, g in shown_groups(sub):
                rows.append(("header", f"{subgroup_label(subgroup or '', sub)} not reported (not in the test)" if g.get("reported") is False else name))
                rows += [("study", s) for s in studies if s["study"] in g["studies"]]
                rows.append(("subdiamond", g))
        else:
            rows += [("study", s) for s in studies]
        rows += [("missing", m) for m in missing]
        if summary.get("pooled"):
            rows += [("pooled", summary)] + ([("pi", summary)] if summary.get("pi_low") is not None else [])
        n_rows = len(rows) + 1
        footer = _forest_footer(summary, sub, subgroup) if summary.get("pooled") else None
        extra = FOOTER_LINE_IN * max(0, footer.count("\n") - 1) if footer else 0.0  # room for footer lines beyond 2
        height = 1.6 + 0.32 * n_rows + (0.5 if not summary.get("pooled") else 0) + extra
        fig = plt.figure(figsize=(11.0, height))
        ax = fig.add_axes((0.47, (1.1 + extra) / height, 0.32, (height - 2.0 - extra) / height))
        ax.set_ylim(-0.5, n_rows - 0.5)
        col = blended_transform_factory(fig.transFigure, ax.transData)
        head_y = n_rows - 0.6
        for x, text, ha in ((0.01, "Study", "left"), (0.17, "Scale", "left"), (0.37, f"n {_intervention(summary)} / control", "center"), (0.81, "Effect [95% CI]", "left"), (0.965, "Weight", "right")):
            ax.text(x, head_y, text, transform=col, ha=ha, va="center", fontweight="bold", clip_on=False)
        xs: list[float] = []
        n_study = n_sub = 0
        max_w = max([s["weight"] or 0 for s in studies] + [1e-9])
        for i, (kind, item) in enumerate(rows):
            y = n_rows - 1.6 - i
            if kind == "header":
                ax.text(0.01, y, str(item), transform=col, ha="left", va="center", fontstyle="italic", clip_on=False)
            elif kind == "study":
                label = f"{item['study']} ({item['year']})" if item.get("year") else item["study"]
                if item.get("inferred"):
                    label += " \u2020"
                n_text = f"{item['n_intervention']} / {item['n_control']}" if item.get("n_intervention") else "not reported"
                if not item.get("n_intervention") and item.get("crossover") and item.get("n_randomized"):
                    n_text = f"N = {item['n_randomized']} (crossover)"  # each participant had both; N randomized
                ax.text(0.01, y, label, transform=col, ha="left", va="center", clip_on=False)
                ax.text(0.17, y, _wrap(item.get("scale") or "", 22), transform=col, ha="left", va="center", fontsize=8, clip_on=False)
                ax.text(0.37, y, n_text, transform=col, ha="center", va="center", clip_on=False)
                ax.text(0.81, y, f"{_fmt(tf(item['yi']))} [{_fmt(tf(item['ci_low']))}, {_fmt(tf(item['ci_high']))}]", transform=col, ha="left", va="center", clip_on=False)
                w = item.get("weight")
                ax.text(0.965, y, f"{format_fixed(w, 1)}%" if w is not None else "\u2013", transform=col, ha="right", va="center", clip_on=False)
                n_study += 1
                ax.plot([item["ci_low"], item["ci_high"]], [y, y], color=COLOUR_STUDY, lw=1.2, gid=f"ci_{n_study}")
                size = 6 + 10 * math.sqrt((w or max_w * 0.5) / max_w)
                ax.plot([item["yi"]], [y], marker="s", color=COLOUR_STUDY, markersize=size, linestyle="none", gid=f"square_{n_study}")
                xs += [item["ci_low"], item["ci_high"]]
            elif kind == "missing":
                ax.text(0.01, y, item["study"], transform=col, ha="left", va="center", color=COLOUR_MUTED, clip_on=False)
                reason = item["reason"].split(": ")[0] if item["reason"] else "not estimable"
                ax.text(0.81, y, "Not estimable", transform=col, ha="left", va="center", color=COLOUR_MUTED, clip_on=False)
                ax.text(0.25, y, _wrap(reason, 44), transform=col, ha="center", va="center", color=COLOUR_MUTED, fontsize=7, clip_on=False)
            elif kind == "subdiamond":
                est, lo, hi = item["estimate"], item["ci_low"], item["ci_high"]
                n_sub += 1
                ax.fill([lo, est, hi, est], [y, y + 0.3, y, y - 0.3], color=COLOUR_STUDY, alpha=0.6, gid=f"subtotal_{n_sub}")
                ax.text(0.01, y, f"Subtotal (k = {item['k']})", transform=col, ha="left", va="center", clip_on=False)
                ax.text(0.81, y, f"{_fmt(tf(est))} [{_fmt(tf(lo))}, {_fmt(tf(hi))}]", transform=col, ha="left", va="center", clip_on=False)
                xs += [lo, hi]
            elif kind == "pooled":
                est, lo, hi = item["estimate"], item["ci_low"], item["ci_high"]
                ax.fill([lo, est, hi, est], [y, y + 0.35, y, y - 0.35], color=COLOUR_POOLED, gid="diamond_total")
                hk = f", {hksj_words(True, bool(item.get('hksj_adhoc')))}" if item.get("hksj") else ""
                ax.text(0.01, y, f"Total ({item['method']}{hk}; k = {item['k']})", transform=col, ha="left", va="center", fontweight="bold", clip_on=False)
                ax.text(0.81, y, f"{_fmt(tf(est))} [{_fmt(tf(lo))}, {_fmt(tf(hi))}]", transform=col, ha="left", va="center", fontweight="bold", clip_on=False)
                ax.text(0.965, y, "100%", transform=col, ha="right", va="center", clip_on=False)
                xs += [lo, hi]
            elif kind == "pi":
                lo, hi = item["pi_low"], item["pi_high"]
                ax.plot([lo, hi], [y, y], color=COLOUR_POOLED, lw=3, solid_capstyle="butt", gid="prediction_interval")
                ax.text(0.01, y, "95% prediction interval", transform=col, ha="left", va="center", clip_on=False)
                ax.text(0.81, y, f"[{_fmt(tf(lo))}, {_fmt(tf(hi))}]", transform=col, ha="left", va="center", clip_on=False)
                xs += [lo, hi]
        if not xs:
            xs = [-1.0, 1.0]
        _axis_setup(ax, xs, summary)
        fig.text(0.01, 1 - 0.25 / height, summary.get("title", summary.get("analysis", "")), ha="left", va="top", fontweight="bold", fontsize=10)
        fig.text(0.01, 1 - 0.5 / height, _direction(summary) + (". \u2020 value inferred, not read" if any(s.get("inferred") for s in studies) else ""),
                 ha="left", va="top", fontsize=8, color=COLOUR_MUTED)
        if footer is not None:
            fig.text(0.01, 0.12 / height, footer, ha="left", va="bottom", fontsize=8)
        else:
            fig.text(0.01, 0.12 / height, _wrap(f"Not pooled: {summary.get('reason')}", 150), ha="left", va="bottom", fontsize=8, color=COLOUR_POOLED)
        save_figure(fig, path)


def funnel_plot(summary: Mapping[str, Any], path: Paths) -> None:
    """Funnel plot (effect vs standard error, pseudo 95% limits around the pooled estimate);
    when not drawable (k below funnel_min_k) a figure that states why."""
    summary = _shown(summary)
    with _style():
        fig = plt.figure(figsize=(6.0, 4.5))
        ax = fig.add_axes((0.13, 0.2, 0.82, 0.68))
        studies = summary["studies"]
        ax.set_title(summary.get("title", ""), fontsize=9, loc="left")
        if not summary.get("funnel", {}).get("drawn") or not studies:
            ax.axis("off")
            ax.text(0.5, 0.55, _wrap(f"Funnel plot not drawn: {summary.get('funnel', {}).get('reason') or 'no estimable study'}", 60), ha="center", va="center", transform=ax.transAxes)
            ax.text(0.5, 0.3, _direction(summary), ha="center", va="center", transform=ax.transAxes, fontsize=8, color=COLOUR_MUTED)
            save_figure(fig, path)
            return
        centre = summary["estimate"] if summary.get("pooled") else sum(s["yi"] / s["vi"] for s in studies) / sum(1 / s["vi"] for s in studies)
        max_se = max(s["se"] for s in studies) * 1.1
        ax.plot([centre - 1.959964 * max_se, centre, centre + 1.959964 * max_se], [max_se, 0, max_se], color=COLOUR_MUTED, lw=0.8, linestyle="--", gid="funnel_limits")
        ax.axvline(centre, color=COLOUR_POOLED, lw=0.8)
        ax.scatter([s["yi"] for s in studies], [s["se"] for s in studies], color=COLOUR_STUDY, zorder=3, gid="funnel_points")
        for s in studies:
            ax.annotate(s["study"], (s["yi"], s["se"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.set_ylim(max_se, 0)
        ax.set_ylabel("Standard error")
        xs = [centre - 1.959964 * max_se, centre + 1.959964 * max_se] + [s["yi"] for s in studies]
        _axis_setup(ax, xs, summary)
        ax.spines["left"].set_visible(True)
        ax.set_yticks([round(max_se * i / 4, 3) for i in range(5)])
        ax.set_ylim(max_se, 0)
        ax.set_xlabel(_measure_label(summary))
        fig.text(0.01, 0.02, _direction(summary), fontsize=7, color=COLOUR_MUTED)
        save_figure(fig, path)


def cumulative_plot(summary: Mapping[str, Any], path: Paths) -> None:
    """Cumulative forest plot by publication year (each row: the pooled result after adding a study);
    for an unpooled analysis the study estimates in year order and the reason."""
    summary = _shown(summary)
    with _style():
        pooled = bool(summary.get("pooled"))
        steps = summary["cumulative"] if pooled else [
            {"added": s["study"], "order": s["year"], "k": 1, "estimate": s["yi"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]} for s in summary["studies"]
        ]
        n = max(len(steps), 1)
        height = 1.9 + 0.32 * n
        fig = plt.figure(figsize=(9.0, height))
        ax = fig.add_axes((0.40, 1.1 / height, 0.35, (height - 1.9) / height))
        ax.set_ylim(-0.5, n - 0.5)
        col = blended_transform_factory(fig.transFigure, ax.transData)
        tf = _transform(bool(summary.get("log_scale")))
        xs: list[float] = []
        for i, st in enumerate(steps):
            y = n - 1 - i
            label = f"+ {st['added']} ({int(st['order'])})" if st.get("order") else f"+ {st['added']}"
            ax.text(0.01, y, label + (f"  k = {st['k']}" if pooled else ""), transform=col, ha="left", va="center", clip_on=False)
            ax.text(0.77, y, f"{_fmt(tf(st['estimate']))} [{_fmt(tf(st['ci_low']))}, {_fmt(tf(st['ci_high']))}]", transform=col, ha="left", va="center", clip_on=False)
            ax.plot([st["ci_low"], st["ci_high"]], [y, y], color=COLOUR_POOLED if pooled and st["k"] > 1 else COLOUR_STUDY, lw=1.2, gid=f"ci_{i + 1}")
            ax.plot([st["estimate"]], [y], marker="D" if pooled and st["k"] > 1 else "s", color=COLOUR_POOLED if pooled and st["k"] > 1 else COLOUR_STUDY, linestyle="none")
            xs += [st["ci_low"], st["ci_high"]]
        if not xs:
            xs = [-1.0, 1.0]
            ax.text(0.5, 0, "no estimable study", transform=col, ha="center", va="center")
        _axis_setup(ax, xs, summary)
        fig.text(0.01, 1 - 0.25 / height, f"Cumulative meta-analysis by publication year: {summary.get('title', '')}", ha="left", va="top", fontweight="bold")
        fig.text(0.01, 1 - 0.5 / height, _direction(summary), ha="left", va="top", fontsize=8, color=COLOUR_MUTED)
        if not pooled:
            fig.text(0.01, 0.12 / height, _wrap(f"Not pooled, so nothing to accumulate; study estimates in year order. {summary.get('reason')}", 130),
                     ha="left", va="bottom", fontsize=8, color=COLOUR_POOLED)
        save_figure(fig, path)


def direction_markers(intervention: str = DEFAULT_INTERVENTION) -> dict[str, tuple[str, str]]:
    """Marker and legend text per reported direction (outcomes.tsv column favours)."""
    shapes = {"intervention": "^", "control": "v", "none": "D", "mixed": "<", "unclear": "o"}
    return {favours: (marker, direction_words(favours, intervention)) for favours, marker in shapes.items()}


def effect_direction_plot(rows: Sequence[Mapping[str, Any]], path: Paths, *, domains: Sequence[str] | None = None,
                          intervention: str = DEFAULT_INTERVENTION, domain_labels: Mapping[str, str] | None = None) -> None:
    """SWiM effect-direction plot: one line per included study, one column per outcome domain
    (headed by ``domain_labels``, else the domain id).

    Arrow up = favours the intervention, down = favours control, diamond = no difference reported; filled
    when reported statistically significant, open otherwise; marker size by sample size; a dash
    when the study reported no outcome in the domain. Each cell lists the scales it summarises.
    """
    markers = direction_markers(intervention)
    with _style():
        # "": a study's not-reported row when the review has no domain yet (no column to draw)
        doms = [d for d in domains if d] if domains else sorted({r["domain"] for r in rows} - {""})
        studies: list[tuple[str, str, str]] = []
        for r in rows:
            key = (str(r["study_id"]), str(r.get("year") or ""), str(r.get("n_randomized") or ""))
            if key not in studies:
                studies.append(key)
        n = len(studies)
        height = 2.2 + 0.45 * n
        fig = plt.figure(figsize=(11.0, height))
        ax = fig.add_axes((0.0, 1.3 / height, 1.0, (height - 2.0) / height))
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.5, n + 0.5)
        ax.axis("off")
        xcols = [0.40 + i * (0.58 / max(len(doms), 1)) for i in range(len(doms))]
        ax.text(0.01, n, "Study", fontweight="bold", va="center")
        ax.text(0.26, n, "N randomized", fontweight="bold", va="center", ha="center")
        for x, d in zip(xcols, doms):
            ax.text(x, n, (domain_labels or {}).get(d, d), fontweight="bold", va="center", ha="center")
        max_n = max([int(s[2]) for s in studies if s[2].isdigit()] + [1])
        for i, (sid, year, nr) in enumerate(studies):
            y = n - 1 - i
            ax.text(0.01, y, f"{sid} ({year})" if year else sid, va="center")
            ax.text(0.26, y, nr or "NR", va="center", ha="center")
            for x, d in zip(xcols, doms):
                cell = [r for r in rows if r["study_id"] == sid and r["domain"] == d and r["favours"] != "not_reported"]
                if not cell:
                    ax.text(x, y, "\u2013", va="center", ha="center", color=COLOUR_MUTED)
                    continue
                favs = {r["favours"] for r in cell}
                fav = favs.pop() if len(favs) == 1 else "mixed"
                marker = markers.get(fav, markers["unclear"])[0]
                sig = any(r.get("significant") == "yes" for r in cell if r["favours"] == fav) if fav != "mixed" else False
                size = 40 + 160 * (int(nr) / max_n if nr.isdigit() else 0.2)
                ax.scatter([x - 0.07], [y], marker=marker, s=size, facecolors=COLOUR_STUDY if sig else "none", edgecolors=COLOUR_STUDY, linewidths=1.2,
                           gid=f"direction_{sid}_{d}")
                scales = "; ".join(dict.fromkeys(str(r["scale"]) for r in cell))
                numbers = "numbers" if any(r.get("numbers") == "yes" for r in cell) else "no numbers"
                ax.text(x - 0.045, y, _wrap(f"{scales} ({numbers})", 26), va="center", ha="left", fontsize=7)
        handles = [plt.Line2D([], [], marker=m, linestyle="none", markerfacecolor="none", markeredgecolor=COLOUR_STUDY, label=lab) for m, lab in markers.values()]
        handles.append(plt.Line2D([], [], marker="s", linestyle="none", markerfacecolor=COLOUR_STUDY, markeredgecolor=COLOUR_STUDY, label="filled: statistically significant as reported"))
        fig.legend(handles=handles, loc="lower left", ncol=3, fontsize=7, frameon=False, bbox_to_anchor=(0.01, 0.0))
        fig.text(0.01, 1 - 0.25 / height, "Effect direction (SWiM) for every included study", fontweight="bold", va="top")
        fig.text(0.01, 1 - 0.52 / height, f"Up arrow = favours {intervention}; down arrow = favours control; "
                 "marker size = N randomized; \u2013 = not reported", fontsize=8, color=COLOUR_MUTED, va="top")
        save_figure(fig, path)


def run_effect_direction_plot(*, direction_path: str | os.PathLike[str], plot_out: Paths, png_out: str | os.PathLike[str] | None = None,
                              domains: Sequence[str] | None = None, synthesis: Mapping[str, Any] | None = None) -> int:
    """Stage glue: read effect_direction.tsv and draw it (``plot_out``, plus ``png_out`` when given); returns the number of rows drawn.

    ``synthesis`` (the config's synthesis section) names the intervention and labels the domains
    (``intervention_label``, ``domain_labels``); domains are drawn in ``direction_domains`` order."""
    from .effects import DIRECTION_FIELDS
    from .tables import read_tsv

    rows = read_tsv(direction_path, required=DIRECTION_FIELDS)
    present = list(dict.fromkeys(r["domain"] for r in rows if r["domain"]))
    synthesis = synthesis or {}
    order = list(synthesis.get("direction_domains") or [])
    # every configured domain gets a column (dashes where no study reported it: SWiM shows the gap)
    doms = list(domains) if domains else order + [d for d in present if d and d not in order]
    effect_direction_plot(rows, output_paths(plot_out) + ([Path(png_out)] if png_out else []), domains=doms,
                          intervention=str(synthesis.get("intervention_label") or DEFAULT_INTERVENTION), domain_labels=synthesis.get("domain_labels") or {})
    return len(rows)
