"""`livingreview pool EFFECTS.tsv [--method FE|DL|REML|PM] [--hksj] [--json]`: pool a study/yi/vi table."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ..constants import POOL_JSON_KEYS
from ..errors import InputFormatError
from ..meta import METHODS, empty_json, pool
from ..tables import dumps_json, read_tsv


def read_pool_input(path: str, *, analysis: str | None = None) -> tuple[list[str], list[float], list[float], list[str], list[str]]:
    """Studies, yi, vi and row references (file:line) from a TSV with study, yi, vi columns.

    Rows with both yi and vi empty are skipped and returned as "file:line study" notes (effects.tsv
    lists not-estimable studies that way); a half-filled row, a non-number or vi <= 0 is an error
    naming file:line.
    """
    studies: list[str] = []
    yi: list[float] = []
    vi: list[float] = []
    where: list[str] = []
    skipped: list[str] = []
    for row in read_tsv(path, required=("study", "yi", "vi")):
        if analysis is not None and row.get("analysis", analysis) != analysis:
            continue
        ref = f"{path}:{row['_line']}"
        if row["yi"] == "" and row["vi"] == "":
            skipped.append(f"{ref} {row['study']}")
            continue
        try:
            y, v = float(row["yi"]), float(row["vi"])
        except ValueError:
            raise InputFormatError(f"yi/vi must be numbers, got {row['yi']!r} / {row['vi']!r} (study {row['study']})", where=ref, fix="give numeric yi and vi, or leave both empty for a study without an estimate") from None
        if not math.isfinite(y):
            raise InputFormatError(f"yi is not finite ({row['yi']}) for study {row['study']}", where=ref, fix="give a finite effect size")
        if not (math.isfinite(v) and v > 0):
            raise InputFormatError(f"vi must be > 0, got {row['vi']} for study {row['study']}", where=ref, fix="check the standard error or CI the variance came from")
        studies.append(row["study"])
        yi.append(y)
        vi.append(v)
        where.append(ref)
    return studies, yi, vi, where, skipped


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
        f"{'Random' if result['method'] != 'FE' else 'Fixed'}-effects model (k = {result['k']}; method: {result['method']}{', Knapp-Hartung' if result['hksj'] else ''})",
        f"estimate {result['estimate']:.4f}  se {result['se']:.4f}  {dist} {result['stat']:.4f}  p {result['p']:.4g}",
        f"95% CI {result['ci_low']:.4f} to {result['ci_high']:.4f}; 95% PI {result['pi_low']:.4f} to {result['pi_high']:.4f}",
        f"tau^2 {result['tau2']:.4f}" + (f" (95% CI {result['tau2_ci_low']:.4f} to {result['tau2_ci_high']:.4f})" if result["tau2_ci_low"] is not None else ""),
        f"I^2 {result['i2']:.2f}%  H^2 {result['h2']:.4f}  Q({result['k'] - 1}) {result['q']:.4f}  p {result['q_p']:.4g}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Pool the table and print text or JSON (keys = constants.POOL_JSON_KEYS plus pooled/reason)."""
    studies, yi, vi, where, skipped = read_pool_input(args.effects, analysis=args.analysis)
    if len(yi) < 2:
        result = empty_json(method=args.method, k=len(yi), hksj=args.hksj, reason=f"k = {len(yi)} < 2: too few studies to pool")
    else:
        result = pool(yi, vi, method=args.method, hksj=args.hksj, labels=where).to_json()
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
    p = subparsers.add_parser("pool", help="meta-analyse a study/yi/vi table (FE, DL, REML, PM; Knapp-Hartung)",
                              description="Pool effect sizes from a TSV with columns study, yi, vi (extra columns ignored). Results equal metafor's rma + predict + confint.")
    p.add_argument("effects", metavar="EFFECTS.tsv", help="TSV with columns study, yi, vi (e.g. results/synthesis/effects.tsv)")
    p.add_argument("--method", choices=METHODS, default="REML", help="tau² estimator, or FE for a fixed-effect model (default REML)")
    p.add_argument("--hksj", action="store_true", help="Knapp-Hartung standard error with t(k-1) intervals")
    p.add_argument("--json", action="store_true", help="print JSON (keys: " + ", ".join(POOL_JSON_KEYS) + ", pooled, reason)")
    p.add_argument("--analysis", default=None, help="only rows whose analysis column equals this id (for effects.tsv)")
    p.set_defaults(func=run)
