"""The screening rule file: schema validation, error messages, condition primitives and rule order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from livingreview.errors import ConfigError
from livingreview.records import Record
from livingreview.screening import READABLE_FIELDS, REASON_CODES, Concept, load_rules, normalise_text, screen_record

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "config" / "screening.yaml"
REASONS = {code: f"label of {code}" for code in REASON_CODES}


def write_rules(tmp_path: Path, rules: list[dict[str, Any]], *, concepts: dict[str, Any] | None = None, reasons: dict[str, str] | None = None) -> Path:
    path = tmp_path / "screening.yaml"
    data = {"reasons": REASONS if reasons is None else reasons, "concepts": concepts or {}, "rules": rules}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def rule(rid: str, condition: dict[str, Any], *, fields: list[str] | None = None, reason: str = "other") -> dict[str, Any]:
    return {"id": rid, "label": rid.replace("_", " "), "reason": reason, "fields": fields or ["title", "abstract"], "condition": condition}


# --- the default rule file ---------------------------------------------------------------------


def test_default_rules_load_in_order_with_every_reason_code() -> None:
    rs = load_rules(RULES)
    assert [r.id for r in rs.rules] == [
        "animal_study",
        "review_publication_type",
        "review_title",
        "editorial_letter_comment",
        "erratum",
        "case_report",
        "observational_design",
        "not_randomized",
        "not_intravenous",
        "not_ptsd",
        "not_ketamine",
    ]
    assert set(REASON_CODES) <= set(rs.reasons)
    assert rs.reasons["animal"].startswith("Not human")
    for r in rs.rules:
        assert r.action == "exclude"
        assert r.reason in rs.reasons
        assert set(r.fields) <= set(READABLE_FIELDS)
        assert r.line > 0
    lines = RULES.read_text(encoding="utf-8").splitlines()
    assert lines[rs.rules[0].line - 1].strip() == "- id: animal_study"


def test_the_pipeline_needs_only_its_own_reason_codes() -> None:
    """The default review's codes (animal, not_ptsd, not_ketamine, ...) belong to its rule file;
    a protocol defines its own and only not_retrieved and other are required."""
    rs = load_rules(RULES)
    assert set(REASON_CODES) == {"not_retrieved", "other"} and set(REASON_CODES) < set(rs.reasons)
    assert {"not_ptsd", "not_ketamine", "animal"} <= set(rs.reasons)


# --- errors name file, line and rule id ------------------------------------------------------


def test_bad_regex_names_file_line_and_rule(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("ok_rule", {"text": {"fields": ["title"], "patterns": ["fine"]}}), rule("broken", {"text": {"fields": ["title"], "patterns": ["(unclosed"]}})])
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    msg = str(err.value)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if text.strip() == "- id: broken")
    assert f"{path}:{line}" in msg and "'broken'" in msg and "does not compile" in msg and "fix:" in msg


def _line_of(path: Path, needle: str) -> int:
    """Line of the first line of ``path`` that contains ``needle``."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if needle in text)


def test_concept_pattern_typo_that_compiles_joined_is_an_error(tmp_path: Path) -> None:
    # Joined with "|", 'randomi[sz(ed' opens a character class that swallows the next pattern and the
    # whole alternation still compiles (and no longer matches "randomized"): each pattern must be compiled alone.
    patterns = ["randomi[sz(ed", "randomi[sz]ation", "RCTs?"]
    assert Concept("joined", tuple(patterns)).find("a randomized trial") is None
    concepts = {"randomization": {"patterns": patterns}}
    path = write_rules(tmp_path, [rule("r1", {"lacks": {"fields": ["title"], "concept": "randomization"}})], concepts=concepts)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(err.value) == (
        f"{path}:{_line_of(path, 'randomi[sz(ed')}: concept 'randomization': pattern 'randomi[sz(ed' does not compile "
        "(unterminated character set at position 7); fix: correct this pattern (Python re syntax: close every [ and (, "
        "and escape a literal [ ] ( ) ? + * with a backslash)"
    )


