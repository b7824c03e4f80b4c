"""Effect sizes from reported statistics (MD, SMD as metafor escalc, log OR/RR, RD) and the SWiM effect-direction table."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import DEFAULT_INTERVENTION, EFFECT_FIELDS, LIST_SEP, LOG_SCALE_MEASURES, direction_words, window_text, yi_name
from .errors import ConfigError, InputFormatError
from .extraction import OutcomeRow, Study, load_outcomes, load_studies
from .tables import read_tsv, write_tsv

LOG = logging.getLogger(__name__)

# The one sign convention of every harmonised effect (yi) and every plot.
# The intervention's name comes from the protocol (config synthesis.intervention_label).
FAVOURS_LEFT = "Favours control"


def direction_note(intervention: str = DEFAULT_INTERVENTION) -> str:
    """The sign convention in words, naming the protocol's intervention."""
    return f"Positive values favour {intervention} (each outcome's sign set by whether lower or higher scores are better)"


def favours_right(intervention: str = DEFAULT_INTERVENTION) -> str:
    """The label on the positive side of an effect axis."""
    return f"Favours {intervention}"


MEASURES: tuple[str, ...] = ("MD", "SMD", "OR", "RR", "RD")
# The 97.5% quantile of the standard normal exactly as scipy.stats.norm.ppf(0.975) gives it (a test
# checks the two are equal). Written out because importing scipy.stats for this one number cost about
# 0.85 s CPU at every Snakemake start (its input check computes the effects of every analysis) and in
# every job computing an effect from a CI; scipy is imported by the functions that compute with it.
Z975: float = 1.959963984540054


# effects.tsv: the contract columns, then provenance columns the forest plot and trace use
EFFECT_TABLE_FIELDS: tuple[str, ...] = EFFECT_FIELDS + ("outcome_id", "scale", "n_intervention", "n_control", "inferred", "lower_is_better")
DIRECTION_FIELDS: tuple[str, ...] = (
    "study_id",
    "year",
    "n_randomized",
    "domain",
    "scale",  # the row's key: the outcomes.tsv scale without a trailing " (...)" (the plot's short label)
    "scale_text",  # the scale as outcomes.tsv gives it, unit and qualifier kept ("duration of response (days)"): the report's table
    "timepoint",
    "favours",  # intervention | control | none | mixed | not_reported
    "significant",  # yes | no | "" (as reported)
    "numbers",  # yes when a between-arm number was reported, no otherwise
    "summary",
    "inferred",
    "outcome_ids",
)


class NotEstimable(Exception):
    """Raised inside the converters when a row cannot give the requested measure (message = reason)."""


@dataclass(frozen=True)
class Effect:
    """One study's effect for one analysis (harmonised: positive favours the intervention); yi/vi None when not estimable."""

    study: str
    analysis: str
    measure: str
    yi: float | None
    vi: float | None
    how: str
    outcome_id: str = ""
    scale: str = ""
    n_intervention: int | None = None
    n_control: int | None = None
    inferred: bool = False
    # the outcome row's direction (outcomes.tsv lower_is_better): how yi was signed, and for a ratio
    # how it is shown (shown_sign); None when not estimable
    lower_is_better: bool | None = None

    def to_row(self) -> dict[str, Any]:
        """The effects.tsv row; yi and vi at full precision (the shortest text that reads back as
        the same float), because the pool stage computes from them: rounding them to the table's
        6 digits would move pooled results in their last digits."""
        row = {f: getattr(self, f) for f in EFFECT_TABLE_FIELDS}
        for name in ("yi", "vi"):
            if isinstance(row[name], float) and math.isfinite(row[name]):
                row[name] = repr(row[name] + 0.0)  # + 0.0: one spelling of zero
        return row


# ---- elementary effect sizes (metafor escalc conventions) -------------------------------------


def hedges_correction(df: float) -> float:
    """Exact small-sample correction c(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2)), as metafor's .cmicalc."""
    from scipy import special  # imported when needed: the jobs that only import this module (plots, report, trace) do not load scipy

    return math.exp(special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2))


def md_from_means(m1: float, sd1: float, n1: int, m2: float, sd2: float, n2: int) -> tuple[float, float]:
    """Raw mean difference m1 - m2 and its variance sd1²/n1 + sd2²/n2 (escalc "MD", vtype "LS")."""
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2


