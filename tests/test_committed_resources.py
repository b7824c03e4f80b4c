"""The committed resources/ of the working tree against what the tools write (`make resources`).

The rest of the suite tests the code on the default review as shipped, rebuilt from the curated
evidence (conftest.shipped_resources()). This module is the one that reads the working tree's
resources/ (conftest WORKING_TREE_ALLOWED), and it checks what stays true however the living review
grows: a monthly run adds a folder under resources/searches/ and the team adds rows to the decision
and extraction tables, but never rewrites what the tools wrote. So:

- every run the snapshot tool writes is committed byte for byte (same file names, same bytes); other
  committed runs are the review's later runs and come after it;
- snapshot_coverage.tsv (the tool's account of its run; nobody edits it) is the tool's, byte for byte;
- every line the table tools write (header and rows of screening/decisions.tsv, extraction/studies.tsv,
  extraction/outcomes.tsv) is a line of the committed table: the team's rows are additions;
- resources/dedup/decisions.tsv, which no tool writes, keeps the shipped header.
A tool row a person edited in place fails here, naming the file and the row: correct a decision by a
later row (decisions.tsv keeps each reviewer's last row), not by editing the curated one.
"""

from __future__ import annotations

import filecmp

import pytest

from conftest import ROOT, shipped_resources
from livingreview.constants import DEDUP_DECISION_FIELDS
from livingreview.dedup import load_dedup_decisions
from livingreview.runs import list_runs

COMMITTED = ROOT / "resources"
SHIPPED = shipped_resources()
TOOL_TABLES = ("screening/decisions.tsv", "extraction/studies.tsv", "extraction/outcomes.tsv")


def test_every_run_the_snapshot_tool_writes_is_committed_byte_for_byte() -> None:
    shipped_runs = [p.name for p in list_runs(SHIPPED / "searches")]
    assert shipped_runs == ["2025-09-30"]
    for name in shipped_runs:
        built, committed = SHIPPED / "searches" / name, COMMITTED / "searches" / name
        names = sorted(p.name for p in built.iterdir())
        assert sorted(p.name for p in committed.iterdir()) == names, committed
        _, mismatch, errors = filecmp.cmpfiles(built, committed, names, shallow=False)
        assert mismatch == errors == [], f"{committed}: {mismatch + errors} differ from what tools/build_search_snapshot.py writes"
    later = [p.name for p in list_runs(COMMITTED / "searches") if p.name not in shipped_runs]
    assert all(name > shipped_runs[-1] for name in later), f"runs before the snapshot run: {later}"


def test_the_snapshot_coverage_is_the_tools() -> None:
    assert (COMMITTED / "snapshot_coverage.tsv").read_bytes() == (SHIPPED / "snapshot_coverage.tsv").read_bytes()


@pytest.mark.parametrize("table", TOOL_TABLES)
def test_every_line_the_table_tools_write_is_in_the_committed_table(table: str) -> None:
    built = (SHIPPED / table).read_text(encoding="utf-8").splitlines()
    committed = (COMMITTED / table).read_text(encoding="utf-8").splitlines()
    assert committed[0] == built[0], f"resources/{table}: header differs from the tool's"
    present = set(committed)
    missing = [n for n, line in enumerate(built, start=1) if line not in present]
    assert not missing, f"resources/{table}: {len(missing)} row(s) the tool writes are not committed (the tool's row {missing[0]}: {built[missing[0] - 1][:100]!r})"


def test_the_dedup_decisions_keep_the_shipped_header_and_load() -> None:
    """(Was tests/test_dedup.py::test_repository_decisions_file_is_valid.)"""
    shipped = (SHIPPED / "dedup/decisions.tsv").read_text(encoding="utf-8")
    assert shipped == "\t".join(DEDUP_DECISION_FIELDS) + "\n"
    assert (COMMITTED / "dedup/decisions.tsv").read_text(encoding="utf-8").splitlines()[0] == shipped.rstrip("\n")
    assert isinstance(load_dedup_decisions(COMMITTED / "dedup/decisions.tsv"), list)
