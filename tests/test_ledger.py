"""Ledger assembly: cluster ids filled, deterministic order, and the invariants that stop a bad ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from livingreview.constants import FINAL_OUTCOMES, LEDGER_FIELDS, STAGES
from livingreview.errors import ReconciliationError
from livingreview.ledger import PASSING_OUTCOMES, assemble_ledger, check_ledger, clusters_from_rows, run_assemble_ledger
from livingreview.tables import read_tsv, write_tsv


def r(record_id: str, stage: str, outcome: str, cluster_id: str = "", reference: str = "") -> dict[str, str]:
    return {"record_id": record_id, "cluster_id": cluster_id, "stage": stage, "outcome": outcome, "reason": "", "reference": reference, "evidence": ""}


IDENT = [r("pubmed:2", "identification", "identified"), r("embase:x#1", "identification", "identified"), r("pubmed:1", "identification", "identified")]
DEDUP = [r("pubmed:1", "dedup", "canonical", "c1"), r("embase:x#1", "dedup", "duplicate", "c1", "pubmed:1"), r("pubmed:2", "dedup", "canonical", "c2")]
SCREEN = [
    r("pubmed:2", "automation", "excluded", reference="R1"),
    r("pubmed:1", "full_text", "included"),
    r("pubmed:1", "automation", "passed"),
    r("pubmed:1", "title_abstract", "included"),
    r("pubmed:1", "retrieval", "retrieved"),
]
STUDY = [r("pubmed:1", "study", "included", reference="S1")]


def fragments():
    return [IDENT, DEDUP, SCREEN, STUDY]


def test_assembled_ledger_is_sorted_and_has_cluster_ids() -> None:
    rows = assemble_ledger(fragments(), clusters_from_rows(DEDUP))
    assert [(x["record_id"], x["stage"]) for x in rows] == [
        ("embase:x#1", "identification"),
        ("embase:x#1", "dedup"),
        ("pubmed:1", "identification"),
        ("pubmed:1", "dedup"),
        ("pubmed:1", "automation"),
        ("pubmed:1", "title_abstract"),
        ("pubmed:1", "retrieval"),
        ("pubmed:1", "full_text"),
        ("pubmed:1", "study"),
        ("pubmed:2", "identification"),
        ("pubmed:2", "dedup"),
        ("pubmed:2", "automation"),
    ]
    assert {x["record_id"]: x["cluster_id"] for x in rows} == {"embase:x#1": "c1", "pubmed:1": "c1", "pubmed:2": "c2"}


def test_invariants_one_identification_row_and_one_final_state_per_record() -> None:
    rows = assemble_ledger(fragments(), clusters_from_rows(DEDUP))
    ident = Counter(x["record_id"] for x in rows if x["stage"] == "identification")
    assert set(ident.values()) == {1}
    last: dict[str, dict] = {}
    for x in rows:
        last[x["record_id"]] = x
    assert all(x["outcome"] in FINAL_OUTCOMES for x in last.values())
    # exactly one final state per record: one row whose outcome stops the record (not a go-on outcome)
    finals = Counter(x["record_id"] for x in rows if x["outcome"] in FINAL_OUTCOMES and x["outcome"] != PASSING_OUTCOMES.get(x["stage"]))
    assert finals == {"embase:x#1": 1, "pubmed:1": 1, "pubmed:2": 1}
    assert check_ledger(rows) == {"automation:excluded": 1, "dedup:duplicate": 1, "study:included": 1}
    # stage subsets: the records reaching a stage are among those reaching the previous one
    reached = {s: {x["record_id"] for x in rows if x["stage"] == s} for s in STAGES}
    for prev, nxt in zip(STAGES, STAGES[1:]):
        assert reached[nxt] <= reached[prev]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f[0].append(r("pubmed:1", "identification", "identified")), "two identification rows"),
        (lambda f: f[0].pop(0), "no identification row"),
        (lambda f: f[2].remove(next(x for x in f[2] if x["stage"] == "retrieval")), "reaches study without a retrieval row"),
        (lambda f: f[3].clear(), "ends at full_text with outcome 'included'"),
        (lambda f: f[2].append(r("embase:x#1", "automation", "passed")), "outcome 'duplicate' at dedup but rows for later stages"),
        (lambda f: f[2].append(r("pubmed:3", "automation", "passed")), "no identification row"),
        (lambda f: f[1].pop(1), "embase:x#1 ends at identification"),
        (lambda f: f[2].append(r("pubmed:2", "screening", "passed")), "unknown stage 'screening'"),
    ],
)
def test_broken_ledgers_are_rejected_naming_the_record(change, message: str) -> None:
    frags = [list(x) for x in fragments()]
    change(frags)
    with pytest.raises(ReconciliationError, match=message):
        assemble_ledger(frags, clusters_from_rows(DEDUP))


def test_fragments_in_any_order_give_the_same_ledger_and_messages() -> None:
    """Rows are put in stage order whatever order the fragments (and rows) come in; a message lists
    a record's stages in stage order."""
    forward = assemble_ledger(fragments(), clusters_from_rows(DEDUP))
    assert assemble_ledger(list(reversed(fragments())), clusters_from_rows(DEDUP)) == forward
    assert assemble_ledger([list(reversed(f)) for f in reversed(fragments())], clusters_from_rows(DEDUP)) == forward
    ident = [x for x in IDENT if x["record_id"] != "pubmed:1"]
    with pytest.raises(ReconciliationError) as err:
        assemble_ledger([STUDY, SCREEN, DEDUP, ident], clusters_from_rows(DEDUP))
    assert str(err.value) == (
        "results/audit/stages/identification.tsv: record pubmed:1 has ledger rows (dedup, automation, title_abstract, retrieval, "
        "full_text, study) but no identification row; fix: re-run the import so every record is identified, then the later stages"
    )


def test_record_without_cluster_is_rejected() -> None:
    frags = [[dict(x) for x in f] for f in fragments()]
    for x in frags[1]:
        if x["record_id"] == "pubmed:2":
            x["cluster_id"] = ""
    with pytest.raises(ReconciliationError, match="record pubmed:2 has no cluster"):
        assemble_ledger(frags, {"pubmed:1": "c1", "embase:x#1": "c1"})


def test_conflicting_cluster_ids_are_rejected() -> None:
    with pytest.raises(ReconciliationError, match="in two clusters"):
        clusters_from_rows(DEDUP + [r("pubmed:1", "automation", "passed", "c9")])


def test_run_assemble_ledger_writes_the_same_bytes_twice_and_nothing_on_error(tmp_path: Path) -> None:
    paths = {}
    for name, rows in zip(("identification", "dedup", "screening", "study"), fragments()):
        paths[name] = tmp_path / "stages" / f"{name}.tsv"
        write_tsv(paths[name], LEDGER_FIELDS, rows)
    out = tmp_path / "ledger.tsv"
    run_assemble_ledger(**paths, ledger_out=out)
    first = out.read_bytes()
    run_assemble_ledger(**paths, ledger_out=out)
    assert out.read_bytes() == first
    assert len(read_tsv(out, required=LEDGER_FIELDS)) == 12
    write_tsv(paths["study"], LEDGER_FIELDS, [])
    bad = tmp_path / "bad.tsv"
    with pytest.raises(ReconciliationError, match="pubmed:1 ends at full_text"):
        run_assemble_ledger(**paths, ledger_out=bad)
    assert not bad.exists()