def smd_from_means(m1: float, sd1: float, n1: int, m2: float, sd2: float, n2: int) -> tuple[float, float]:
    """Hedges' g and its variance exactly as metafor ``escalc(measure="SMD")`` (vtype "LS")."""
    sdp = math.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))
    g = hedges_correction(n1 + n2 - 2) * (m1 - m2) / sdp
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def smd_from_t(t: float, n1: int, n2: int) -> tuple[float, float]:
    """Hedges' g from an independent-samples t and the arm sizes (metafor ``escalc(measure="SMD", ti=...)``)."""
    g = hedges_correction(n1 + n2 - 2) * t * math.sqrt(1 / n1 + 1 / n2)
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def t_from_p(p: float, n1: int, n2: int, *, sign: float) -> float:
    """The t statistic of an exact two-sided p with n1 + n2 - 2 df, with the given sign."""
    from scipy import stats  # imported when needed (see hedges_correction)

    return math.copysign(float(stats.t.isf(p / 2, n1 + n2 - 2)), sign)


def variance_from_ci(low: float, high: float, *, log: bool = False) -> float:
    """Sampling variance from a 95% CI: ((high - low) / (2 × 1.96))², on the log scale for ratios."""
    if log:
        low, high = math.log(low), math.log(high)
    if high <= low:
        raise NotEstimable(f"CI {low:g} to {high:g} has no width")
    return ((high - low) / (2 * Z975)) ** 2


def two_by_two(a: float, n1: float, c: float, n2: float, *, measure: str) -> tuple[float, float, bool]:
    """log OR, log RR or RD (intervention vs control) from events/n; 0.5 added to every cell only when a cell is 0.

    Returns (yi, vi, corrected) as metafor ``escalc`` with add=1/2, to="only0".
    """
    b, d = n1 - a, n2 - c
    if min(a, b, c, d) < 0:
        raise NotEstimable(f"events exceed n ({a:g}/{n1:g} vs {c:g}/{n2:g})")
    corrected = min(a, b, c, d) == 0
    if corrected:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    n1c, n2c = a + b, c + d
    if measure == "OR":
        return math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, corrected
    if measure == "RR":
        return math.log((a / n1c) / (c / n2c)), 1 / a - 1 / n1c + 1 / c - 1 / n2c, corrected
    if measure == "RD":
        p1, p2 = a / n1c, c / n2c
        return p1 - p2, p1 * (1 - p1) / n1c + p2 * (1 - p2) / n2c, corrected
    raise NotEstimable(f"measure {measure} needs counts")


# ---- one outcome row -> one effect ------------------------------------------------------------


def _raw_sign(row: OutcomeRow) -> float:
    """+1 when the row's estimate is intervention minus control, -1 when control minus intervention."""
    if row.direction == "intervention_minus_control":
        return 1.0
    if row.direction == "control_minus_intervention":
        return -1.0
    raise NotEstimable(f"{row.outcome_id}: sign convention (column direction) not given")


def _harmonise(row: OutcomeRow, raw: float, *, reported_sign: float | None = None, ratio: bool = False) -> tuple[float, str]:
    """Turn an intervention-minus-control value into the harmonised scale (positive favours the intervention).

    The note describes what happened to the number as the source gave it: ``reported_sign`` is the
    row's own convention (+1 intervention − control, -1 control − intervention) for an estimate
    read as reported; None for a value computed here from arm-level data (always intervention −
    control, or intervention vs control for a ratio). A reported 12.7 that stays 12.7 is "sign kept".
    """
    if row.lower_is_better is None:
        raise NotEstimable(f"{row.outcome_id}: lower_is_better not given, so the direction cannot be harmonised")
    why = "lower scores are better" if row.lower_is_better else "higher is better"
    if reported_sign is None:
        source = "computed as intervention vs control" if ratio else "computed as intervention − control"
        flipped = bool(row.lower_is_better)
    else:
        source = "reported as " + ("intervention − control" if reported_sign > 0 else "control − intervention")
        flipped = (reported_sign < 0) != bool(row.lower_is_better)
    yi = -raw if row.lower_is_better else raw
    if ratio and row.lower_is_better:
        # yi is log(control / intervention): say so, and give the ratio itself, which is what is shown
        return yi, (f"{source}; sign flipped so that positive favours the intervention (lower is better): "
                    f"yi = log(control / intervention) = -log(ratio); ratio (intervention / control) {math.exp(raw):.4g}, below 1 favours the intervention")
    if flipped:
        return yi, f"{source}; sign flipped so that positive favours the intervention ({why})"
    return yi, f"{source}; sign kept: positive favours the intervention ({why})"