def test_shipped_rules_with_the_randomized_typo_fail_to_load(tmp_path: Path) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert "      - 'randomi[sz]ed'\n" in text
    path = tmp_path / "screening.yaml"
    path.write_text(text.replace("      - 'randomi[sz]ed'\n", "      - 'randomi[sz(ed'\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    msg = str(err.value)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), start=1) if t == "      - 'randomi[sz(ed'")
    assert msg.startswith(f"{path}:{line}: concept 'randomization': pattern 'randomi[sz(ed' does not compile")
    assert "; fix: correct this pattern" in msg


def test_randomized_typo_stops_livingreview_validate_and_snakemake_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from livingreview.cli import main
    from livingreview.config import load_config
    from livingreview.workflow_support import validate_at_start

    broken = tmp_path / "screening.yaml"
    broken.write_text(RULES.read_text(encoding="utf-8").replace("      - 'randomi[sz]ed'\n", "      - 'randomi[sz(ed'\n", 1), encoding="utf-8")
    config_path = tmp_path / "config.yaml"
    config_text = (ROOT / "config" / "config.yaml").read_text(encoding="utf-8")
    assert "rules: config/screening.yaml\n" in config_text
    config_path.write_text(config_text.replace("rules: config/screening.yaml\n", f"rules: {broken}\n", 1), encoding="utf-8")
    monkeypatch.chdir(ROOT)
    expected = f"livingreview: error: {broken}:{_line_of(broken, 'randomi[sz(ed')}: concept 'randomization': pattern 'randomi[sz(ed' does not compile"

    assert main(["validate", "--config", str(config_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith(expected), err_lines

    # What the Snakefile runs at parse time (workflow/rules/common.smk): the same one line, exit 1.
    with pytest.raises(SystemExit) as stop:
        validate_at_start(load_config(config_path))
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip().startswith(expected)


def test_concept_negation_typo_is_an_error(tmp_path: Path) -> None:
    concepts = {"randomization": {"patterns": ["randomi[sz]ed"], "negations": ["non-?randomi[sz]ed", "not randomi[sz]ed)"]}}
    path = write_rules(tmp_path, [rule("r1", {"lacks": {"fields": ["title"], "concept": "randomization"}})], concepts=concepts)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{_line_of(path, 'not randomi[sz]ed)')}: concept 'randomization': negation 'not randomi[sz]ed)' does not compile")
    assert "fix: correct this negation" in msg


def test_inline_negation_typo_names_the_rule(tmp_path: Path) -> None:
    cond = {"text": {"fields": ["title"], "patterns": ["trial"], "negations": ["non-[trial"]}}
    path = write_rules(tmp_path, [rule("inline", cond)])
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{_line_of(path, '- id: inline')}: rule 'inline': negation 'non-[trial' does not compile")
    assert "fix: correct this negation" in msg


def test_patterns_that_only_fail_joined_are_an_error(tmp_path: Path) -> None:
    # Each compiles alone, but the same group name twice cannot be joined into one alternation.
    concepts = {"dup_group": {"patterns": ["(?P<x>a)", "(?P<x>b)"]}}
    path = write_rules(tmp_path, [rule("r1", {"text": {"fields": ["title"], "concept": "dup_group"}})], concepts=concepts)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{_line_of(path, '(?P<x>a)')}: concept 'dup_group': its patterns compile one by one but not joined with |")
    assert "fix: use non-capturing groups" in msg


def test_negations_next_to_a_concept_are_refused(tmp_path: Path) -> None:
    concepts = {"trial": {"patterns": ["trials?"]}}
    path = write_rules(tmp_path, [rule("r1", {"text": {"fields": ["title"], "concept": "trial", "negations": ["not a trial"]}})], concepts=concepts)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(err.value) == (
        f"{path}:{_line_of(path, '- id: r1')}: rule 'r1': negations: next to concept: 'trial' would be ignored; "
        "fix: move the negations to concepts: trial: negations:, or use patterns: instead of concept:"
    )


def test_unknown_reason_is_an_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("r1", {"text": {"fields": ["title"], "patterns": ["x"]}}, reason="no_such_reason")])
    with pytest.raises(ConfigError, match=r"rule 'r1': reason 'no_such_reason' is not in reasons"):
        load_rules(path)


def test_field_read_but_not_declared_is_an_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("r1", {"text": {"fields": ["keywords"], "patterns": ["x"]}}, fields=["title"])])
    with pytest.raises(ConfigError, match=r"rule 'r1': condition reads keywords but fields: does not list it"):
        load_rules(path)


def test_curation_fields_cannot_be_read(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("cheat", {"text": {"fields": ["title"], "patterns": ["x"]}}, fields=["title", "record_kind"])])
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert "rule 'cheat'" in str(err.value) and "record_kind" in str(err.value)


def test_duplicate_rule_id_is_an_error(tmp_path: Path) -> None:
    cond = {"text": {"fields": ["title"], "patterns": ["x"]}}
    path = write_rules(tmp_path, [rule("same", cond), rule("same", cond)])
    with pytest.raises(ConfigError, match="rule 'same' is defined twice"):
        load_rules(path)


def test_unknown_primitive_names_the_rule_and_its_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("first", {"text": {"fields": ["title"], "patterns": ["x"]}}), rule("second", {"regex": "x"})])
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if text.strip() == "- id: second")
    assert f"{path}:{line}" in str(err.value) and "rule 'second'" in str(err.value)


def test_unknown_concept_is_an_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [rule("r1", {"lacks": {"fields": ["title"], "concept": "nothing"}})])
    with pytest.raises(ConfigError, match="rule 'r1': unknown concept 'nothing'"):
        load_rules(path)


def test_missing_shared_reason_code_is_an_error(tmp_path: Path) -> None:
    reasons = {k: v for k, v in REASONS.items() if k != "not_retrieved"}
    path = write_rules(tmp_path, [rule("r1", {"text": {"fields": ["title"], "patterns": ["x"]}})], reasons=reasons)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text.startswith("reasons:"))
    assert err.value.one_line().startswith(f"{path}:{line}: reasons: lacks the code(s) not_retrieved; fix: add each code")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "screening.yaml"
    path.write_text("reasons:\n  animal: a\nrules:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: YAML syntax error"):
        load_rules(path)


