"""Case tables for the screening rules: curated records (expected outcome derived from curation facts) and synthetic edge cases."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from livingreview.importer import collect_records
from livingreview.records import Record
from livingreview.screening import RuleSet, ScreenResult, load_rules, normalise_text, screen_record
from livingreview.tables import read_tsv

from conftest import EVIDENCE, ROOT, shipped_resources
RULES = ROOT / "config" / "screening.yaml"
CASES = ROOT / "tests" / "data" / "screening_cases.yaml"

CURATED: list[dict[str, Any]] = json.loads((EVIDENCE / "records.json").read_text(encoding="utf-8"))
STUDIES: list[dict[str, Any]] = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
SYNTHETIC: list[dict[str, Any]] = yaml.safe_load(CASES.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(RULES)


# --- curated record -> database record (as the snapshot writes it) --------------------------

_ANNOTATION = re.compile(r"\s*\((?:per |metajournal|truncated|inferred)[^)]*\)\s*$", re.IGNORECASE)


def curated_to_record(c: dict[str, Any]) -> Record:
    """What a database would hold: title, publication types (curator notes stripped), year, and the
    curated plain-words summary as the abstract. No curation field is passed to the rules."""
    parts = []
    for label, key in (("Design", "study_design"), ("Population", "population_condition"), ("Ketamine route", "ketamine_route"), ("Comparator", "comparator")):
        if c.get(key):
            parts.append(f"{label}: {c[key]}.")
    types = tuple(_ANNOTATION.sub("", t).strip() for t in c.get("publication_types") or [])
    return Record(
        record_id=f"curated:{c['key']}",
        database="other",
        title=c["title"],
        abstract=" ".join(parts),
        publication_types=types,
        keywords=tuple(c.get("keywords_pubmed") or ()),
        year=str(c.get("year") or ""),
    )


# --- expected outcome, derived from the curation fields only ------------------------------

_NON_IV = re.compile(r"\b(?:intranasal|oral|intramuscular|sublingual)\b", re.IGNORECASE)
_IV = re.compile(r"\b(?:IV|intravenous|infusions?)\b", re.IGNORECASE)
_PTSD = re.compile(r"PTSD|post-?traumatic stress|posttraumatic", re.IGNORECASE)
_RANDOM = re.compile(r"randomi[sz]ed|\bRCTs?\b", re.IGNORECASE)
_NEGATED = re.compile(r"\bnon-?randomi[sz]ed|\bnot randomi[sz]ed", re.IGNORECASE)
_OBSERVATIONAL = re.compile(r"retrospective|observational|chart review|record review|cohort|case-control", re.IGNORECASE)
_CASE = re.compile(r"case (?:report|series|study)", re.IGNORECASE)
REVIEW_KINDS = {"narrative_review", "systematic_review_meta_analysis"}


def expected_outcome(c: dict[str, Any]) -> tuple[bool, set[str], set[str]]:
    """(must be excluded?, reasons the facts require, reasons the facts permit).

    A record is expected to be excluded only when its facts give an explicit reason ("required");
    everything else is expected to pass to people. "Permitted" reasons are facts that make a rule
    hit defensible without demanding it (e.g. a route that is partly unknown).
    """
    required: set[str] = set()
    permitted: set[str] = set()
    kind = c["record_kind"]
    host = (c.get("human_or_animal") or "").lower()
    route = c.get("ketamine_route") or ""
    design = c.get("study_design") or ""
    population = c.get("population_condition") or ""
    if kind == "animal_preclinical" or host.startswith("animal"):
        required.add("animal")
    if kind in REVIEW_KINDS:
        required.add("publication_type")
    if kind == "letter":
        permitted.add("publication_type")
    if _NON_IV.search(route) and not _IV.search(route):
        uncertain_route = "not stated" in route or "mixed" in route
        (permitted if uncertain_route else required).add("not_intravenous")
    if not _PTSD.search(population):
        (permitted if _PTSD.search(c["title"]) else required).add("not_ptsd")
    if not _RANDOM.search(_NEGATED.sub("", design)):
        permitted.add("not_randomized")
        if _NEGATED.search(design):
            required.add("not_randomized")
        if _OBSERVATIONAL.search(design) or kind == "observational_retrospective":
            required.add("observational")
        if _CASE.search(design) or kind == "case_report_series":
            required.add("case_report")
    return bool(required), required, permitted


_PIECE = re.compile(r"^(?P<field>[a-z_]+)\[(?P<start>\d+):(?P<end>\d+)\]: (?P<text>.+)$", re.DOTALL)
_ABSENT = re.compile(r"^[a-z_]+(?:\+[a-z_]+)*: no mention of \w+$")


def assert_evidence_points_at_text(result: ScreenResult, record: Record) -> None:
    """Every evidence piece is 'field[start:end]: text' quoting the normalised field, or an absence statement."""
    fields = {
        "title": normalise_text(record.title),
        "abstract": normalise_text(record.abstract),
        "keywords": normalise_text("; ".join(record.keywords)),
        "publication_types": normalise_text("; ".join(record.publication_types)),
        "mesh": normalise_text("; ".join(record.mesh)),
        "language": record.language,
    }
    for hit in result.hits:
        for piece in hit.evidence.split(" | "):
            m = _PIECE.match(piece)
            if m:
                start, end = int(m["start"]), int(m["end"])
                assert fields[m["field"]][start:end] == m["text"], (hit.rule_id, piece)
            else:
                assert _ABSENT.match(piece), (hit.rule_id, piece)


@pytest.mark.parametrize("curated", CURATED, ids=[c["key"] for c in CURATED])
def test_curated_record_meets_expected_outcome(curated: dict[str, Any], ruleset: RuleSet) -> None:
    """Each curated record, as a database record, gets the outcome its curation facts call for."""
    record = curated_to_record(curated)
    must_exclude, required, permitted = expected_outcome(curated)
    result = screen_record(record, ruleset)
    assert result.excluded is must_exclude, (curated["record_kind"], required, result.hits)
    if must_exclude:
        allowed = required | permitted
        assert result.reason in allowed
        assert {h.reason for h in result.hits} <= allowed, (required, permitted, result.hits)
        assert result.rule_id == result.hits[0].rule_id
        assert result.label == ruleset.reasons[result.reason]
        assert result.evidence == result.hits[0].evidence
        assert_evidence_points_at_text(result, record)
    else:
        assert (result.rule_id, result.reason, result.label, result.evidence, result.hits) == ("", "", "", "", ())


def _reports_reaching_full_text() -> list[str]:
    """Record keys of every report of every study a full-text assessment looked at (studies.json)."""
    return sorted({r["record_key"] for s in STUDIES for r in s["reports"]})


def test_full_text_reports_are_the_eleven_named_in_the_protocol() -> None:
    """The 8 included reports and the 3 full-text exclusions are exactly what studies.json lists."""
    included = sorted({r["record_key"] for s in STUDIES if s["curated_decision"] == "include" for r in s["reports"]})
    assert included == sorted(["K006", "K060", "K033", "K071", "K072", "K052", "K032", "K056"])
    assert _reports_reaching_full_text() == sorted(included + ["K029", "K067", "TFeder2025WET"])


@pytest.mark.parametrize("key", _reports_reaching_full_text())
def test_automation_never_excludes_a_report_that_reaches_full_text(key: str, ruleset: RuleSet) -> None:
    """No rule fires on an included report or a report people excluded only at full text."""
    curated = next(c for c in CURATED if c["key"] == key)
    result = screen_record(curated_to_record(curated), ruleset)
    assert not result.excluded and result.hits == (), result.hits


def test_curated_outcomes_cover_every_kind_of_exclusion(ruleset: RuleSet) -> None:
    """The curated set exercises each default rule that real records can trigger, and most records pass or fail for a stated reason."""
    results = [screen_record(curated_to_record(c), ruleset) for c in CURATED]
    fired = {h.rule_id for r in results for h in r.hits}
    assert {"animal_study", "review_publication_type", "review_title", "case_report", "observational_design", "not_randomized", "not_intravenous", "not_ptsd"} <= fired
    assert len(results) == len(CURATED) == 67
    passed = [c["key"] for c, r in zip(CURATED, results) if not r.excluded]
    # Everything that passes is human, and either reaches full text or is a trial-like record for people to judge.
    for key in passed:
        c = next(x for x in CURATED if x["key"] == key)
        assert not (c.get("human_or_animal") or "human").startswith("animal")
        assert c["record_kind"] not in REVIEW_KINDS


# --- the archived snapshot: every database copy of every curated record ---------------------


def _coverage() -> list[dict[str, str]]:
    return read_tsv(shipped_resources() / "snapshot_coverage.tsv", required=("key", "record_ids", "reason"))


def _keys_not_in_snapshot() -> set[str]:
    """Curated keys the snapshot holds no record for (each with the reason the coverage table gives)."""
    rows = [row for row in _coverage() if not row["record_ids"]]
    assert all(row["reason"] for row in rows), "a curated record left out of the snapshot must say why"
    return {row["key"] for row in rows}


@pytest.fixture(scope="module")
def snapshot() -> list[tuple[str, Record]]:
    """(curated key, record) for every record of the archived search runs, keyed through resources/snapshot_coverage.tsv."""
    records, _ = collect_records(shipped_resources() / "searches")
    key_of: dict[str, str] = {}
    for row in _coverage():
        for record_id in filter(None, row["record_ids"].split("; ")):
            key_of[record_id] = row["key"]
    assert {r.record_id for r in records} == set(key_of), "snapshot records and coverage table disagree"
    return [(key_of[r.record_id], r) for r in records]


def test_snapshot_records_meet_expected_outcomes(snapshot: list[tuple[str, Record]], ruleset: RuleSet) -> None:
    """Each database copy (PubMed XML, OVID RIS, registry CSV) as the importer reads it gets its curated outcome."""
    curated = {c["key"]: c for c in CURATED}
    assert {key for key, _ in snapshot} == set(curated) - _keys_not_in_snapshot()
    mismatches = []
    for key, record in snapshot:
        must_exclude, required, permitted = expected_outcome(curated[key])
        result = screen_record(record, ruleset)
        hit_reasons = {h.reason for h in result.hits}
        if result.excluded is not must_exclude or not hit_reasons <= required | permitted:
            mismatches.append((record.record_id, key, must_exclude, sorted(required), [(h.rule_id, h.evidence) for h in result.hits]))
        if result.excluded:
            assert_evidence_points_at_text(result, record)
    assert mismatches == []


def test_snapshot_never_excludes_a_report_that_reaches_full_text(snapshot: list[tuple[str, Record]], ruleset: RuleSet) -> None:
    """Every database copy of the 8 included and 3 full-text-excluded reports passes the automation."""
    protected = set(_reports_reaching_full_text())
    copies = [(key, record) for key, record in snapshot if key in protected]
    assert {key for key, _ in copies} == protected - _keys_not_in_snapshot()
    fired = [(record.record_id, [h.rule_id for h in screen_record(record, ruleset).hits]) for _, record in copies]
    assert [item for item in fired if item[1]] == []


# --- synthetic edge cases ---------------------------------------------------------------------


def _synthetic_record(case: dict[str, Any]) -> Record:
    raw = case["record"]
    return Record(
        record_id=f"test:{case['id']}",
        title=raw.get("title", ""),
        abstract=raw.get("abstract", ""),
        publication_types=tuple(raw.get("publication_types", ())),
        mesh=tuple(raw.get("mesh", ())),
        keywords=tuple(raw.get("keywords", ())),
        language=raw.get("language", ""),
        year=str(raw.get("year", "")),
    )


@pytest.mark.parametrize("case", SYNTHETIC, ids=[c["id"] for c in SYNTHETIC])
def test_synthetic_case(case: dict[str, Any], ruleset: RuleSet) -> None:
    """Each synthetic case gets its expected outcome, reason, rule and quoted evidence."""
    assert case["note"]
    record = _synthetic_record(case)
    expected = case["expected"]
    result = screen_record(record, ruleset)
    if expected["outcome"] == "pass":
        assert not result.excluded and result.hits == (), result.hits
        return
    assert result.excluded, case["note"]
    assert (result.reason, result.rule_id) == (expected["reason"], expected["rule_id"]), result.hits
    assert expected["evidence"] in result.evidence
    assert result.record_id == record.record_id
    assert_evidence_points_at_text(result, record)


def test_synthetic_cases_have_unique_ids_and_cover_the_required_edges() -> None:
    ids = [c["id"] for c in SYNTHETIC]
    assert len(ids) == len(set(ids))
    for required in ("iv_vs_intranasal_comparison", "non_randomized_in_title", "was_not_randomized", "non_english_title_and_abstract", "missing_abstract", "html_entities_review_title"):
        assert required in ids


# --- gaps a reviewer reproduced: rules may only exclude in the safe direction -----------------
# Synthetic records (made-up inputs, ids "gap:..."), built like the cases above. "pass" cases are
# eligible RCTs of IV ketamine for PTSD (or uncertain records) that no rule may exclude; the
# "excluded" cases show the fixed rule still fires on explicit evidence.


def _gap(rid: str, title: str, abstract: str = "", *, language: str = "eng", publication_types: tuple[str, ...] = ("Journal Article",), **extra: Any) -> Record:
    return Record(record_id=f"gap:{rid}", title=title, abstract=abstract, language=language, publication_types=publication_types, **extra)


def _assert_gap_outcome(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """``expected`` None: passes with no rule firing; else (reason, rule_id, evidence text) of the deciding rule."""
    result = screen_record(record, ruleset)
    if expected is None:
        assert not result.excluded and result.hits == (), [(h.rule_id, h.evidence) for h in result.hits]
        return
    assert result.excluded, record.title
    assert (result.reason, result.rule_id) == expected[:2], [(h.rule_id, h.evidence) for h in result.hits]
    assert expected[2] in result.evidence, result.evidence
    assert_evidence_points_at_text(result, record)


ROUTE_GAPS = [
    pytest.param(
        _gap(
            "spa_iv_vs_intranasal",
            "Ketamina intravenosa frente a esketamina intranasal para el trastorno de estrés postraumático: ensayo aleatorizado",
            "Adultos con TEPT fueron asignados aleatoriamente a ketamina intravenosa o esketamina intranasal.",
            language="spa",
        ),
        None,
        id="spa_iv_vs_intranasal",
    ),
    pytest.param(
        _gap(
            "por_iv_vs_oral",
            "Cetamina intravenosa versus cetamina oral no transtorno de estresse pós-traumático: ensaio randomizado",
            "Adultos com TEPT receberam cetamina intravenosa ou cetamina oral.",
            language="por",
        ),
        None,
        id="por_iv_vs_oral",
    ),
    pytest.param(
        # Language not given, Spanish text: the IV terms of other languages count as IV.
        _gap("nolang_spa_endovenosa", "Ketamina endovenosa frente a ketamina oral en el TEPT: ensayo aleatorizado", "Infusión de ketamina u oral en adultos con TEPT (PTSD).", language=""),
        None,
        id="nolang_spa_endovenosa",
    ),
    pytest.param(
        _gap("nolang_por_infusao", "Infusão de cetamina versus cetamina oral no TEPT (PTSD): ensaio randomizado", "", language=""),
        None,
        id="nolang_por_infusao",
    ),
    pytest.param(
        # English and intranasal only: still excluded on explicit evidence.
        _gap("eng_intranasal_only", "Intranasal esketamine for PTSD: a randomized trial", "Adults with PTSD were randomized to intranasal esketamine or placebo."),
        ("not_intravenous", "not_intravenous", "Intranasal"),
        id="eng_intranasal_only",
    ),
]


@pytest.mark.parametrize(("record", "expected"), ROUTE_GAPS)
def test_route_rule_leaves_non_english_iv_trials_to_people(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """The route rule is English-only (non-English records go to people) and knows IV terms of other languages."""
    _assert_gap_outcome(record, expected, ruleset)


ANIMAL_GAPS = [
    pytest.param(
        _gap(
            "preclinical_then_individuals",
            "Intravenous ketamine for chronic PTSD",
            "Preclinical studies suggest that ketamine enhances fear extinction. We randomised 30 individuals with chronic PTSD to ketamine or midazolam infusion.",
        ),
        None,
        id="preclinical_then_individuals",
    ),
    pytest.param(
        _gap(
            "rodents_then_subjects",
            "Intravenous ketamine for chronic PTSD",
            "Ketamine enhances fear extinction in rodents. Subjects with chronic PTSD were randomized to ketamine or midazolam infusion.",
        ),
        None,
        id="rodents_then_subjects",
    ),
    pytest.param(
        _gap(
            "animal_model_then_survivors",
            "Ketamine infusion after trauma: from animal models to the clinic",
            "Animal models show ketamine blocks fear memory. Survivors of assault and civilians with PTSD were randomized to intravenous ketamine or saline.",
        ),
        None,
        id="animal_model_then_survivors",
    ),
    pytest.param(
        # No word for people at all, but the record is typed as a randomized trial: people decide.
        _gap(
            "rodent_words_typed_rct",
            "Ketamine infusion and fear extinction: translating rodent findings in PTSD",
            "Rodent work shows ketamine enhances fear extinction. Forty-one with chronic PTSD were randomized to intravenous ketamine or midazolam.",
            publication_types=("Journal Article", "Randomized Controlled Trial"),
        ),
        None,
        id="rodent_words_typed_rct",
    ),
    pytest.param(
        _gap(
            "rat_study",
            "Ketamine reverses fear memory in rats exposed to single prolonged stress",
            "Male Sprague-Dawley rats were randomized to ketamine or saline after stress exposure.",
        ),
        ("animal", "animal_study", "rats"),
        id="rat_study",
    ),
    pytest.param(
        # A veterinary trial type is not a trial in people.
        _gap(
            "rat_study_veterinary_trial",
            "Ketamine reverses fear memory in rats",
            "Rats were randomized to ketamine or saline.",
            publication_types=("Journal Article", "Randomized Controlled Trial, Veterinary"),
        ),
        ("animal", "animal_study", "rats"),
        id="rat_study_veterinary_trial",
    ),
    pytest.param(
        # Singular forms are adjectives in animal work ("adolescent mice", "individual housing"): not people.
        _gap("adolescent_mice", "Ketamine and fear extinction in adolescent mice", "Individual housing of adolescent mice before stress; ketamine or vehicle."),
        ("animal", "animal_study", "mice"),
        id="adolescent_mice",
    ),
    pytest.param(
        _gap("mesh_animals_typed_rct", "Ketamine infusion for PTSD", "", publication_types=("Randomized Controlled Trial",), mesh=("Animals", "Ketamine")),
        None,
        id="mesh_animals_typed_rct",
    ),
]


@pytest.mark.parametrize(("record", "expected"), ANIMAL_GAPS)
def test_animal_rule_spares_human_trials(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """More words for people (individuals, subjects, civilians, survivors...) cancel an animal match, and a record typed as a trial is never excluded as animal."""
    _assert_gap_outcome(record, expected, ruleset)


CROSSOVER_GAPS = [
    pytest.param(
        _gap(
            "crossover_random_order_retro_registered",
            "Intravenous ketamine for PTSD: a double-blind crossover trial",
            "Adults with chronic PTSD received ketamine and midazolam infusions in random order. The trial was retrospectively registered.",
        ),
        None,
        id="crossover_random_order_retro_registered",
    ),
    pytest.param(
        _gap(
            "randomised_order_registered_retrospectively",
            "Ketamine infusion for PTSD in veterans",
            "Veterans with PTSD received ketamine and saline infusions in a randomised order, two weeks apart. Trial registration: registered retrospectively.",
        ),
        None,
        id="randomised_order_registered_retrospectively",
    ),
    pytest.param(
        _gap(
            "crossover_random_order_open_extension",
            "Intravenous ketamine for PTSD: a double-blind crossover trial",
            "Adults with PTSD received ketamine and midazolam infusions in random order, followed by a non-randomized open-label extension.",
        ),
        None,
        id="crossover_random_order_open_extension",
    ),
    pytest.param(
        # A crossover trial that does not say how the order was set is uncertain: people decide.
        _gap(
            "crossover_open_extension",
            "Intravenous ketamine for PTSD: a double-blind, placebo-controlled cross-over trial",
            "Adults with PTSD received ketamine and midazolam infusions, followed by a non-randomized open-label extension.",
        ),
        None,
        id="crossover_open_extension",
    ),
    pytest.param(
        _gap(
            "randomized_crossover_open_extension",
            "Intravenous ketamine for PTSD: a randomized crossover trial",
            "Adults with PTSD received ketamine and midazolam infusions, followed by a non-randomized open-label extension.",
        ),
        None,
        id="randomized_crossover_open_extension",
    ),
    pytest.param(
        _gap(
            "randomly_allocated",
            "Ketamine infusion for PTSD: a retrospective registration",
            "Adults with PTSD were randomly allocated to intravenous ketamine or midazolam; the trial had retrospective registration.",
        ),
        None,
        id="randomly_allocated",
    ),
    pytest.param(
        # Still excluded: a retrospective design, even when a protocol was registered.
        _gap(
            "retrospective_cohort_registered",
            "Ketamine infusions in veterans with PTSD: a retrospective cohort study",
            "We reviewed veterans with PTSD who received intravenous ketamine; the analysis plan was registered.",
        ),
        ("observational", "observational_design", "retrospective"),
        id="retrospective_cohort_registered",
    ),
    pytest.param(
        _gap(
            "non_random_order",
            "Ketamine infusions for PTSD: a controlled pilot",
            "Adults with PTSD received ketamine or midazolam infusions in a non-random order chosen by the clinician.",
        ),
        ("not_randomized", "not_randomized", "non-random order"),
        id="non_random_order",
    ),
]


@pytest.mark.parametrize(("record", "expected"), CROSSOVER_GAPS)
def test_crossover_trials_are_not_excluded_as_observational_or_not_randomized(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """'In random order' counts as randomization, 'retrospectively registered' is not an observational design, and a crossover trial is not excluded as not randomized for mentioning a non-randomized extension."""
    _assert_gap_outcome(record, expected, ruleset)


def test_random_order_counts_as_randomization_and_registration_is_not_a_design(ruleset: RuleSet) -> None:
    randomization = ruleset.concepts["randomization"]
    for text in ("in random order", "in a randomised order", "in randomized order", "were randomly assigned", "randomly allocated"):
        assert randomization.find(text) is not None, text
    for text in ("in a non-random order", "in non-random order"):
        assert randomization.find(text) is None, text
    observational = ruleset.concepts["observational_design"]
    for text in ("retrospectively registered", "registered retrospectively", "retrospective registration", "retrospectively-registered"):
        assert observational.find(text) is None, text
    for text in ("a retrospective cohort", "retrospectively reviewed charts", "observational"):
        assert observational.find(text) is not None, text


REVIEW_TITLE_GAPS = [
    pytest.param(_gap("rct_and_meta_analysis", "Intravenous ketamine for PTSD: a randomized trial and meta-analysis of prior trials", "Adults with PTSD were randomized to ketamine or midazolam infusion."), None, id="rct_and_meta_analysis"),
    pytest.param(_gap("rct_and_updated_meta_analysis", "Ketamine infusion for PTSD: randomised controlled trial and updated meta-analysis"), None, id="rct_and_updated_meta_analysis"),
    pytest.param(_gap("rct_with_systematic_review", "A double-blind, placebo-controlled randomized trial of intravenous ketamine for PTSD, with a systematic review"), None, id="rct_with_systematic_review"),
    pytest.param(_gap("results_of_an_rct_and_review", "Ketamine for chronic PTSD: results of an RCT and a review of the literature"), None, id="results_of_an_rct_and_review"),
    # A review *of* randomized trials is still a review.
    pytest.param(
        _gap("meta_analysis_of_rcts", "Systematic review and meta-analysis of randomized controlled trials of ketamine in the treatment of refractory anxiety spectrum disorders"),
        ("publication_type", "review_title", "Systematic review"),
        id="meta_analysis_of_rcts",
    ),
    pytest.param(
        _gap("meta_analysis_of_ptsd_rcts", "So how special is special K? A systematic review and meta-analysis of ketamine for PTSD RCTs"),
        ("publication_type", "review_title", "systematic review"),
        id="meta_analysis_of_ptsd_rcts",
    ),
    pytest.param(
        _gap("meta_analysis_of_randomised_trials", "Ketamine for PTSD: a meta-analysis of randomised trials"),
        ("publication_type", "review_title", "meta-analysis"),
        id="meta_analysis_of_randomised_trials",
    ),
    pytest.param(
        _gap("review_of_the_randomized_evidence", "A systematic review of the randomized evidence for ketamine in PTSD and depression"),
        ("publication_type", "review_title", "systematic review"),
        id="review_of_the_randomized_evidence",
    ),
    pytest.param(
        _gap("review_of_non_randomized_trial", "Ketamine infusion for PTSD: a non-randomized trial and a review of the literature"),
        ("publication_type", "review_title", "a review"),
        id="review_of_non_randomized_trial",
    ),
]


@pytest.mark.parametrize(("record", "expected"), REVIEW_TITLE_GAPS)
def test_review_title_rule_spares_a_trial_reported_with_a_review(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """A title that reports its own randomized trial ('a randomized trial and meta-analysis') passes; a review of randomized trials is still excluded."""
    _assert_gap_outcome(record, expected, ruleset)


SMALLER_GAPS = [
    pytest.param(_gap("cptsd", "Ketamine infusion for CPTSD: a randomized trial", "Adults with cPTSD were randomized to intravenous ketamine or midazolam."), None, id="cptsd"),
    pytest.param(_gap("ptss", "Ketamine infusion for PTSS after trauma: a randomized trial", "Adults with PTSS were randomized to intravenous ketamine or midazolam."), None, id="ptss"),
    pytest.param(
        _gap("correction_of_fear_memory", "Correction of fear memory by ketamine infusion in PTSD: a randomized trial", "Adults with PTSD were randomized to intravenous ketamine or midazolam."),
        None,
        id="correction_of_fear_memory",
    ),
    pytest.param(
        _gap("ketanest_s", "Ketanest S infusion for posttraumatic stress disorder: a randomized trial", "Adults with posttraumatic stress disorder were randomized to intravenous Ketanest S or midazolam."),
        None,
        id="ketanest_s",
    ),
    pytest.param(_gap("correction_to", "Correction to: Intravenous ketamine for PTSD: a randomized trial"), ("publication_type", "erratum", "Correction to"), id="correction_to"),
    pytest.param(_gap("correction_colon", "Correction: Intravenous ketamine for PTSD"), ("publication_type", "erratum", "Correction:"), id="correction_colon"),
    pytest.param(_gap("erratum_title", "Erratum: Ketamine infusion for PTSD in veterans"), ("publication_type", "erratum", "Erratum"), id="erratum_title"),
    pytest.param(_gap("corrigendum_title", "Corrigendum to 'Ketamine infusion for PTSD in veterans'"), ("publication_type", "erratum", "Corrigendum"), id="corrigendum_title"),
    pytest.param(
        _gap("depression_only", "Intravenous ketamine for treatment-resistant depression: a randomized trial", "Adults with depression were randomized to ketamine or midazolam infusion."),
        ("not_ptsd", "not_ptsd", "no mention of ptsd"),
        id="depression_only",
    ),
]


@pytest.mark.parametrize(("record", "expected"), SMALLER_GAPS)
def test_ptsd_and_ketamine_spellings_and_erratum_wording(record: Record, expected: tuple[str, str, str] | None, ruleset: RuleSet) -> None:
    """CPTSD/cPTSD and PTSS are PTSD, Ketanest S is ketamine, and only 'Correction to'/'Correction:'/'Erratum'/'Corrigendum' at the start of a title is an erratum."""
    _assert_gap_outcome(record, expected, ruleset)