def effect_from_row(row: OutcomeRow, measure: str, *, study: Study, source: str = "outcomes.tsv") -> tuple[float, float, str]:
    """Compute (yi, vi, how) for ``measure`` from one outcome row; raise NotEstimable with the reason.

    Conversions: MD from an MD with 95% CI or SE, or from arm means/SDs/n (also change scores);
    SMD from a reported SMD/d with 95% CI (taken as reported), from arm means/SDs/n (Hedges' g as
    metafor), from t with n, or from an exact p with n; OR/RR/RD from 2x2 counts. No SD is ever
    imputed. A crossover trial's paired estimate (MD/SMD with CI or SE) is used as reported; arm
    means from a crossover are analysed as if parallel (conservative: ignores the within-person
    correlation), which the `how` text says, and so are 2x2 counts; a crossover's t or p (a paired
    analysis) gives no SMD, since the parallel-group conversion would need the within-person correlation.
    """
    kind = row.statistic_kind
    reported_sign: float | None = None  # set for an estimate read with its own sign convention
    cross = " crossover trial: paired (within-participant) estimate used as reported;" if study.crossover else ""
    n1, n2 = row.n_intervention, row.n_control
    if kind in ("mean_sd", "change_sd"):
        absent = [name for name in ("mean_intervention", "sd_intervention", "mean_control", "sd_control") if getattr(row, name) is None]
        if absent:
            raise NotEstimable(f"{row.outcome_id}: {', '.join(absent)} not reported; no SD imputed")
    if measure == "MD":
        if kind in ("md_ci", "md_se"):
            reported_sign = _raw_sign(row)
            raw = reported_sign * float(row.estimate)  # type: ignore[arg-type]
            vi = variance_from_ci(row.ci_low, row.ci_high) if kind == "md_ci" else float(row.se) ** 2  # type: ignore[arg-type]
            src = f"MD {row.estimate:g} (95% CI {row.ci_low:g} to {row.ci_high:g}); vi from the CI" if kind == "md_ci" else f"MD {row.estimate:g}, SE {row.se:g}; vi = SE²"
        elif kind in ("mean_sd", "change_sd"):
            if not (n1 and n2):
                raise NotEstimable(f"{row.outcome_id}: arm means and SDs reported but not n per arm")
            raw, vi = md_from_means(row.mean_intervention, row.sd_intervention, n1, row.mean_control, row.sd_control, n2)  # type: ignore[arg-type]
            src = ("change-score" if kind == "change_sd" else "follow-up") + f" means/SDs, n {n1}/{n2}"
            if study.crossover:
                cross = " crossover arms analysed as parallel groups (conservative);"
        else:
            raise NotEstimable(f"{row.outcome_id}: {kind} gives no mean difference with a precision")
    elif measure == "SMD":
        if kind in ("mean_sd", "change_sd", "t_n", "p_n") and n1 is not None and n2 is not None and (min(n1, n2) < 1 or n1 + n2 <= 2):
            # Hedges' correction and the SMD's variance need n1 + n2 - 2 > 0 and both arms non-empty.
            raise NotEstimable(f"{row.outcome_id}: n per arm {n1}/{n2} leaves no degrees of freedom; no SMD")
        if kind == "smd_ci":
            reported_sign = _raw_sign(row)
            raw = reported_sign * float(row.estimate)  # type: ignore[arg-type]
            vi = variance_from_ci(row.ci_low, row.ci_high)  # type: ignore[arg-type]
            src = f"SMD/d {row.estimate:g} (95% CI {row.ci_low:g} to {row.ci_high:g}) as reported; vi from the CI"
        elif kind in ("mean_sd", "change_sd"):
            if not (n1 and n2):
                raise NotEstimable(f"{row.outcome_id}: arm means and SDs reported but not n per arm")
            raw, vi = smd_from_means(row.mean_intervention, row.sd_intervention, n1, row.mean_control, row.sd_control, n2)  # type: ignore[arg-type]
            src = f"Hedges' g from {'change-score' if kind == 'change_sd' else 'follow-up'} means/SDs, n {n1}/{n2} (escalc SMD)"
            if study.crossover:
                cross = " crossover arms analysed as parallel groups (conservative);"
        elif kind in ("t_n", "p_n") and study.crossover:
            raise NotEstimable(f"{row.outcome_id}: a crossover trial's t or p comes from a paired analysis; turning it into Hedges' g "
                               "with the parallel-group formula needs the within-person correlation (Cochrane Handbook 23.2.7); no SMD")
        elif kind == "t_n":
            reported_sign = _raw_sign(row)
            raw, vi = smd_from_t(reported_sign * float(row.t), n1, n2)  # type: ignore[arg-type]
            src = f"Hedges' g from t = {row.t:g}, n {n1}/{n2}"
        elif kind == "p_n":
            p = row.p_value
            if p is None or not (n1 and n2):
                raise NotEstimable(f"{row.outcome_id}: needs an exact p and n per arm (p = {row.p!r})")
            if row.favours not in ("intervention", "control"):
                raise NotEstimable(f"{row.outcome_id}: the direction of the p value is not reported")
            # favours the intervention: intervention-minus-control is negative when lower is better
            better_low = row.lower_is_better is not False
            sign = -1.0 if (row.favours == "intervention") == better_low else 1.0
            raw, vi = smd_from_t(t_from_p(p, n1, n2, sign=sign), n1, n2)
            src = f"Hedges' g from exact p = {p:g}, n {n1}/{n2}"
        elif kind in ("md_ci", "md_se", "md_only"):
            raise NotEstimable(f"{row.outcome_id}: mean difference without SDs or n ({row.scale}); no SD imputed")
        else:
            raise NotEstimable(f"{row.outcome_id}: {kind} gives no standardized mean difference")
    elif measure in ("OR", "RR", "RD"):
        if kind != "counts":
            raise NotEstimable(f"{row.outcome_id}: {kind} gives no 2x2 table")
        a, c = row.events_intervention, row.events_control
        if n1 is not None and n2 is not None and min(n1, n2) < 1:
            # 0/0 has no risk; with the 0.5 correction it would become 0.5/1 and give an effect from nobody.
            raise NotEstimable(f"{row.outcome_id}: n per arm {n1}/{n2}: an arm without participants gives no {measure}")
        if measure in LOG_SCALE_MEASURES and a is not None and c is not None and n1 and n2 and ((a == 0 and c == 0) or (a == n1 and c == n2)):
            # Cochrane Handbook 10.4.4.1 (RevMan, metafor's rma.mh/rma.peto): such a study says nothing
            # about a ratio; the RD keeps it (its difference, 0, is information).
            none_or_all = "no events" if a == 0 else "every participant had the event"
            raise NotEstimable(f"{row.outcome_id}: {none_or_all} in both arms ({a}/{n1} vs {c}/{n2}): uninformative for an {measure}, left out (Cochrane Handbook 10.4.4.1)")
        raw, vi, corrected = two_by_two(a, n1, c, n2, measure=measure)  # type: ignore[arg-type]
        src = f"{measure} from {row.events_intervention}/{n1} vs {row.events_control}/{n2}" + (" (0.5 added to every cell: a cell was 0)" if corrected else "")
        if study.crossover:
            cross = " crossover arms analysed as parallel groups (conservative);"
        if measure in LOG_SCALE_MEASURES:
            src = "log " + src
    else:
        raise NotEstimable(f"unknown measure {measure}")
    if not (vi > 0 and math.isfinite(vi)):
        raise InputFormatError(f"{row.outcome_id}: {row.statistic_kind} gives a sampling variance of {vi!r} for the {measure}, not a positive number",
                               where=f"{source}:{row.line}", fix="check the SE, CI or SDs of that row")
    yi, how_sign = _harmonise(row, raw, reported_sign=reported_sign, ratio=measure in LOG_SCALE_MEASURES)
    inferred = " INFERRED value (not read)." if row.inferred else ""
    return yi, vi, f"{row.outcome_id}: {src};{cross} {how_sign}.{inferred}"


