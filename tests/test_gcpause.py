"""The whole-review stages run with the cyclic garbage collector paused, and always restore it."""

from __future__ import annotations

import gc
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from livingreview import dedup, ledger, prisma, screen_stage, studies, update
from livingreview.gcpause import collector_paused


class Stop(Exception):
    """Raised by a stand-in for a stage's first step, after noting the collector's state."""


def test_collector_paused_restores_the_previous_state_also_on_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(Stop), collector_paused():
        assert not gc.isenabled()
        raise Stop
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():  # nested in a paused region (or a caller's gc.disable): stays off after
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("module", "first_step", "run", "kwargs"),
    [
        (dedup, "read_records_tsv", dedup.run_dedup, {"records": "r.tsv", "decisions": None, "clusters_out": "c", "maybe_out": "m", "canonical_out": "k", "provenance_out": "p", "ledger_out": "l"}),
        (screen_stage, "_default_screening", screen_stage.run_screening, {"canonical": "k", "clusters": "c", "rules": "r", "decisions": "d", "studies": None, "screening_out": "s", "performance_out": "p", "agreement_out": "a", "ledger_out": "l"}),
        (studies, "read_canonical", studies.run_link_studies, {"screening": "s", "canonical": "k", "clusters": "c", "studies": "t", "studies_out": "o", "reports_out": "r", "ledger_out": "l"}),
        (ledger, "_read_fragment", ledger.run_assemble_ledger, {"identification": "i", "dedup": "d", "screening": "s", "study": "t", "ledger_out": "l"}),
        (prisma, "load_ledger_rows", prisma.run_prisma_counts, {"ledger": "l", "decisions": None, "config": {}, "counts_out": "c", "csv_out": "p"}),
        (update, "_read_columns", update.run_whats_new, {"run_ids": ["r"], "records": "r", "clusters": "c", "screening": "s", "studies": "t", "decisions": None, "rules": None, "new_out": ["n"], "todo_out": ["t"], "summary_out": ["s"]}),
    ],
)
def test_stage_runs_with_the_collector_paused(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, first_step: str, run: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    seen: list[bool] = []

    def first(*_args: Any, **_kwargs: Any) -> None:
        seen.append(gc.isenabled())
        raise Stop

    monkeypatch.setattr(module, first_step, first)
    assert gc.isenabled()
    with pytest.raises(Stop):
        run(**kwargs)
    assert seen == [False]  # the stage's work ran with the collector off
    assert gc.isenabled()  # and it is back on after the stage stopped
