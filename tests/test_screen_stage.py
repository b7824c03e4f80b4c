"""Screening stage: rules then human decisions per stage, confirmations, conflicts, awaiting, performance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from livingreview.constants import DECISION_FIELDS, LEDGER_FIELDS, SCREENING_FIELDS
from livingreview.decisions import build_index, load_decisions, resolve_decisions
from livingreview.errors import ConfigError
from livingreview.records import Record
from livingreview.screen_stage import ALL_RULES, screen_clusters, singleton_clusters


@dataclass
class FakeRule:
    id: str
    label: str
    reason: str


@dataclass
class FakeHit:
    rule_id: str


@dataclass
class FakeResult:
    excluded: bool
    rule_id: str = ""
    reason: str = ""
    label: str = ""
    evidence: str = ""
    hits: tuple = ()


@dataclass
class FakeRuleSet:
    rules: list = field(default_factory=lambda: [FakeRule("R1_animal", "not human", "animal"), FakeRule("R2_review", "review", "publication_type")])
    reasons: dict = field(
        default_factory=lambda: {
            "animal": "Animal study",
            "publication_type": "Review, editorial, letter or comment",
            "open_label": "Open-label or single-arm trial",
            "registry_record": "Trial registration record",
            "not_retrieved": "Full text not retrieved",
            "other": "Other",
        }
    )


def fake_screen(record: Record, ruleset: FakeRuleSet) -> FakeResult:
    """Exclude 'mice' in the title (R1) and 'Review' publication type (R2); both may hit."""
    hits = []
    evidence = ""
    pos = record.title.find("mice")
    if pos >= 0:
        hits.append(FakeHit("R1_animal"))
        evidence = f"title[{pos}:{pos + 4}]: mice"
    if "Review" in record.publication_types:
        hits.append(FakeHit("R2_review"))
        evidence = evidence or "publication_types[0:6]: Review"
    if not hits:
        return FakeResult(excluded=False)
    first = next(r for r in ruleset.rules if r.id == hits[0].rule_id)
    return FakeResult(True, first.id, first.reason, ruleset.reasons[first.reason], evidence, tuple(hits))


RECORDS = [
    Record(record_id="pubmed:900001", pmid="900001", doi="10.9999/t.1", title="Synthetic randomized trial one"),
    Record(record_id="pubmed:900002", pmid="900002", title="Synthetic imaging report of trial one"),
    Record(record_id="pubmed:900003", pmid="900003", title="Synthetic study in mice", publication_types=("Review",)),
    Record(record_id="pubmed:900004", pmid="900004", title="Synthetic open-label study"),
    Record(record_id="pubmed:900005", pmid="900005", title="Synthetic overview"),
    Record(record_id="pubmed:900006", pmid="900006", title="Synthetic undecided record"),
    Record(record_id="clinicaltrials:NCT99999901", title="Synthetic registration"),
    Record(record_id="pubmed:900007", pmid="900007", title="Synthetic record awaiting full text"),
    Record(record_id="pubmed:900008", pmid="900008", title="Synthetic record not retrieved"),
    Record(record_id="pubmed:900009", pmid="900009", title="Synthetic narrative", publication_types=("Review",)),
]
DECISIONS = [
    ("10.9999/T.1", "title_abstract", "include", "", "curation", "2025-10-01", ""),  # via DOI, case-insensitive
    ("embase:2025-09-30#1", "full_text", "include", "", "curation", "2025-10-02", "via the OVID duplicate"),
    ("900002", "title_abstract", "include", "", "curation", "2025-10-01", ""),
    ("900002", "full_text", "include", "", "curation", "2025-10-02", "imaging report"),
    ("900003", "title_abstract", "exclude", "animal", "curation", "2025-10-01", "mice"),
    ("900004", "title_abstract", "include", "", "curation", "2025-10-01", ""),
    ("900004", "full_text", "exclude", "open_label", "curation", "2025-10-02", "single arm"),
    ("900005", "title_abstract", "exclude", "other", "curation", "2025-10-01", "not about the question"),
    ("clinicaltrials:NCT99999901", "title_abstract", "exclude", "registry_record", "curation", "2025-10-01", ""),
    ("900007", "title_abstract", "include", "", "curation", "2025-10-01", ""),
    ("900008", "title_abstract", "include", "", "curation", "2025-10-01", ""),
    ("900008", "full_text", "exclude", "not_retrieved", "curation", "2025-10-02", "library could not supply"),
]


def clusters() -> list[dict[str, str]]:
    rows = singleton_clusters(RECORDS)
    for r in rows:
        r["cluster_id"] = "c-" + r["record_id"]
    rows.append({"record_id": "embase:2025-09-30#1", "cluster_id": "c-pubmed:900001", "canonical_id": "pubmed:900001"})
    return rows


def write_decisions(tmp_path: Path, rows) -> Path:
    path = tmp_path / "decisions.tsv"
    path.write_text("\t".join(DECISION_FIELDS) + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(tmp_path: Path, rows=DECISIONS):
    rs = FakeRuleSet()
    idx = build_index(RECORDS, clusters())
    settled = resolve_decisions(load_decisions(write_decisions(tmp_path, rows), rs.reasons), idx)
    return screen_clusters(RECORDS, idx, rs, settled, screen=fake_screen)


def path_of(result, record_id: str) -> list[tuple[str, str]]:
    return [(r["stage"], r["outcome"]) for r in result.ledger if r["record_id"] == record_id]


def test_every_record_path_and_final_state(tmp_path: Path) -> None:
    res = run(tmp_path)
    assert path_of(res, "pubmed:900001") == [("automation", "passed"), ("title_abstract", "included"), ("retrieval", "retrieved"), ("full_text", "included")]
    assert path_of(res, "pubmed:900003") == [("automation", "excluded")]
    assert path_of(res, "pubmed:900004")[-1] == ("full_text", "excluded")
    assert path_of(res, "pubmed:900005") == [("automation", "passed"), ("title_abstract", "excluded")]
    assert path_of(res, "pubmed:900006") == [("automation", "passed"), ("title_abstract", "awaiting_decision")]
    assert path_of(res, "pubmed:900007") == [("automation", "passed"), ("title_abstract", "included"), ("retrieval", "retrieved"), ("full_text", "awaiting_decision")]
    assert path_of(res, "pubmed:900008") == [("automation", "passed"), ("title_abstract", "included"), ("retrieval", "not_retrieved")]
    # nothing dropped: every canonical record has rows, and only canonical records do
    assert {r["record_id"] for r in res.ledger} == {r.record_id for r in RECORDS}
    assert all(set(r) == set(LEDGER_FIELDS) for r in res.ledger)
    assert all(set(r) == set(SCREENING_FIELDS) for r in res.screening)


def test_rule_exclusion_confirmed_by_a_person_shows_both(tmp_path: Path) -> None:
    res = run(tmp_path)
    (row,) = [r for r in res.ledger if r["record_id"] == "pubmed:900003"]
    assert row["reference"] == "R1_animal"
    assert row["reason"] == "Animal study"
    assert row["evidence"] == "title[19:23]: mice; confirmed by decisions.tsv:6 (title_abstract exclude, reason animal)"
    # the rule-only exclusion has no confirmation
    (row9,) = [r for r in res.ledger if r["record_id"] == "pubmed:900009"]
    assert row9["reference"] == "R2_review" and "confirmed" not in row9["evidence"]


def test_human_rows_cite_decision_lines_and_reason_labels(tmp_path: Path) -> None:
    res = run(tmp_path)
    ft = next(r for r in res.ledger if r["record_id"] == "pubmed:900004" and r["stage"] == "full_text")
    assert ft["reference"] == "decisions.tsv:8" and ft["reason"] == "Open-label or single-arm trial"
    assert "exclude by curation on 2025-10-02; reason open_label; single arm" == ft["evidence"]
    inc = next(r for r in res.ledger if r["record_id"] == "pubmed:900001" and r["stage"] == "full_text")
    assert inc["reference"] == "decisions.tsv:3" and "via the OVID duplicate" in inc["evidence"]
    nr = next(r for r in res.ledger if r["record_id"] == "pubmed:900008" and r["stage"] == "retrieval")
    assert nr["reason"] == "Full text not retrieved" and nr["reference"] == "decisions.tsv:13"


def test_screening_table_one_row_per_cluster_per_stage_reached(tmp_path: Path) -> None:
    res = run(tmp_path)
    stages = [(r["cluster_id"], r["stage"], r["decision"], r["source"]) for r in res.screening if r["record_id"] == "pubmed:900007"]
    assert stages == [
        ("c-pubmed:900007", "automation", "passed", "rule"),
        ("c-pubmed:900007", "title_abstract", "included", "human"),
        ("c-pubmed:900007", "full_text", "awaiting_decision", "human"),
    ]
    assert len({(r["cluster_id"], r["stage"]) for r in res.screening}) == len(res.screening)


def test_rule_performance_counts_and_sensitivity(tmp_path: Path) -> None:
    res = run(tmp_path)
    rows = {r["rule_id"]: r for r in res.performance}
    assert list(rows) == ["R1_animal", "R2_review", ALL_RULES]
    assert rows["R1_animal"]["records_excluded"] == 1 and rows["R1_animal"]["people_excluded"] == 1
    assert rows["R2_review"]["records_matched"] == 2  # 900003 (second hit) and 900009
    assert rows["R2_review"]["records_excluded"] == 1 and rows["R2_review"]["people_decided"] == 0
    total = rows[ALL_RULES]
    assert total["records_excluded"] == 2 and total["people_included"] == 0
    assert total["eventual_inclusions"] == 2 and total["eventual_inclusions_passed"] == 2 and total["sensitivity"] == 1.0


def test_rule_performance_counts_people_who_excluded_for_another_reason(tmp_path: Path) -> None:
    rows = {r["rule_id"]: r for r in run(tmp_path).performance}
    assert rows["R1_animal"]["people_excluded_other_reason"] == 0  # the person gave the rule's reason
    other = [("900003", "title_abstract", "exclude", "publication_type", "curation", "2025-10-01", "a review") if d[0] == "900003" else d for d in DECISIONS]
    res = run(tmp_path, other)
    rows = {r["rule_id"]: r for r in res.performance}
    assert rows["R1_animal"]["people_excluded"] == 1 and rows["R1_animal"]["people_excluded_other_reason"] == 1
    assert rows[ALL_RULES]["people_excluded_other_reason"] == 1
    (row,) = [r for r in res.ledger if r["record_id"] == "pubmed:900003"]
    assert row["evidence"].endswith("confirmed by decisions.tsv:6 (title_abstract exclude, reason publication_type)")


def test_automation_exclusion_of_a_record_people_included_stops_the_run(tmp_path: Path) -> None:
    rows = list(DECISIONS) + [("900009", "title_abstract", "include", "", "curation", "2025-10-01", "")]
    with pytest.raises(ConfigError) as err:
        run(tmp_path, rows)
    msg = str(err.value)
    assert "rule R2_review excluded pubmed:900009" in msg and "people included it at title_abstract (decisions.tsv:14)" in msg


def test_full_text_decision_without_title_abstract_inclusion_is_an_error(tmp_path: Path) -> None:
    rows = list(DECISIONS) + [("900006", "full_text", "include", "", "curation", "2025-10-01", "")]
    with pytest.raises(ConfigError, match="full-text decision but no title/abstract decision"):
        run(tmp_path, rows)
    rows = list(DECISIONS) + [("900005", "full_text", "include", "", "curation", "2025-10-01", "")]
    with pytest.raises(ConfigError, match="excluded at title/abstract"):
        run(tmp_path, rows)


def test_no_decisions_leaves_everything_the_rules_pass_awaiting(tmp_path: Path) -> None:
    res = run(tmp_path, [])
    finals = {}
    for r in res.ledger:
        finals[r["record_id"]] = (r["stage"], r["outcome"])
    assert sorted(v for v in finals.values()) == sorted([("automation", "excluded")] * 2 + [("title_abstract", "awaiting_decision")] * 8)
    assert res.agreement["title_abstract"]["computable"] is False
    assert res.performance[-1]["sensitivity"] is None


def test_run_screening_writes_all_outputs_deterministically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import livingreview.screen_stage as stage
    from livingreview.constants import RECORD_FIELDS
    from livingreview.tables import read_tsv, write_tsv

    monkeypatch.setattr(stage, "_default_screening", lambda: (lambda path: FakeRuleSet(), fake_screen))
    canonical = tmp_path / "canonical.tsv"
    write_tsv(canonical, RECORD_FIELDS, [r.to_row() for r in RECORDS])
    clusters_tsv = tmp_path / "clusters.tsv"
    write_tsv(clusters_tsv, ("record_id", "cluster_id", "canonical_id", "rule", "score"), clusters())
    out = tmp_path / "out"
    stage.run_screening(
        canonical=canonical,
        clusters=clusters_tsv,
        rules="unused.yaml",
        decisions=write_decisions(tmp_path, DECISIONS),
        studies=None,
        screening_out=out / "screening.tsv",
        performance_out=out / "rule_performance.tsv",
        agreement_out=out / "agreement.json",
        ledger_out=out / "screening_ledger.tsv",
    )
    ledger = read_tsv(out / "screening_ledger.tsv", required=LEDGER_FIELDS)
    assert len(ledger) == len(run(tmp_path).ledger)
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["title_abstract"]["why"].startswith("single reviewer (curation)")
    perf = read_tsv(out / "rule_performance.tsv")
    assert perf[-1]["rule_id"] == ALL_RULES and perf[-1]["sensitivity"] == "1"
    first = (out / "screening.tsv").read_bytes()
    stage.run_screening(
        canonical=canonical, clusters=clusters_tsv, rules="unused.yaml", decisions=tmp_path / "decisions.tsv", studies=None,
        screening_out=out / "screening.tsv", performance_out=out / "rule_performance.tsv", agreement_out=out / "agreement.json", ledger_out=out / "screening_ledger.tsv",
    )
    assert (out / "screening.tsv").read_bytes() == first


def test_cli_screen_writes_rows_and_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import livingreview.screening as screening
    from livingreview.cli import main
    from livingreview.constants import RECORD_FIELDS
    from livingreview.tables import read_tsv, write_tsv

    monkeypatch.setattr(screening, "load_rules", lambda path: FakeRuleSet())
    monkeypatch.setattr(screening, "screen_record", fake_screen)
    table = tmp_path / "records.tsv"
    write_tsv(table, RECORD_FIELDS, [r.to_row() for r in RECORDS])
    out = tmp_path / "screening.tsv"
    assert main(["screen", str(table), "--rules", "unused.yaml", "-o", str(out)]) == 0
    rows = read_tsv(out, required=SCREENING_FIELDS)
    assert len([r for r in rows if r["stage"] == "automation"]) == len(RECORDS)
    err = capsys.readouterr().err
    assert f"screened {len(RECORDS)} records in {len(RECORDS)} clusters" in err
    assert "automation excluded: 2" in err and "title_abstract awaiting_decision: 8" in err
    decisions = write_decisions(tmp_path, [d for d in DECISIONS if not d[0].startswith("embase:")])
    assert main(["screen", str(table), "--rules", "unused.yaml", "--decisions", str(decisions)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split("\t") == list(SCREENING_FIELDS)
    # 900004 open-label and 900008 not retrieved; 900001 (its full-text row was keyed on the OVID copy) and 900007 wait
    assert "full_text included: 1" in captured.err and "full_text excluded: 2" in captured.err
    assert "full_text awaiting_decision: 2" in captured.err


def test_rule_performance_people_included_is_decided_minus_excluded(tmp_path: Path) -> None:
    # R1 excluded one record and the person confirmed the exclusion with the rule's own reason:
    # 1 decided, 1 excluded (0 for another reason), so nobody included it
    rows = {r["rule_id"]: r for r in run(tmp_path).performance}
    r1 = rows["R1_animal"]
    assert (r1["people_decided"], r1["people_excluded"], r1["people_excluded_other_reason"], r1["people_included"]) == (1, 1, 0, 0)
    for row in rows.values():
        assert row["people_included"] == row["people_decided"] - row["people_excluded"]


@pytest.mark.parametrize("column, cell", [("evidence", '{"title": "rand'), ("hits", "[1,")])
def test_a_damaged_automation_shard_is_a_one_line_error_naming_its_line(tmp_path: Path, column: str, cell: str) -> None:
    from livingreview.errors import ReconciliationError
    from livingreview.screen_stage import AUTOMATION_FIELDS, read_automation
    from livingreview.tables import write_tsv

    good = {"record_id": "pubmed:1", "fields_sha1": "x", "excluded": "false", "rule_id": "", "reason": "", "label": "", "evidence": '"a"', "hits": "[]"}
    shard = tmp_path / "shard0.tsv"
    write_tsv(shard, AUTOMATION_FIELDS, [good, {**good, "record_id": "pubmed:2", column: cell}])
    with pytest.raises(ReconciliationError) as err:
        read_automation([shard])
    assert str(err.value).startswith(f"{shard}:3: record pubmed:2: column '{column}' is not valid JSON (")
    assert str(err.value).endswith("fix: the shard file is damaged: delete it and re-run snakemake (the screen_automation job writes it again)")