# ---- analyses ---------------------------------------------------------------------------------

KIND_PRIORITY: dict[str, int] = {"mean_sd": 0, "change_sd": 1, "md_ci": 2, "md_se": 3, "smd_ci": 4, "t_n": 5, "p_n": 6, "counts": 7}


def _in_window(row: OutcomeRow, window: Mapping[str, Any] | None) -> bool:
    if not window:
        return True
    if row.timepoint_days is None:
        return False
    return float(window.get("min", 0)) <= row.timepoint_days <= float(window.get("max", math.inf))


def _rank(row: OutcomeRow) -> tuple[bool, int]:
    """The protocol's order of the rows of one study in an analysis: primary-endpoint rows first, then KIND_PRIORITY."""
    return (not row.primary_endpoint, KIND_PRIORITY.get(row.statistic_kind, 99))


def _not_used(chosen: OutcomeRow, others: Sequence[tuple[OutcomeRow, Any]], outside: Sequence[OutcomeRow], measure: str,
              window: Mapping[str, Any] | None) -> str:
    """' Also in the window, not used: X (why); ... Outside the window (...): Y (28 days).' ('' when every row of the domain was used)."""
    parts = []
    for row, got in others:
        if isinstance(got, NotEstimable):
            why = str(got).removeprefix(f"{row.outcome_id}: ")
            parts.append(f"{row.outcome_id} (not estimable as {measure}: {why})")
        elif chosen.primary_endpoint and not row.primary_endpoint:
            parts.append(f"{row.outcome_id} (a primary-endpoint row comes first)")
        elif _rank(chosen) != _rank(row):
            parts.append(f"{row.outcome_id} ({chosen.statistic_kind} comes before {row.statistic_kind})")
        else:  # tied on every key but gives the same yi and vi (analysis_effects refuses a tie that differs)
            parts.append(f"{row.outcome_id} (ties with {chosen.outcome_id} and gives the same yi and vi; the earlier outcomes.tsv line is used)")
    text = f" Also in the window, not used: {'; '.join(parts)}." if parts else ""
    if outside:
        days = "; ".join(f"{r.outcome_id} ({f'{r.timepoint_days:g} days' if r.timepoint_days is not None else 'no single timepoint in days'})" for r in outside)
        text += f" Outside the window ({window_text(window)}): {days}."
    return text


