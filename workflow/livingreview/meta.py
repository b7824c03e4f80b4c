"""Meta-analytic pooling (FE, DL, PM, REML; Knapp-Hartung, plain or ad hoc; prediction and tau² intervals) equal to metafor."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from .constants import LOG_SCALE_MEASURES, POOL_JSON_KEYS, column_label
from .errors import InputFormatError, ReconciliationError

LOG = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("FE", "DL", "REML", "PM")
EGGER_MIN_K = 10
REML_TOL = 1e-12
REML_MAXITER = 1000


@dataclass(frozen=True)
class PoolResult:
    """One fitted model: the constants.POOL_JSON_KEYS values plus weights and test statistics."""

    method: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float | None  # 95% prediction interval (Higgins 2009): random effects and k >= 3 only
    pi_high: float | None
    tau2: float
    tau2_ci_low: float | None
    tau2_ci_high: float | None
    i2: float
    h2: float
    q: float
    q_p: float
    hksj: bool
    hksj_adhoc: bool = False  # Knapp-Hartung with the ad hoc correction max(1, s²) (metafor test="adhoc"); False without hksj
    stat: float = math.nan  # z or t statistic of the estimate
    p: float = math.nan
    df: int | None = None  # degrees of freedom of the t distribution (HKSJ), else None
    weights: tuple[float, ...] = field(default_factory=tuple)  # percent, as metafor's weights()

    def to_json(self) -> dict[str, Any]:
        """The POOL_JSON_KEYS mapping (plus ``pooled: true``, the test statistic and weights)."""
        out: dict[str, Any] = {key: getattr(self, key) for key in POOL_JSON_KEYS}
        out.update(pooled=True, reason=None, stat=self.stat, p=self.p, df=self.df, weights=list(self.weights))
        return out


def empty_json(*, method: str, k: int, hksj: bool, reason: str, hksj_adhoc: bool = False) -> dict[str, Any]:
    """The JSON of an analysis that is not pooled: every POOL_JSON_KEYS key (nulls), ``pooled: false``, ``reason``.

    ``hksj_adhoc`` is recorded as the model would have used it: True only together with ``hksj``."""
    out: dict[str, Any] = {key: None for key in POOL_JSON_KEYS}
    out.update(method=method, k=k, hksj=hksj, hksj_adhoc=bool(hksj and hksj_adhoc), pooled=False, reason=reason, stat=None, p=None, df=None, weights=[])
    return out


def check_inputs(yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate effect sizes and sampling variances; a non-finite value or a variance <= 0 names the row."""
    names = list(labels) if labels is not None else [f"row {i + 1}" for i in range(len(yi))]
    if len(yi) != len(vi) or len(names) != len(yi):
        raise InputFormatError(f"{len(yi)} effects but {len(vi)} variances", where="pooling input", fix="give one yi and one vi per study")
    for name, y, v in zip(names, yi, vi):
        if y is None or not math.isfinite(float(y)):
            raise InputFormatError(f"effect size yi is missing or not a number ({y!r})", where=name, fix="give a finite yi or drop the study with a stated reason")
        if v is None or not math.isfinite(float(v)) or float(v) <= 0:
            raise InputFormatError(f"sampling variance vi must be > 0, got {v!r}", where=name, fix="check the SE/CI the variance was derived from")
    return np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)


def _weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * y) / np.sum(w))


def q_statistic(y: np.ndarray, v: np.ndarray, tau2: float = 0.0) -> float:
    """Generalised Cochran's Q at ``tau2`` (the plain Q at 0)."""
    w = 1.0 / (v + tau2)
    mu = _weighted_mean(y, w)
    return float(np.sum(w * (y - mu) ** 2))


def tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird tau² (statsmodels combine_effects, method_re='dl')."""
    from statsmodels.stats.meta_analysis import combine_effects  # imported when needed: REML and FE pools never load statsmodels

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(y, v, method_re="dl")
    return max(0.0, float(res.tau2))


def tau2_pm(y: np.ndarray, v: np.ndarray) -> float:
    """Paule-Mandel tau²: statsmodels' iterated estimate, polished to the root of Q(tau²) = k - 1 as metafor."""
    from statsmodels.stats.meta_analysis import combine_effects  # imported when needed (see tau2_dl)

    k = len(y)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(y, v, method_re="iterated")
    start = max(0.0, float(res.tau2))
    if q_statistic(y, v, 0.0) <= k - 1:
        return 0.0

    def f(t: float) -> float:
        return q_statistic(y, v, t) - (k - 1)

    hi = max(start * 2.0, 1e-4)
    while f(hi) > 0:
        hi *= 2.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-15, maxiter=500))


def tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """REML tau² by Fisher scoring from the Hedges (HE) start, step-halving, truncated at 0 (metafor's algorithm)."""
    k = len(y)
    # Hedges (HE) starting value, as metafor
    mu_u = float(np.mean(y))
    tau2 = max(0.0, float(np.sum((y - mu_u) ** 2) / (k - 1) - np.mean(v)))
    for _ in range(REML_MAXITER):
        w = 1.0 / (v + tau2)
        sw = np.sum(w)
        mu = float(np.sum(w * y) / sw)
        # P = W - W X (X'WX)^-1 X'W for an intercept-only model
        p_y = w * (y - mu)
        tr_p = sw - np.sum(w**2) / sw
        p_diag_sq = np.sum(w**2) - 2 * np.sum(w**3) / sw + (np.sum(w**2) / sw) ** 2
        score = 0.5 * (float(np.sum(p_y**2)) - tr_p)
        info = 0.5 * p_diag_sq
        step = score / info
        new = tau2 + step
        while new < 0 and step > 1e-15:
            step /= 2.0
            new = tau2 + step
        new = max(0.0, new)
        if abs(new - tau2) < REML_TOL:
            tau2 = new
            break
        tau2 = new
    else:
        LOG.warning("REML did not converge in %d iterations (tau2=%s)", REML_MAXITER, tau2)
    return float(tau2)


TAU2_ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "FE": lambda y, v: 0.0,
    "DL": tau2_dl,
    "PM": tau2_pm,
    "REML": tau2_reml,
}