# --- primitives, combinators, order -----------------------------------------------------------


def test_primitives_and_first_rule_decides(tmp_path: Path) -> None:
    rules = [
        rule("old", {"year": {"to": 1999}}, fields=["year"]),
        rule("not_english", {"language": {"not_in": ["eng", ""]}}, fields=["language"]),
        rule("animals_only", {"all_of": [{"mesh": {"present": ["Animals"]}}, {"mesh": {"absent": ["Humans"]}}]}, fields=["mesh"]),
        rule("editorial", {"publication_type": {"in": ["Editorial"]}}, fields=["publication_types"]),
        rule("no_trial_word", {"all_of": [{"present": ["abstract"]}, {"lacks": {"fields": ["title", "abstract"], "concept": "trial"}}]}),
        rule("either", {"any_of": [{"text": {"fields": ["title"], "patterns": ["alpha"]}}, {"text": {"fields": ["abstract"], "patterns": ["beta"]}}]}),
        rule("neither", {"none_of": [{"text": {"fields": ["title", "abstract"], "patterns": ["alpha", "beta", "trial"]}}]}),
    ]
    path = write_rules(tmp_path, rules, concepts={"trial": {"patterns": ["trials?"], "negations": ["not\\s+a\\s+trial"]}})
    rs = load_rules(path)

    rec = Record(record_id="t:1", title="Alpha", abstract="This is not a trial.", year="1998", language="fre", mesh=("Animals", "Rats"), publication_types=("Editorial",))
    result = screen_record(rec, rs)
    assert result.rule_id == "old" and result.evidence == "year: 1998"
    assert [h.rule_id for h in result.hits] == ["old", "not_english", "animals_only", "editorial", "no_trial_word", "either"]
    evidence = {h.rule_id: h.evidence for h in result.hits}
    assert evidence["not_english"] == "language[0:3]: fre"
    assert evidence["animals_only"] == "mesh[0:7]: Animals"
    assert evidence["editorial"] == "publication_types[0:9]: Editorial"
    assert evidence["no_trial_word"] == "title+abstract: no mention of trial"
    assert evidence["either"] == "title[0:5]: Alpha"

    later = Record(record_id="t:2", title="A trial", abstract="gamma", year="2020", language="eng", mesh=("Animals", "Humans"))
    assert screen_record(later, rs).hits == ()

    plain = Record(record_id="t:3", title="Gamma", abstract="", year="", language="")
    result = screen_record(plain, rs)
    # no year never matches a year range; no abstract keeps the absence rule quiet
    assert [h.rule_id for h in result.hits] == ["neither"] and result.evidence == ""


def test_word_boundaries_and_case() -> None:
    c = Concept(name="rat", patterns=("rats?",))
    assert c.find("In RATS exposed") == (3, 7, "RATS")
    assert c.find("The ratio and separation; migrated") is None


def test_negated_phrases_do_not_count() -> None:
    rs = load_rules(RULES)
    randomization = rs.concepts["randomization"]
    for text in ("a non-randomized pilot", "a nonrandomised study", "was not randomized", "without randomization", "an open-label trial", "non-RCT evidence"):
        assert randomization.find(text) is None, text
    for text in ("an open-label randomized trial", "a non-randomized extension of a randomized trial", "random allocation", "two RCTs", "were randomly assigned"):
        assert randomization.find(text) is not None, text
    text = "a non-randomized extension of a randomized trial"
    start = text.rindex("randomized")
    assert randomization.find(text) == (start, start + len("randomized"), "randomized")


def test_normalise_text_keeps_offsets_stable_for_dashes() -> None:
    assert normalise_text("post\u2010traumatic\u00a0stress") == "post-traumatic stress"
    assert normalise_text("A &amp; B &lt;i&gt;in vivo&lt;/i&gt; <sup>2</sup>") == "A & B in vivo 2"
    assert normalise_text("") == ""


def test_screening_is_deterministic() -> None:
    rs = load_rules(RULES)
    rec = Record(record_id="t:9", title="Intranasal ketamine for PTSD", abstract="Adults with PTSD received intranasal ketamine.", language="eng")
    first, second = screen_record(rec, rs), screen_record(rec, load_rules(RULES))
    assert first == second
    assert first.rule_id == "not_intravenous"
    assert first.evidence == "title[0:10]: Intranasal | title+abstract+keywords+mesh: no mention of iv_route | language[0:3]: eng"


@pytest.mark.parametrize(("year", "fires"), [("1999", True), ("2000", True), ("2001", False), ("2009", False), ("2010", True), ("2011", True)])
def test_year_range_includes_both_bounds(tmp_path: Path, year: str, fires: bool) -> None:
    # "to: 2000" means up to and including 2000; "from: 2010" from 2010 on
    rs = load_rules(write_rules(tmp_path, [rule("early", {"year": {"to": 2000}}, fields=["year"]), rule("late", {"year": {"from": 2010}}, fields=["year"])]))
    result = screen_record(Record(record_id="t:1", title="A trial", year=year), rs)
    assert result.excluded is fires
    if fires:
        assert result.evidence == f"year: {year}"