def analysis_effects(analysis: Mapping[str, Any], studies: Sequence[Study], outcomes: Sequence[OutcomeRow], *, source: str = "outcomes.tsv") -> list[Effect]:
    """One Effect per study for one configured analysis (yi None with the reason when not estimable).

    Candidate rows: the analysis domain, inside timepoint_days {min, max}; primary-endpoint rows first,
    then by KIND_PRIORITY, then outcomes.tsv line. The first row that gives the measure is used, and
    its ``how`` names every other row of the domain and why it was not used (not estimable, ranked
    after it, or outside the window); if none gives the measure, the study is listed as not estimable
    with every reason. ``source`` is the outcomes.tsv path its errors name.

    Raises:
        ConfigError: another row ties with the row used on every ordering key (primary_endpoint and
            statistic kind) and gives a different estimate (two arms of a multi-arm trial against one
            control, say, or two timepoints in the window): which one is pooled would depend on the
            order of outcomes.tsv, so the reviewer decides (primary_endpoint, or a narrower window).
    """
    measure = analysis["measure"]
    if measure not in MEASURES:
        raise ConfigError(f"analysis {analysis['id']}: unknown measure {measure!r}", where="config/config.yaml synthesis.analyses", fix=f"use one of {', '.join(MEASURES)}")
    window = analysis.get("timepoint_days")
    out: list[Effect] = []
    used: list[OutcomeRow] = []
    for study in sorted(studies, key=lambda s: s.study_id):
        rows = [r for r in outcomes if r.study_id == study.study_id and r.domain == analysis["domain"]]
        if not rows:
            out.append(Effect(study.study_id, analysis["id"], measure, None, None, f"no {analysis['domain']} outcome reported: none in outcomes.tsv for this study"))
            continue
        if all(r.statistic_kind == "direction_only" for r in rows):
            said = LIST_SEP.join(f"{r.scale}: {r.value_text}" for r in rows)
            out.append(Effect(study.study_id, analysis["id"], measure, None, None, f"no numbers reported: {said}", rows[0].outcome_id, rows[0].scale))
            continue
        windowed = [r for r in rows if _in_window(r, window)]
        if not windowed:
            out.append(Effect(study.study_id, analysis["id"], measure, None, None,
                              f"outside the timepoint window: {LIST_SEP.join(r.outcome_id for r in rows)} outside {window} or without a single timepoint"))
            continue
        outside = [r for r in rows if r not in windowed]
        ordered = sorted(windowed, key=lambda r: (*_rank(r), r.line))
        # every row in the window is tried, so the how can say why each one not used was not used
        tried: list[tuple[OutcomeRow, Any]] = []
        for row in ordered:
            try:
                tried.append((row, effect_from_row(row, measure, study=study, source=source)))
            except NotEstimable as why:
                tried.append((row, why))
        estimable = [(row, got) for row, got in tried if not isinstance(got, NotEstimable)]
        if not estimable:
            numbers = any(r.statistic_kind not in ("direction_only", "p_only", "other", "percent") for r in windowed)
            lead = f"not estimable as {measure}" if numbers else "no numbers reported"
            reasons = " | ".join(str(got) for _, got in tried)
            later = _not_used(ordered[0], [], outside, measure, window)  # " Outside the window ...": a sentence of its own
            out.append(Effect(study.study_id, analysis["id"], measure, None, None,
                              f"{lead}: {reasons}" + (f"{'' if reasons.endswith('.') else '.'}{later}" if later else ""),
                              ordered[0].outcome_id, ordered[0].scale))
            continue
        row, (yi, vi, how) = estimable[0]
        for other, (oyi, ovi, _) in estimable[1:]:
            if _rank(other) == _rank(row) and (oyi, ovi) != (yi, vi):
                kind = f"{'primary-endpoint' if row.primary_endpoint else 'non-primary'} {row.statistic_kind} rows"
                raise ConfigError(
                    f"analysis {analysis['id']}: {study.study_id} has two {kind} in the window ({window_text(window)}) that give different "
                    f"{measure}s, {row.outcome_id} and {other.outcome_id} (two arms against one control, or two timepoints?); which one is "
                    f"pooled would depend on the order of outcomes.tsv",
                    where=f"{source}:{row.line} and {source}:{other.line}",
                    fix=f"set primary_endpoint true on the row to pool and false on the other, or narrow timepoint_days of analysis {analysis['id']} "
                        f"in config/config.yaml so that one falls outside",
                )
        how += _not_used(row, [(r, got) for r, got in tried if r is not row], outside, measure, window)
        out.append(Effect(study.study_id, analysis["id"], measure, yi, vi, how, row.outcome_id, row.scale, row.n_intervention, row.n_control, row.inferred,
                          row.lower_is_better))
        used.append(row)
    if measure in LOG_SCALE_MEASURES:
        _one_direction(analysis, used, source=source)
    return out


