"""`livingreview pool EFFECTS.tsv [--analysis ID] [--method FE|DL|REML|PM] [--hksj] [--hksj-adhoc] [--json]`: pool a study/yi/vi table."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ..constants import POOL_JSON_KEYS, hksj_words
from ..errors import InputFormatError
from ..meta import METHODS, empty_json, not_pooled_reason, pool
from ..tables import dumps_json, read_tsv, tsv_header


@dataclass
class PoolInput:
    """The rows of one pool: estimable studies (with file:line), skipped notes and the measure/scales they use."""

    studies: list[str] = field(default_factory=list)
    yi: list[float] = field(default_factory=list)
    vi: list[float] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    scales: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    measure: str | None = None


def _listing(values: set[str]) -> str:
    return ", ".join(v if v else "(empty)" for v in sorted(values))


def read_pool_input(path: str, *, analysis: str | None = None) -> PoolInput:
    """Studies, yi, vi and row references (file:line) from a TSV with study, yi, vi columns.

    With an ``analysis`` column (effects.tsv), a file holding more than one analysis must be given
    ``analysis``; only that analysis's rows are read, and an id the file does not hold is an error.
    The rows read must share one ``measure`` (when that column exists) and name each study once.
    Rows with both yi and vi empty are skipped and returned as "file:line study" notes (effects.tsv
    lists not-estimable studies that way); a half-filled row, a non-number or vi <= 0 is an error
    naming file:line.
    """
    rows = read_tsv(path, required=("study", "yi", "vi"))
    header = tsv_header(path)
    has_analysis = "analysis" in header
    present = {row["analysis"] for row in rows} if has_analysis else set()
    if analysis is not None:
        if not has_analysis:
            raise InputFormatError(f"--analysis {analysis} given but the file has no analysis column", where=f"{path}:1",
                                   fix="drop --analysis, or add an analysis column")
        if rows and analysis not in present:  # a header-only file (no study yet) is k = 0, not an error
            raise InputFormatError(f"analysis {analysis!r} is not in the file (analyses present: {_listing(present)})", where=str(path),
                                   fix="give --analysis <id> with one of the analyses present")
        rows = [row for row in rows if row["analysis"] == analysis]
    elif len(present) > 1:
        raise InputFormatError(f"the file holds {len(present)} analyses ({_listing(present)}); pooling them together would mix measures and count studies more than once",
                               where=str(path), fix="pool one analysis with --analysis <id>")
    measures = {row["measure"] for row in rows} if "measure" in header else set()
    if len(measures) > 1:
        raise InputFormatError(f"the rows to pool use {len(measures)} measures ({_listing(measures)}); effect sizes on different measures cannot be pooled",
                               where=str(path), fix="pool one measure at a time (--analysis <id>, or one file per measure)")
    out = PoolInput(measure=next(iter(measures)) if measures else None)
    first_line: dict[str, str] = {}
    for row in rows:
        ref = f"{path}:{row['_line']}"
        if row["study"] in first_line:
            raise InputFormatError(f"study {row['study']} appears twice in the pool (first at line {first_line[row['study']]})", where=ref,
                                   fix="keep one row per study (one estimate per study and analysis)")
        first_line[row["study"]] = row["_line"]
        if row["yi"] == "" and row["vi"] == "":
            out.skipped.append(f"{ref} {row['study']}")
            continue
        try:
            y, v = float(row["yi"]), float(row["vi"])
        except ValueError:
            raise InputFormatError(f"yi/vi must be numbers, got {row['yi']!r} / {row['vi']!r} (study {row['study']})", where=ref, fix="give numeric yi and vi, or leave both empty for a study without an estimate") from None
        if not math.isfinite(y):
            raise InputFormatError(f"yi is not finite ({row['yi']}) for study {row['study']}", where=ref, fix="give a finite effect size")
        if not (math.isfinite(v) and v > 0):
            raise InputFormatError(f"vi must be > 0, got {row['vi']} for study {row['study']}", where=ref, fix="check the standard error or CI the variance came from")
        out.studies.append(row["study"])
        out.yi.append(y)
        out.vi.append(v)
        out.where.append(ref)
        out.scales.append(row.get("scale", ""))
    return out


def _text(result: dict[str, Any], studies: list[str], yi: list[float], vi: list[float]) -> str:
    lines = [f"{'Study':<24} {'yi':>10} {'se':>10} {'weight %':>9}"]
    weights = result.get("weights") or [None] * len(studies)
    for s, y, v, w in zip(studies, yi, vi, weights):
        lines.append(f"{s:<24} {y:>10.4f} {math.sqrt(v):>10.4f} {'' if w is None else f'{w:9.2f}'}")
    if not result["pooled"]:
        lines.append(f"not pooled: {result['reason']}")
        return "\n".join(lines)
    dist = f"t({result['df']})" if result["hksj"] else "z"
    lines += [
        "",
        f"{'Random' if result['method'] != 'FE' else 'Fixed'}-effects model (k = {result['k']}; method: {result['method']}{', ' + hksj_words(result['hksj'], result['hksj_adhoc']) if result['hksj'] else ''})",
        f"estimate {result['estimate']:.4f}  se {result['se']:.4f}  {dist} {result['stat']:.4f}  p {result['p']:.4g}",
        f"95% CI {result['ci_low']:.4f} to {result['ci_high']:.4f}; "
        + (f"95% PI {result['pi_low']:.4f} to {result['pi_high']:.4f}" if result["pi_low"] is not None else "no PI (fixed effect or k < 3)"),
        f"tau^2 {result['tau2']:.4f}" + (f" (95% CI {result['tau2_ci_low']:.4f} to {result['tau2_ci_high']:.4f})" if result["tau2_ci_low"] is not None else ""),
        f"I^2 {result['i2']:.2f}%  H^2 {result['h2']:.4f}  Q({result['k'] - 1}) {result['q']:.4f}  p {result['q_p']:.4g}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Pool the table and print text or JSON (keys = constants.POOL_JSON_KEYS plus pooled/reason)."""
    data = read_pool_input(args.effects, analysis=args.analysis)
    hksj = bool(args.hksj or args.hksj_adhoc)  # --hksj-adhoc implies --hksj
    studies, yi, vi, skipped = data.studies, data.yi, data.vi, data.skipped
    estimable = [SimpleNamespace(study=s, scale=sc) for s, sc in zip(studies, data.scales)]
    if len(yi) < 2:
        result = empty_json(method=args.method, k=len(yi), hksj=hksj, hksj_adhoc=args.hksj_adhoc, reason=f"k = {len(yi)} < 2: too few studies to pool")
    elif (reason := not_pooled_reason({"measure": data.measure}, estimable, min_k=2)) is not None:
        # The same rule as the review's pool stage: mean differences on different scales are not pooled.
        result = empty_json(method=args.method, k=len(yi), hksj=hksj, hksj_adhoc=args.hksj_adhoc, reason=reason)
    else:
        result = pool(yi, vi, method=args.method, hksj=hksj, hksj_adhoc=args.hksj_adhoc, labels=data.where).to_json()
    if args.json:
        out = {key: result[key] for key in POOL_JSON_KEYS}
        out.update(pooled=result["pooled"], reason=result["reason"], skipped=skipped)
        sys.stdout.write(dumps_json(out))
    else:
        print(_text(result, studies, yi, vi))
        for note in skipped:
            print(f"skipped (no yi/vi): {note}")
    return 0