def tau2_qprofile_ci(y: np.ndarray, v: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """Q-profile confidence interval for tau² (metafor's confint, type 'QP'); bounds truncated at 0."""
    k = len(y)
    alpha = 1.0 - level
    q_lo_target = stats.chi2.ppf(1 - alpha / 2, k - 1)  # gives the lower bound
    q_hi_target = stats.chi2.ppf(alpha / 2, k - 1)  # gives the upper bound

    def solve(target: float) -> float:
        if q_statistic(y, v, 0.0) < target:
            return 0.0
        hi = max(1.0, float(np.var(y)) * 10)
        while q_statistic(y, v, hi) > target:
            hi *= 10.0
        return float(optimize.brentq(lambda t: q_statistic(y, v, t) - target, 0.0, hi, xtol=1e-15, rtol=1e-15, maxiter=1000))

    return solve(q_lo_target), solve(q_hi_target)


def pool(
    yi: Sequence[float],
    vi: Sequence[float],
    *,
    method: str = "REML",
    hksj: bool = False,
    hksj_adhoc: bool = False,
    level: float = 0.95,
    labels: Sequence[str] | None = None,
) -> PoolResult:
    """Fit an intercept-only fixed- or random-effects model exactly as metafor's ``rma`` + ``predict``.

    Args:
        yi: effect sizes (any measure on an additive scale: MD, SMD, log OR, log RR, RD).
        vi: their sampling variances (> 0).
        method: "FE", "DL", "PM" or "REML".
        hksj: Knapp-Hartung (Sidik-Jonkman) standard error with t(k-1) tests and intervals,
            no truncation (metafor ``test="knha"``): se² = s² / sum(w) with the scaling factor
            s² = sum(w (y - estimate)²) / (k - 1) (metafor's s2w), which can fall far below 1 (studies that
            agree closely give a CI narrower than the fixed-effect one; identical studies give se = 0).
        hksj_adhoc: with ``hksj``, the ad hoc correction (Knapp & Hartung 2003; Röver, Knapp & Friede
            2015): s² is replaced by max(1, s²), so the se is never below the random-effects se
            sqrt(1 / sum(w)); t(k-1) as before (metafor ``test="adhoc"``). Ignored without ``hksj``
            (the result's ``hksj_adhoc`` is then False).
        level: confidence level of the CI, prediction interval and tau² interval.
        labels: row names used in error messages.

    Returns:
        PoolResult; I² (percent) and H² from the estimated tau² as metafor prints them, the
        95% prediction interval estimate ± t(k-2) sqrt(se² + tau²) with the model's se (Higgins,
        Thompson & Spiegelhalter 2009; None for FE or k < 3; not metafor's predict(), which uses a
        normal or, under HKSJ, a t(k-1) quantile), the tau² CI by Q-profile (None for FE).

    Raises:
        InputFormatError: unknown method, k < 2, or a bad yi/vi (naming the row).
    """
    if method not in METHODS:
        raise InputFormatError(f"unknown method {method!r}", where="pool", fix=f"use one of {', '.join(METHODS)}")
    y, v = check_inputs(yi, vi, labels=labels)
    k = len(y)
    if k < 2:
        raise InputFormatError(f"k = {k}: pooling needs at least 2 studies", where="pool", fix="show the single study estimate instead (not pooled)")
    tau2 = TAU2_ESTIMATORS[method](y, v)
    w = 1.0 / (v + tau2)
    sw = float(np.sum(w))
    est = float(np.sum(w * y) / sw)
    q = q_statistic(y, v, 0.0)
    df = k - 1
    q_p = float(stats.chi2.sf(q, df))
    w_fe = 1.0 / v
    vt = (k - 1) / (float(np.sum(w_fe)) - float(np.sum(w_fe**2)) / float(np.sum(w_fe)))
    if method == "FE":
        i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
        h2 = q / df
    else:
        i2 = 100.0 * tau2 / (vt + tau2)
        h2 = (vt + tau2) / vt
    alpha = 1.0 - level
    adhoc = bool(hksj and hksj_adhoc)
    if hksj:
        scale = float(np.sum(w * (y - est) ** 2)) / df  # the HKSJ scaling factor s² (metafor's s2w)
        if adhoc:
            scale = max(1.0, scale)
        se = math.sqrt(scale / sw)
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        t_df: int | None = df
    else:
        se = math.sqrt(1.0 / sw)
        crit = float(stats.norm.ppf(1 - alpha / 2))
        t_df = None
    stat = est / se if se > 0 else math.inf
    p = float(2 * stats.t.sf(abs(stat), df)) if hksj else float(2 * stats.norm.sf(abs(stat)))
    # Prediction interval for the effect in a new study (Higgins, Thompson & Spiegelhalter 2009;
    # Cochrane Handbook 10.10.4.3): estimate +/- t(k-2) * sqrt(se^2 + tau^2), with the model's se.
    # None for a fixed-effect model (no between-study distribution) and below k = 3 (no df left).
    # metafor's predict() uses a normal (or t(k-1) with Knapp-Hartung) quantile instead.
    pi_half = float(stats.t.ppf(1 - alpha / 2, k - 2)) * math.sqrt(se**2 + tau2) if method != "FE" and k >= 3 else None
    if method == "FE":
        tau_lo: float | None = None
        tau_hi: float | None = None
    else:
        tau_lo, tau_hi = tau2_qprofile_ci(y, v, level=level)
    weights = tuple(float(x) for x in 100.0 * w / sw)
    return PoolResult(
        method=method,
        k=k,
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        pi_low=None if pi_half is None else est - pi_half,
        pi_high=None if pi_half is None else est + pi_half,
        tau2=tau2,
        tau2_ci_low=tau_lo,
        tau2_ci_high=tau_hi,
        i2=i2,
        h2=h2,
        q=q,
        q_p=q_p,
        hksj=hksj,
        hksj_adhoc=adhoc,
        stat=stat,
        p=p,
        df=t_df,
        weights=weights,
    )


def leave_one_out(yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str], method: str = "REML", hksj: bool = False,
                  hksj_adhoc: bool = False) -> list[dict[str, Any]]:
    """Refit without each study in turn (metafor ``leave1out``); one dict per omitted study (needs k >= 3)."""
    y, v = check_inputs(yi, vi, labels=labels)
    out: list[dict[str, Any]] = []
    if len(y) < 3:
        return out
    for i, name in enumerate(labels):
        keep = [j for j in range(len(y)) if j != i]
        res = pool(y[keep], v[keep], method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, labels=[labels[j] for j in keep])
        out.append({"omitted": name, **{key: getattr(res, key) for key in ("k", "estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "p")}})
    return out


def cumulative(
    yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str], order: Sequence[float], method: str = "REML", hksj: bool = False,
    hksj_adhoc: bool = False,
) -> list[dict[str, Any]]:
    """Cumulative meta-analysis in ``order`` (e.g. publication year; ties keep input order), as metafor ``cumul``.

    The first step (k = 1) is the study's own estimate with a normal CI and no tau².
    """
    y, v = check_inputs(yi, vi, labels=labels)
    idx = sorted(range(len(y)), key=lambda i: (order[i], i))
    out: list[dict[str, Any]] = []
    z = float(stats.norm.ppf(0.975))
    for step in range(1, len(idx) + 1):
        sel = idx[:step]
        name = labels[idx[step - 1]]
        if step == 1:
            se = math.sqrt(v[sel[0]])
            out.append({"added": name, "order": order[sel[0]], "k": 1, "estimate": float(y[sel[0]]), "se": se,
                        "ci_low": float(y[sel[0]]) - z * se, "ci_high": float(y[sel[0]]) + z * se, "tau2": None, "i2": None})
            continue
        res = pool(y[sel], v[sel], method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, labels=[labels[j] for j in sel])
        out.append({"added": name, "order": order[idx[step - 1]], "k": res.k, "estimate": res.estimate, "se": res.se,
                    "ci_low": res.ci_low, "ci_high": res.ci_high, "tau2": res.tau2, "i2": res.i2})
    return out


NOT_REPORTED_GROUP = "not reported"  # the subgroup of studies with no value in the subgroup column


def subgroup_analysis(
    yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str], groups: Sequence[str | None], method: str = "REML", hksj: bool = False,
    hksj_adhoc: bool = False, column: str = "subgroup",
) -> dict[str, Any]:
    """Subgroup analysis with a separate tau² per subgroup and the test for subgroup differences (Q-between).

    Each subgroup is fitted as the analysis is (``method``, ``hksj``, ``hksj_adhoc``): its estimate, se
    and CI are shown as configured. A subgroup with k = 1 shows its study estimate with a normal CI.

    The test for subgroup differences is a fixed-effect Q across the subgroup estimates with
    df = number of tested subgroups - 1 (RevMan; Cochrane Handbook 10.11.3.1; metafor
    ``rma(est, sei=se, method="FE")``), from each subgroup's random-effects estimate with its Wald (z)
    se sqrt(1 / sum(w)) (tau² by ``method`` within the subgroup), never the Knapp-Hartung se: that se
    is valid only with its own t(k - 1) quantile, and in a chi² Q it can make the test far too
    liberal next to wide Knapp-Hartung subgroup CIs. Without ``hksj`` the test's se is the se shown.

    ``groups`` gives each study's subgroup; None (no value reported in ``column``) puts the study in
    the NOT_REPORTED_GROUP subgroup, which is shown (``reported: false``) but is not in the test.

    Returns {"groups": {name: {"k", "studies", "estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q",
    "reported", "in_test", "test_se"}}, "q_between", "df", "p", "test_se" (which se the test used, "wald"),
    "test_note" (the same in words), "not_in_test" ({"k", "studies", "why"} or None), "reason" (why there
    is no test, else None)}; q_between is None with fewer than 2 reported subgroups.
    """
    y, v = check_inputs(yi, vi, labels=labels)
    if len(groups) != len(y):
        raise InputFormatError(f"{len(groups)} subgroup values for {len(y)} studies", where="subgroup input", fix="give one subgroup value per study")
    names = [None if g is None or str(g) == NOT_REPORTED_GROUP else str(g) for g in groups]
    shown_se = (f"Knapp-Hartung{' (ad hoc)' if hksj_adhoc else ''} SEs of the subgroup CIs" if hksj else "")
    fitted = "fixed-effect estimate" if method == "FE" else f"random-effects estimate (tau² by {method} within the subgroup)"
    note = (f"Q-between from each subgroup's {fitted} with its Wald (z) SE"
            + (f", not the {shown_se}, which hold only with their t(k - 1) quantile" if hksj else ""))
    result: dict[str, Any] = {"groups": {}, "q_between": None, "df": None, "p": None, "test_se": "wald", "test_note": note,
                              "not_in_test": None, "reason": None}
    z = float(stats.norm.ppf(0.975))
    tested_est: list[float] = []
    tested_se: list[float] = []
    reported = sorted({g for g in names if g is not None})
    for g in reported + ([None] if None in names else []):
        sel = [i for i, x in enumerate(names) if x == g]
        if len(sel) == 1:
            i = sel[0]
            se = math.sqrt(v[i])
            entry = {"k": 1, "studies": [labels[i]], "estimate": float(y[i]), "se": se, "ci_low": float(y[i]) - z * se,
                     "ci_high": float(y[i]) + z * se, "tau2": None, "i2": None, "q": None, "test_se": se}
        else:
            res = pool(y[sel], v[sel], method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, labels=[labels[i] for i in sel])
            # the Wald se of the same fit (same tau², same estimate): sqrt(1 / sum(w)), w = 1 / (v + tau²)
            wald_se = math.sqrt(1.0 / float(np.sum(1.0 / (v[sel] + res.tau2)))) if hksj else res.se
            entry = {"k": res.k, "studies": [labels[i] for i in sel], "estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
                     "ci_high": res.ci_high, "tau2": res.tau2, "i2": res.i2, "q": res.q, "test_se": wald_se}
        entry.update(reported=g is not None, in_test=g is not None)
        if g is None:
            entry["test_se"] = None
            k_nr = len(sel)
            result["not_in_test"] = {"k": k_nr, "studies": entry["studies"],
                                     "why": f"k = {k_nr} stud{'y' if k_nr == 1 else 'ies'} with no {column} reported {'is' if k_nr == 1 else 'are'} not in the test"}
        else:
            tested_est.append(entry["estimate"])
            tested_se.append(entry["test_se"])
        result["groups"][g if g is not None else NOT_REPORTED_GROUP] = entry
    if len(reported) >= 2:
        qb = q_statistic(np.asarray(tested_est), np.asarray(tested_se) ** 2, 0.0)
        result.update(q_between=qb, df=len(reported) - 1, p=float(stats.chi2.sf(qb, len(reported) - 1)))
    else:
        only = f"one subgroup with a reported {column} ({reported[0]})" if reported else f"no study reports {column}"
        nr = f"; {result['not_in_test']['why']}" if result["not_in_test"] else ""
        result["reason"] = f"{only}, and a test for subgroup differences needs at least 2{nr}"
    return result


def egger_test(yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str] | None = None, min_k: int = EGGER_MIN_K) -> dict[str, Any]:
    """Egger's regression test (metafor ``regtest(model="lm")``): weighted lm of yi on SE, t test of the slope.

    Run only when k >= min_k (default 10, and never below 3); otherwise returns ``{"run": False, "reason": ...}``.
    """
    y, v = check_inputs(yi, vi, labels=labels)
    k = len(y)
    min_k = max(3, min_k)
    if k < min_k:
        return {"run": False, "k": k, "reason": f"k = {k} < {min_k}: Egger's test has too little power to tell small-study effects from chance"}
    sei = np.sqrt(v)
    w = 1.0 / v
    x = np.column_stack([np.ones(k), sei])
    xtw = x.T * w
    beta = np.linalg.solve(xtw @ x, xtw @ y)
    resid = y - x @ beta
    sigma2 = float(np.sum(w * resid**2)) / (k - 2)
    cov = sigma2 * np.linalg.inv(xtw @ x)
    t = float(beta[1] / math.sqrt(cov[1, 1]))
    return {"run": True, "k": k, "t": t, "df": k - 2, "p": float(2 * stats.t.sf(abs(t), k - 2)), "limit_estimate": float(beta[0])}


# ---- configured analyses ----------------------------------------------------------------------


def _study_entry(effect: Any, study: Any, weight: float | None) -> dict[str, Any]:
    se = math.sqrt(effect.vi)
    z = float(stats.norm.ppf(0.975))
    return {
        "study": effect.study,
        "year": study.year if study else None,
        "yi": effect.yi,
        "vi": effect.vi,
        "se": se,
        "ci_low": effect.yi - z * se,
        "ci_high": effect.yi + z * se,
        "weight": weight,
        "outcome_id": effect.outcome_id,
        "scale": effect.scale,
        "n_intervention": effect.n_intervention,
        "n_control": effect.n_control,
        "n_randomized": study.n_randomized if study else None,
        "crossover": bool(study.crossover) if study else False,
        "inferred": effect.inferred,
        "how": effect.how,
    }


def by_run(
    analysis: dict[str, Any],
    usable: Sequence[Any],
    *,
    credited: Sequence[tuple[str, Sequence[str]]],
    min_k: int,
    method: str = "REML",
    hksj: bool = False,
    hksj_adhoc: bool = False,
    where: str = "results/update/<run_id>/summary.json",
    smd_analysis: bool = False,
) -> list[dict[str, Any]]:
    """The analysis as each search run left it: after run r, the estimable studies of the runs up to r
    (``credited``: each run's id and the studies it added, in run order), pooled as the analysis is
    (same model, min_k and one-scale rule). One entry per run: ``run_id``, ``added`` (the run's
    studies in this analysis), ``k``, ``pooled``, ``reason`` (why not pooled), ``estimate``,
    ``ci_low``, ``ci_high`` (nulls when not pooled).

    Raises:
        ReconciliationError: an estimable study of the analysis is credited to no run.
    """
    in_analysis = {e.study for e in usable}
    uncredited = sorted(in_analysis - {sid for _, added in credited for sid in added})
    if uncredited:
        raise ReconciliationError(
            f"analysis {analysis['id']}: {', '.join(uncredited)} added by no search run's summary.json",
            where=where,
            fix="re-run the whats_new rule; every included study is a new included study of one run",
        )
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for run_id, added in credited:
        seen.update(added)
        subset = [e for e in usable if e.study in seen]
        reason = not_pooled_reason(analysis, subset, min_k=min_k, smd_analysis=smd_analysis)
        entry: dict[str, Any] = {"run_id": run_id, "added": sorted(in_analysis & set(added)), "k": len(subset), "pooled": reason is None,
                                 "reason": reason, "estimate": None, "ci_low": None, "ci_high": None}
        if reason is None:
            res = pool([e.yi for e in subset], [e.vi for e in subset], method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, labels=[e.study for e in subset])
            entry.update(estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high)
        out.append(entry)
    return out


def not_pooled_reason(analysis: dict[str, Any], estimable: Sequence[Any], *, min_k: int, smd_analysis: bool = False) -> str | None:
    """Why an analysis cannot be pooled honestly (None when it can).

    ``smd_analysis``: a standardized mean difference analysis of the same domain is configured, which a
    mean difference on several scales points to (False: there is none, or no config, e.g. `livingreview pool`)."""
    k = len(estimable)
    if k < min_k:
        return f"k = {k} < {min_k}: too few studies to pool; the study estimate{'s are' if k != 1 else ' is'} shown"
    if analysis["measure"] == "MD":
        scales = sorted({e.scale.split(" (")[0] for e in estimable})
        if len(scales) > 1:
            per = "; ".join(f"{e.study}: {e.scale}" for e in estimable)
            see = "see the standardized mean difference analysis" if smd_analysis else "a standardized mean difference could compare them"
            return f"a mean difference needs one scale, the {k} studies used {len(scales)} scales ({per}); {see}"
    if analysis["measure"] == "SMD":
        bases = {e.study: basis for e in estimable if (basis := smd_basis(e.how))}
        if len(set(bases.values())) > 1:
            per = "; ".join(f"{study}: {basis}" for study, basis in sorted(bases.items()))
            return (f"a standardized mean difference cannot combine change scores with final values, since their SDs differ "
                    f"(Cochrane Handbook 10.5.2) ({per}); the study estimates are shown")
    return None


def smd_basis(how: str) -> str:
    """"change scores" or "final values" for a Hedges' g computed from arm means/SDs (effects.effect_from_row's
    ``how``), "" when the SMD came from a reported d, a t or a p, whose basis the row does not say."""
    if "Hedges' g from change-score means" in how:
        return "change scores"
    if "Hedges' g from follow-up means" in how:
        return "final values"
    return ""


def analyse(
    analysis: dict[str, Any],
    effects: Sequence[Any],
    studies: Sequence[Any],
    *,
    min_k: int = 2,
    egger_min_k: int = EGGER_MIN_K,
    funnel_min_k: int = 3,
    direction_note: str = "",
    dose_unit: str = "",
    credited: Sequence[tuple[str, Sequence[str]]] = (),
    credited_from: str = "results/update/<run_id>/summary.json",
    smd_analysis: bool = False,
    subgroup_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything one configured analysis reports, as a JSON-ready dict.

    ``effects`` are effects.Effect records of this analysis (estimable or not), ``studies`` the
    extraction.Study records. Always has the POOL_JSON_KEYS (nulls when not pooled) plus
    ``pooled``, ``reason``, ``studies`` (estimates with 95% CI and weight), ``not_estimable``
    (study and reason), ``subgroups``, ``leave_one_out``, ``cumulative`` (by publication year),
    ``egger``, ``funnel`` (drawn or why not) and ``by_run`` (the pooled estimate after each search
    run, from ``credited``: each run's id and the studies it added, in run order; [] without it).
    ``smd_analysis``: the config has a standardized mean difference analysis of this domain (not_pooled_reason).
    Each subgroup entry has the column's ``label`` (constants.column_label with ``subgroup_labels``), which
    its reasons, the report and the forest plot say instead of the column name.
    """
    by_id = {s.study_id: s for s in studies}
    usable = [e for e in effects if e.yi is not None and e.vi is not None]
    usable.sort(key=lambda e: ((by_id[e.study].year or 0) if e.study in by_id else 0, e.study))
    missing = sorted((e for e in effects if e.yi is None or e.vi is None), key=lambda e: e.study)
    method = analysis.get("method", "REML")
    hksj = bool(analysis.get("hksj", False))
    hksj_adhoc = bool(analysis.get("hksj_adhoc", False))  # the config schema's default is true; a bare dict without it gets plain HKSJ
    reason = not_pooled_reason(analysis, usable, min_k=min_k, smd_analysis=smd_analysis)
    labels = [e.study for e in usable]
    yi = [e.yi for e in usable]
    vi = [e.vi for e in usable]
    if usable:
        check_inputs(yi, vi, labels=[f"{e.study} {e.outcome_id}" for e in usable])
    if reason is None:
        res = pool(yi, vi, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, labels=labels)
        out = res.to_json()
        weights: list[float | None] = list(res.weights)
    else:
        out = empty_json(method=method, k=len(usable), hksj=hksj, hksj_adhoc=hksj_adhoc, reason=reason)
        weights = [None] * len(usable)
    out.update(
        analysis=analysis["id"],
        title=analysis.get("title", analysis["id"]),
        primary=bool(analysis.get("primary", False)),
        domain=analysis["domain"],
        measure=analysis["measure"],
        log_scale=analysis["measure"] in LOG_SCALE_MEASURES,
        lower_is_better=_shared_direction(analysis, usable),
        timepoint_days=analysis.get("timepoint_days") or {},
        direction=direction_note,
        studies=[_study_entry(e, by_id.get(e.study), w) for e, w in zip(usable, weights)],
        not_estimable=[{"study": e.study, "outcome_id": e.outcome_id, "reason": e.how} for e in missing],
    )
    subgroups: dict[str, Any] = {}
    for column in analysis.get("subgroups", []):
        label = column_label(column, subgroup_labels)
        if reason is not None:
            subgroups[column] = {"run": False, "label": label, "reason": "analysis not pooled"}
            continue
        groups = [_subgroup_value(by_id[e.study], column, dose_unit) for e in usable]
        if all(g is None for g in groups):
            subgroups[column] = {"run": False, "label": label, "reason": f"no study reports {label}"}
            continue
        if len(set(groups)) < 2:
            subgroups[column] = {"run": False, "label": label, "reason": f"all studies in one subgroup ({groups[0]})"}
            continue
        # studies with no value form a "not reported" subgroup that is shown but not in the test
        subgroups[column] = {"run": True, "label": label, **subgroup_analysis(yi, vi, labels=labels, groups=groups, method=method, hksj=hksj,
                                                                              hksj_adhoc=hksj_adhoc, column=label)}
    out["subgroups"] = subgroups
    if reason is None and len(usable) >= 3:
        out["leave_one_out"] = leave_one_out(yi, vi, labels=labels, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc)
    else:
        out["leave_one_out"] = []
    if reason is None:
        years = [float(by_id[e.study].year or 0) for e in usable]
        out["cumulative"] = cumulative(yi, vi, labels=labels, order=years, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc)
    else:
        out["cumulative"] = []
    # enough studies but not combinable (scales, SMD bases): a funnel plot or Egger's test of them would set
    # effects that cannot be pooled against one another, so neither is shown, and the reason says why
    uncombinable = f"the studies are not pooled: {reason}" if reason is not None and len(usable) >= min_k else None
    if uncombinable and len(usable) >= egger_min_k:
        eg = {"run": False, "k": len(usable), "reason": uncombinable}
    elif usable:
        eg = egger_test(yi, vi, labels=labels, min_k=egger_min_k)
    else:
        eg = {"run": False, "k": 0, "reason": "no estimable study"}
    out["egger"] = eg
    out["by_run"] = by_run(analysis, usable, credited=credited, min_k=min_k, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc, where=credited_from,
                           smd_analysis=smd_analysis) if credited else []
    if len(usable) < funnel_min_k:
        out["funnel"] = {"drawn": False, "reason": f"k = {len(usable)} < {funnel_min_k}: a funnel plot needs at least {funnel_min_k} studies"}
    else:
        out["funnel"] = {"drawn": uncombinable is None, "reason": uncombinable}
    return out


def _shared_direction(analysis: dict[str, Any], usable: Sequence[Any]) -> bool | None:
    """The lower_is_better its estimable studies' outcome rows share (None: no study, or mixed scales of
    an MD/SMD, which harmonising makes poolable). A ratio analysis is shown as intervention / control,
    exp(-yi) when lower is better (constants.shown_sign), so its studies must share one direction: the
    effects stage refuses a mix, and a hand-edited effects.tsv that mixes them is refused here."""
    seen = {e.lower_is_better for e in usable if getattr(e, "lower_is_better", None) is not None}
    if len(seen) == 1:
        return seen.pop()
    if len(seen) > 1 and analysis["measure"] in LOG_SCALE_MEASURES:
        per = ", ".join(f"{e.study}: {'true' if e.lower_is_better else 'false'}" for e in usable if e.lower_is_better is not None)
        raise InputFormatError(f"analysis {analysis['id']} ({analysis['measure']}) mixes outcome directions (lower_is_better {per}); a ratio pools one event",
                               where="effects.tsv column lower_is_better", fix="re-run the effects stage, which names the outcomes.tsv rows to correct")
    return None


def forest_subgroup(summary: dict[str, Any]) -> str | None:
    """The subgroup analysis the forest plot shows: the first configured one with a test for subgroup
    differences, else the first that was run (e.g. one reported subgroup beside "not reported"), else None."""
    run = [c for c, s in summary.get("subgroups", {}).items() if s.get("run")]
    return next((c for c in run if summary["subgroups"][c].get("q_between") is not None), run[0] if run else None)


def _subgroup_value(study: Any, column: str, dose_unit: str = "") -> str | None:
    """The study's subgroup in ``column``; None when the study reports no value (subgroup_analysis
    shows those studies as the NOT_REPORTED_GROUP subgroup and leaves them out of the test)."""
    if column == "dose":
        value: Any = study.dose_label(dose_unit) if study.dose else None
    else:
        value = getattr(study, column)
    return None if value is None or str(value) in ("", NOT_REPORTED_GROUP) else str(value)


def run_pool_analysis(
    *,
    effects_path: str,
    studies_path: str,
    analysis_id: str,
    synthesis: dict[str, Any],
    summary_out: str,
    forest_out: str,
    funnel_out: str,
    cumulative_out: str,
    forest_png_out: str | None = None,
    funnel_png_out: str | None = None,
    cumulative_png_out: str | None = None,
    update_summaries: Sequence[str] = (),
) -> dict[str, Any]:
    """Stage `pool`: analyse one configured analysis; write its JSON and forest, funnel and cumulative
    plots as SVG (and as PNG for each ``*_png_out`` given). ``update_summaries`` (each run's
    results/update/<run_id>/summary.json) give the studies each run added, for ``by_run``."""
    from .effects import DEFAULT_INTERVENTION, direction_note, read_effects
    from .errors import ConfigError
    from .extraction import load_studies
    from .plots import cumulative_plot, forest_plot, funnel_plot
    from .runs import run_sort_key
    from .tables import dumps_json, read_json, write_json

    analyses = {a["id"]: a for a in synthesis.get("analyses", [])}
    if analysis_id not in analyses:
        raise ConfigError(f"analysis {analysis_id!r} is not declared", where="config/config.yaml synthesis.analyses", fix="declare it or remove the target")
    analysis = analyses[analysis_id]
    intervention = str(synthesis.get("intervention_label") or DEFAULT_INTERVENTION)
    effects = read_effects(effects_path, analysis=analysis_id)
    studies = load_studies(studies_path)
    runs = [read_json(path, fix="re-run the whats_new rule") for path in update_summaries]
    credited = [(str(r["run_id"]), [str(s) for s in r["new_included_studies"]]) for r in sorted(runs, key=lambda r: run_sort_key(str(r["run_id"])))]
    summary = analyse(
        analysis,
        effects,
        studies,
        min_k=int(synthesis.get("min_k", 2)),
        egger_min_k=int(synthesis.get("egger_min_k", EGGER_MIN_K)),
        funnel_min_k=int(synthesis.get("funnel_min_k", 3)),
        direction_note=direction_note(intervention),
        dose_unit=str(synthesis.get("dose_unit") or ""),
        credited=credited,
        credited_from=", ".join(str(p) for p in update_summaries),
        subgroup_labels=synthesis.get("subgroup_labels") or {},
        smd_analysis=any(a.get("measure") == "SMD" and a.get("domain") == analysis.get("domain") for a in synthesis.get("analyses", [])),
    )
    summary["intervention_label"] = intervention
    LOG.info("analysis %s: k = %s, pooled = %s%s", analysis_id, summary["k"], summary["pooled"], f" ({summary['reason']})" if summary["reason"] else "")
    # The plots draw the numbers the JSON holds (FLOAT_FORMAT precision), which the report and trace read:
    # drawn from the unrounded floats, a limit on a rounding tie (1.905 from a CI rounded to 2 decimals)
    # read 1.90 in the plot and 1.91 in the report.
    summary = json.loads(dumps_json(summary))
    forest_plot(summary, [p for p in (forest_out, forest_png_out) if p], subgroup=forest_subgroup(summary))
    funnel_plot(summary, [p for p in (funnel_out, funnel_png_out) if p])
    cumulative_plot(summary, [p for p in (cumulative_out, cumulative_png_out) if p])
    write_json(summary_out, summary)
    return summary