def _one_direction(analysis: Mapping[str, Any], used: Sequence[OutcomeRow], *, source: str = "outcomes.tsv") -> None:
    """A ratio analysis pools one event: the rows it uses must agree on lower_is_better.

    Harmonising flips log ratios of a lower-is-better row, and exp(-log RR) of one event is not the
    RR of the other (the RR of relapse is not 1 / the RR of remission), so a ratio analysis mixing
    the two would pool different quantities and could show no single ratio (intervention / control).
    """
    lower = [r for r in used if r.lower_is_better]
    higher = [r for r in used if not r.lower_is_better]
    if lower and higher:
        raise InputFormatError(
            f"analysis {analysis['id']} ({analysis['measure']}) would pool {lower[0].outcome_id} (lower_is_better true) with "
            f"{higher[0].outcome_id} (lower_is_better false); a ratio pools one event, and every row of it has one direction",
            where=f"{source}:{lower[0].line} and {source}:{higher[0].line}",
            fix="give every row of that event the same lower_is_better, or put the other event in its own domain and analysis",
        )


def check_analyses(synthesis: Mapping[str, Any], studies: Sequence[Study], outcomes: Sequence[OutcomeRow], *, source: str) -> None:
    """The effects stage's refusals that the extraction tables decide, made before any job runs
    (`livingreview validate` and Snakemake's start): ``analysis_effects`` itself, for every analysis
    over every study of studies.tsv, so each refusal is the stage's own one-line message naming
    ``source`` (the outcomes.tsv path of the config), file:line and the fix. Nothing is kept.

    What the tables decide: two rows of one study that tie on every ordering key in an analysis's
    window and give different estimates (one study's rows, its crossover flag and the analysis);
    a ratio analysis whose rows, one per study, mix lower_is_better true and false; a row whose
    numbers give a non-positive sampling variance.

    What remains for the effects stage: which studies are included is known only after dedup,
    screening and linking (results/studies/included_studies.tsv); the stage keeps only those. Here
    every study of studies.tsv counts as included, which is what the table holds by its contract
    (config/README.md: "studies.tsv holds the included studies only"). So for a study that is in
    studies.tsv but not included by screening (a mistake the stage logs), this check is stricter
    than the stage: it refuses a tie among that study's rows, and a mix of directions to which that
    study's row belongs, which the stage would not see until the study is included.
    """
    for analysis in synthesis.get("analyses") or []:
        analysis_effects(analysis, studies, outcomes, source=source)


# ---- SWiM effect direction ----------------------------------------------------------------------


def _summary(row: OutcomeRow) -> str:
    kind = row.statistic_kind
    p = f", p {row.p}" if row.p else ""
    sign = {"intervention_minus_control": "; intervention − control", "control_minus_intervention": "; control − intervention"}.get(row.direction, "")
    if kind in ("md_ci", "smd_ci") and row.estimate is not None:
        name = "MD" if kind == "md_ci" else "d"
        return f"{name} {row.estimate:g} (95% CI {row.ci_low:g} to {row.ci_high:g}{sign}){p}"
    if kind == "md_se":
        return f"MD {row.estimate:g} (SE {row.se:g}{sign}){p}"
    if kind == "counts":
        return f"{row.events_intervention}/{row.n_intervention} vs {row.events_control}/{row.n_control}" + (" (inferred by arithmetic)" if row.inferred else "")
    if kind in ("mean_sd", "change_sd"):
        # one precision for the four numbers (the most decimals any has), so "16.50" is not shown as "16.5"
        # beside "34.44": outcomes.tsv keeps numbers, not the trailing zeros they were reported with
        values = (row.mean_intervention, row.sd_intervention, row.mean_control, row.sd_control)
        places = max(len(f"{v:g}".partition(".")[2]) if "e" not in f"{v:g}" else 0 for v in values)
        m1, s1, m2, s2 = (f"{v:.{places}f}" for v in values)
        return f"{m1} ± {s1} vs {m2} ± {s2}{p}"
    if kind in ("percent", "md_only", "p_only", "other"):
        return f"{row.statistic}: {row.value_text}{p}".strip(", ")
    return f"no numbers: {row.value_text}" if row.value_text else "no numbers"


