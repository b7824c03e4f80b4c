"""A person's dedup decisions (resources/dedup/decisions.tsv): reading and checking them.

Apart from livingreview.dedup (which re-exports every name here) so that what only reads the
decisions, the Snakemake start-up check and the prisma_counts job, does not import numpy and
rapidfuzz with the matcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import SCHEMA_DIR, error_path, first_schema_error, load_yaml, schema_label, schema_message, schema_validator
from .constants import DEDUP_DECISION_FIELDS
from .decisions import require_calendar_date
from .errors import ConfigError
from .tables import read_tsv, tsv_header

DECISION_LINK = "link"
DECISION_KEEP_APART = "keep_apart"
DECISION_VALUES: tuple[str, ...] = (DECISION_LINK, DECISION_KEEP_APART)


@dataclass(frozen=True, slots=True)
class DedupDecision:
    """One row of resources/dedup/decisions.tsv."""

    record_a: str
    record_b: str
    decision: str  # link | keep_apart
    reviewer: str
    date: str
    note: str
    where: str  # "path:line"


DEDUP_DECISIONS_SCHEMA = SCHEMA_DIR / "dedup_decisions.schema.yaml"


def load_dedup_decisions(path: str | Path) -> list[DedupDecision]:
    """Read and validate resources/dedup/decisions.tsv (columns DEDUP_DECISION_FIELDS).

    Each row links two records or keeps them apart. Raises ConfigError naming file:line on a bad
    row (unknown decision, missing reviewer, bad date, a record paired with itself, a pair
    given twice with different decisions, a keep_apart that link rows contradict).
    """
    path = Path(path)
    rows = read_tsv(path, required=DEDUP_DECISION_FIELDS)
    extra = [c for c in tsv_header(path) if c not in DEDUP_DECISION_FIELDS]
    if extra:  # the schema allows no other column: a misspelt one would be ignored silently
        raise ConfigError(
            f"unknown column(s) {', '.join(repr(c) for c in extra)}; the columns are {', '.join(DEDUP_DECISION_FIELDS)}",
            where=f"{path}:1",
            fix="rename or remove the column (put remarks in the note column)",
        )
    validator = schema_validator(load_yaml(DEDUP_DECISIONS_SCHEMA))
    decisions: list[DedupDecision] = []
    seen: dict[frozenset[str], DedupDecision] = {}
    for row in rows:
        where = f"{path}:{row['_line']}"
        values = {name: row.get(name, "").strip() for name in DEDUP_DECISION_FIELDS}
        err = first_schema_error(validator, values)
        if err is not None:
            column = error_path(err, empty="row")
            raise ConfigError(
                f"column {column}: {schema_message(err)}",
                where=where,
                fix=f"see {schema_label(DEDUP_DECISIONS_SCHEMA)} (record ids as in results/records/records.tsv; decision link or keep_apart; date YYYY-MM-DD)",
            )
        require_calendar_date(values["date"], where)
        a, b, decision = values["record_a"], values["record_b"], values["decision"]
        if a == b:
            raise ConfigError(f"record {a} is paired with itself", where=where, fix="name two different records")
        item = DedupDecision(a, b, decision, values["reviewer"], values["date"], values["note"], where)
        key = frozenset((a, b))
        if key in seen and seen[key].decision != decision:
            raise ConfigError(
                f"pair {a} / {b} is both {seen[key].decision} ({seen[key].where}) and {decision}",
                where=where,
                fix="keep one decision for the pair: to change your mind, edit the earlier row (its reviewer, date and note say who changed it, when and why)",
            )
        seen[key] = item
        decisions.append(item)
    check_decision_contradictions(decisions)
    return decisions


def check_decision_contradictions(decisions: Sequence[DedupDecision]) -> None:
    """Raise ConfigError when ``link`` decisions join two records a ``keep_apart`` decision keeps
    apart (link A-C, link C-B, keep_apart A-B): links are always applied, so the keep_apart could not
    hold. The message names the keep_apart row and every link row on the path between the two."""
    links: dict[str, list[tuple[str, DedupDecision]]] = {}
    for d in decisions:
        if d.decision == DECISION_LINK:
            links.setdefault(d.record_a, []).append((d.record_b, d))
            links.setdefault(d.record_b, []).append((d.record_a, d))
    if not links:
        return
    for d in decisions:
        if d.decision != DECISION_KEEP_APART or d.record_a not in links or d.record_b not in links:
            continue
        came_by: dict[str, tuple[str, DedupDecision] | None] = {d.record_a: None}
        queue = [d.record_a]
        for node in queue:  # breadth first: the shortest chain of links
            for other, link in links.get(node, ()):
                if other not in came_by:
                    came_by[other] = (node, link)
                    queue.append(other)
        if d.record_b not in came_by:
            continue
        path: list[DedupDecision] = []
        node = d.record_b
        while (step := came_by[node]) is not None:
            node, link = step
            path.append(link)
        chain = ", ".join(f"{x.where} ({x.record_a} / {x.record_b})" for x in reversed(path))
        raise ConfigError(
            f"keep_apart {d.record_a} / {d.record_b} contradicts the link decisions that put them in one cluster: {chain}",
            where=d.where,
            fix="delete the keep_apart row, or the link row that joins records that are not the same report",
        )