def register(subparsers: Any) -> None:
    """Add the `pool` sub-command."""
    p = subparsers.add_parser("pool", help="meta-analyse a study/yi/vi table (FE, DL, REML, PM; Knapp-Hartung, plain or ad hoc)",
                              description="Pool effect sizes from a TSV with columns study, yi, vi. Optional columns analysis, measure and scale (as in effects.tsv) are checked: "
                                          "one analysis (--analysis), one measure, one row per study, and mean differences on one scale. Results equal metafor's rma + predict + confint.")
    p.add_argument("effects", metavar="EFFECTS.tsv", help="TSV with columns study, yi, vi (e.g. results/synthesis/effects.tsv)")
    p.add_argument("--method", choices=METHODS, default="REML", help="tau² estimator, or FE for a fixed-effect model (default REML)")
    p.add_argument("--hksj", action="store_true", help="Knapp-Hartung standard error with t(k-1) intervals, no ad hoc correction (metafor test=\"knha\"): "
                                                        "narrower than the fixed-effect CI when the studies agree closely")
    p.add_argument("--hksj-adhoc", action="store_true", help="Knapp-Hartung with the ad hoc correction: the scaling factor is max(1, s²), so the CI is never "
                                                              "narrower than the random-effects one (metafor test=\"adhoc\"; implies --hksj)")
    p.add_argument("--json", action="store_true", help="print JSON (keys: " + ", ".join(POOL_JSON_KEYS) + ", pooled, reason, skipped: the input rows left out, as file:line study)")
    p.add_argument("--analysis", default=None, help="only rows whose analysis column equals this id; required when the file holds more than one analysis (effects.tsv does)")
    p.set_defaults(func=run)