def effect_direction(studies: Sequence[Study], outcomes: Sequence[OutcomeRow], *, domains: Sequence[str],
                     intervention: str = DEFAULT_INTERVENTION) -> list[dict[str, Any]]:
    """SWiM effect-direction rows: every included study × reported outcome in ``domains``.

    Rows of one study with the same domain, scale and timepoint are one row (their outcome_ids
    listed); the scale is compared without a trailing " (...)", and ``scale_text`` keeps the scales as
    outcomes.tsv gives them ("duration of response (days)"; one that adds a unit or qualifier to the
    bare name replaces it: "CAPS-5 response" and "CAPS-5 response (>=30% reduction)" give the latter). The row's direction and significance are the first that states them. A study with no
    outcome in any of the domains gets one row, favours "not_reported" (its domain the first of
    ``domains``, or "" when there is none: outcomes.tsv has no row yet and no direction_domains).
    """
    rows: list[dict[str, Any]] = []
    for study in sorted(studies, key=lambda s: ((s.year or 0), s.study_id)):
        mine = [r for r in outcomes if r.study_id == study.study_id and r.domain in domains]
        base = {"study_id": study.study_id, "year": study.year, "n_randomized": study.n_randomized}
        if not mine:
            rows.append({**base, "domain": domains[0] if domains else "", "scale": "", "scale_text": "", "timepoint": "", "favours": "not_reported", "significant": "", "numbers": "no",
                         "summary": "no outcome of these domains reported in the retrieved sources", "inferred": False, "outcome_ids": ""})
            continue
        groups: dict[tuple[str, str, str], list[OutcomeRow]] = {}
        for r in mine:
            scale = r.scale.split(" (")[0]
            groups.setdefault((r.domain, scale, r.timepoint), []).append(r)
        for (domain, scale, timepoint), grp in groups.items():
            numeric = [r for r in grp if r.statistic_kind not in ("direction_only", "p_only", "percent", "md_only")]
            lead = numeric[0] if numeric else grp[0]
            favours = next((r.favours for r in grp if r.favours), "")
            significant = next((r.significant for r in grp if r.significant), "")
            reported = any(r.statistic_kind != "direction_only" for r in grp)  # some number, e.g. a one-arm median
            between_arms = any(r.statistic_kind not in ("direction_only", "other") for r in grp)  # the "numbers" column
            texts = list(dict.fromkeys(r.scale for r in grp))
            scale_text = "; ".join([t for t in texts if t != scale] or texts)
            # no number: the direction in the words of the Direction column and the plot's legend ("favours <intervention>")
            summary = _summary(lead) if reported else f"{direction_words(favours or 'unclear', intervention)}, no numbers"
            rows.append({**base, "domain": domain, "scale": scale, "scale_text": scale_text, "timepoint": timepoint, "favours": favours or "unclear", "significant": significant,
                         "numbers": "yes" if between_arms else "no", "summary": summary, "inferred": any(r.inferred for r in grp),
                         "outcome_ids": LIST_SEP.join(r.outcome_id for r in grp)})
    return rows


# ---- stage entry point ----------------------------------------------------------------------------


def restrict_to_included(studies: Sequence[Study], included_path: str | os.PathLike[str] | None) -> list[Study]:
    """Keep the studies listed in results/studies/included_studies.tsv (column study_id); log the others."""
    if not included_path:
        return list(studies)
    included = {r["study_id"] for r in read_tsv(included_path, required=("study_id",))}
    kept = [s for s in studies if s.study_id in included]
    for s in studies:
        if s.study_id not in included:
            LOG.info("study %s is in studies.tsv but not included by the screening/linking stage: left out of the synthesis", s.study_id)
    unknown = sorted(included - {s.study_id for s in studies})
    if unknown:
        raise InputFormatError(f"included studies without a studies.tsv row: {', '.join(unknown)}", where=str(included_path), fix="add them to resources/extraction/studies.tsv")
    return kept


def run_compute_effects(
    *,
    outcomes_path: str | os.PathLike[str],
    studies_path: str | os.PathLike[str],
    included_path: str | os.PathLike[str] | None,
    synthesis: Mapping[str, Any],
    effects_out: str | os.PathLike[str],
    direction_out: str | os.PathLike[str],
) -> tuple[int, int]:
    """Stage `effects`: write effects.tsv (every analysis × included study) and effect_direction.tsv.

    Refuses (ConfigError) a config that marks more than one analysis primary.
    """
    from .config import primary_analysis

    primary = primary_analysis(dict(synthesis))
    LOG.info("primary analysis: %s", primary["id"] if primary else "none marked (synthesis.analyses[].primary)")
    studies = restrict_to_included(load_studies(studies_path), included_path)
    outcomes = [o for o in load_outcomes(outcomes_path, load_studies(studies_path)) if o.study_id in {s.study_id for s in studies}]
    effects: list[Effect] = []
    for analysis in synthesis.get("analyses", []):
        got = analysis_effects(analysis, studies, outcomes, source=str(outcomes_path))
        LOG.info("analysis %s: %d studies, %d with an effect size", analysis["id"], len(got), sum(e.yi is not None for e in got))
        effects.extend(got)
    direction = effect_direction(studies, outcomes, domains=synthesis.get("direction_domains") or sorted({o.domain for o in outcomes}),
                                 intervention=str(synthesis.get("intervention_label") or DEFAULT_INTERVENTION))
    n_eff = write_tsv(effects_out, EFFECT_TABLE_FIELDS, (e.to_row() for e in effects))
    n_dir = write_tsv(direction_out, DIRECTION_FIELDS, direction)
    LOG.info("wrote %d effect rows and %d effect-direction rows for %d studies", n_eff, n_dir, len(studies))
    return n_eff, n_dir


def read_effects(path: str | os.PathLike[str], *, analysis: str | None = None) -> list[Effect]:
    """Read effects.tsv (optionally one analysis) back into Effect records; bad numbers name file:line."""
    out: list[Effect] = []
    for row in read_tsv(path, required=EFFECT_FIELDS):
        if analysis is not None and row["analysis"] != analysis:
            continue
        try:
            yi = float(row["yi"]) if row["yi"] else None
            vi = float(row["vi"]) if row["vi"] else None
        except ValueError:
            raise InputFormatError(f"yi/vi not numbers ({row['yi']!r}, {row['vi']!r})", where=f"{path}:{row['_line']}", fix="re-run the effects stage") from None
        n1 = row.get("n_intervention", "")
        n2 = row.get("n_control", "")
        lower = row.get("lower_is_better", "")
        out.append(Effect(row["study"], row["analysis"], row["measure"], yi, vi, row["how"], row.get("outcome_id", ""), row.get("scale", ""),
                          int(n1) if n1 else None, int(n2) if n2 else None, row.get("inferred", "") == "true",
                          True if lower == "true" else False if lower == "false" else None))
    return out


def iter_estimable(effects: Iterable[Effect]) -> list[Effect]:
    """The effects with a yi and vi."""
    return [e for e in effects if e.yi is not None and e.vi is not None]


def trace_study_numbers(study_id: str, *, outcomes_path: str | os.PathLike[str], studies_path: str | os.PathLike[str],
                        effects_path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The outcomes.tsv rows of one study (file:line, statistic, value, where it was read) and, when
    effects.tsv is given, the analyses and harmonised yi/vi each row feeds (for `livingreview trace`)."""
    studies = load_studies(studies_path)
    rows = [r for r in load_outcomes(outcomes_path, studies) if r.study_id == study_id]
    used: dict[str, list[dict[str, Any]]] = {}
    if effects_path:
        for e in read_effects(effects_path):
            if e.study == study_id and e.outcome_id and e.yi is not None:
                used.setdefault(e.outcome_id, []).append({"analysis": e.analysis, "measure": e.measure, "yi": e.yi, "vi": e.vi,
                                                          "yi_is": yi_name(e.measure, e.lower_is_better)})
    return [
        {
            "outcome_id": r.outcome_id,
            "reference": f"{outcomes_path}:{r.line}",
            "domain": r.domain,
            "scale": r.scale,
            "timepoint": r.timepoint,
            "statistic": r.statistic,
            "value": r.value_text,
            "inferred": r.inferred,
            "location": r.location,
            "sources": r.sources,
            "used_in": used.get(r.outcome_id, []),
        }
        for r in rows
    ]
