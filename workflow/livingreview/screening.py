"""Rule-based eligibility screening: ordered rules as data (config/screening.yaml), explicit evidence only."""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import SCHEMA_DIR, load_yaml, schema_label, validate
from .constants import LIST_SEP
from .errors import ConfigError
from .records import Record

log = logging.getLogger(__name__)

SCREENING_SCHEMA = SCHEMA_DIR / "screening.schema.yaml"

# Reason codes every rule file must define because the pipeline itself uses them (a full text not
# retrieved is its own PRISMA box; "other" catches a person's free-text reason). Every other code
# (the default review's animal, not_ptsd, not_ketamine, ...) belongs to the protocol's rule file.
REASON_CODES: tuple[str, ...] = ("not_retrieved", "other")

# Database-record fields a rule may read (never curation fields).
TEXT_FIELDS: tuple[str, ...] = ("title", "abstract", "keywords", "publication_types", "mesh", "language")
READABLE_FIELDS: tuple[str, ...] = TEXT_FIELDS + ("year",)
ACTION_EXCLUDE = "exclude"

# Single-character dash and space variants folded to ASCII so that offsets do not move.
_CHAR_FOLD = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212\u00ad"} | {"\u00a0": " ", "\u2009": " "})
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def normalise_text(text: str) -> str:
    """Decode HTML entities, drop inline tags (<i>, <sup>) and fold dash/space variants to ASCII.

    Evidence spans are offsets in this normalised text.
    """
    out = html.unescape(text or "")
    out = _TAG_RE.sub("", out)
    out = html.unescape(out)  # doubly escaped text ("&amp;lt;i&amp;gt;")
    return out.translate(_CHAR_FOLD)


@dataclass(frozen=True, slots=True)
class Concept:
    """A named set of regular expressions; a match inside a negation match does not count."""

    name: str
    patterns: tuple[str, ...]
    negations: tuple[str, ...] = ()
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)
    negation_regex: re.Pattern[str] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _word_regex(self.patterns))
        object.__setattr__(self, "negation_regex", _word_regex(self.negations) if self.negations else None)

    def find(self, text: str) -> tuple[int, int, str] | None:
        """First match in ``text`` that is not part of a negated phrase, as (start, end, text)."""
        negated: list[tuple[int, int]] = []
        if self.negation_regex is not None:
            negated = [(m.start(), m.end()) for m in self.negation_regex.finditer(text)]
        for m in self.regex.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in negated):
                continue
            return m.start(), m.end(), m.group(0)
        return None


def _word_regex(patterns: Sequence[str]) -> re.Pattern[str]:
    """Compile patterns as one case-insensitive alternation with word boundaries on both sides."""
    body = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    """One ordered eligibility rule: when ``condition`` holds, ``action`` (exclude) with ``reason``."""

    id: str
    label: str
    reason: str
    fields: tuple[str, ...]
    condition: Mapping[str, Any]
    action: str = ACTION_EXCLUDE
    description: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Validated rules (in order), reason code -> PRISMA label, and the named concepts rules use."""

    rules: list[Rule]
    reasons: dict[str, str]
    concepts: dict[str, Concept]
    path: str = ""


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired on a record, with its evidence."""

    rule_id: str
    reason: str
    label: str
    evidence: str


@dataclass(frozen=True, slots=True)
class ScreenResult:
    """Outcome of the automation stage for one record: the first firing rule decides; ``hits`` lists all."""

    record_id: str
    excluded: bool
    rule_id: str
    reason: str
    label: str
    evidence: str
    hits: tuple[RuleHit, ...] = ()


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def _rule_lines(text: str) -> list[int]:
    """1-based line of each item of the top-level ``rules:`` sequence (empty if not found)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _concept_lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based lines inside the top-level ``concepts:`` mapping.

    Keys: ``(name,)`` for a concept, ``(name, "patterns", i)`` / ``(name, "negations", i)`` (``i`` as str)
    for its i-th pattern or negation. Empty if the file does not compose.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if getattr(key, "value", None) != "concepts" or not isinstance(value, yaml.MappingNode):
            continue
        for ckey, cvalue in value.value:
            name = str(getattr(ckey, "value", ""))
            out[(name,)] = ckey.start_mark.line + 1
            if not isinstance(cvalue, yaml.MappingNode):
                continue
            for lkey, lvalue in cvalue.value:
                kind = getattr(lkey, "value", None)
                if kind in ("patterns", "negations") and isinstance(lvalue, yaml.SequenceNode):
                    for i, item in enumerate(lvalue.value):
                        out[(name, kind, str(i))] = item.start_mark.line + 1
    return out


def _check_regexes(owner: str, patterns: Sequence[str], negations: Sequence[str], where: Callable[[str, int], str]) -> None:
    """Compile every pattern and every negation on its own, then each list as the alternation used to match.

    Compiling only the joined alternation is not enough: a typo such as ``randomi[sz(ed`` opens a
    character class that swallows the following alternatives and the whole still compiles, silently
    changing what is matched. ``owner`` is "concept 'x'" or "rule 'y'"; ``where(kind, index)`` is the
    ``file:line`` of one item of ``kind`` ("patterns" or "negations").
    """
    for kind, items in (("patterns", patterns), ("negations", negations)):
        noun = kind[:-1]
        for i, pattern in enumerate(items):
            try:
                re.compile(pattern)
                _word_regex((pattern,))
            except re.error as err:
                raise ConfigError(
                    f"{owner}: {noun} {pattern!r} does not compile ({err})",
                    where=where(kind, i),
                    fix=f"correct this {noun} (Python re syntax: close every [ and (, and escape a literal [ ] ( ) ? + * with a backslash)",
                ) from None
        if items:
            try:
                _word_regex(items)
            except re.error as err:
                raise ConfigError(
                    f"{owner}: its {kind} compile one by one but not joined with | ({err})",
                    where=where(kind, 0),
                    fix="use non-capturing groups (?:...) and no named groups, backreferences or inline flags (matching is already case-insensitive)",
                ) from None


def _where(path: str, lines: list[int], index: int | None) -> str:
    """``file:line`` of rule ``index`` (or the file alone)."""
    if index is not None and index < len(lines):
        return f"{path}:{lines[index]}"
    return path


def _walk(condition: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Yield every (primitive name, argument) of a condition tree, combinators included."""
    for name, arg in condition.items():
        yield name, arg
        if name in ("all_of", "any_of", "none_of"):
            for sub in arg:
                yield from _walk(sub)


def _fields_read(name: str, arg: Any) -> set[str]:
    """Record fields one primitive reads."""
    if name in ("text", "lacks"):
        return set(arg["fields"])
    if name == "present":
        return set(arg)
    if name in ("publication_type", "mesh", "language", "year"):
        return {"publication_types" if name == "publication_type" else name}
    return set()


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Load ``config/screening.yaml``, validate it against the schema and compile its regular expressions.

    Errors (ConfigError) name the file, the line of the rule and its id, and say how to fix it:
    schema violations, duplicate rule ids, reasons missing from ``reasons:``, unknown concepts,
    fields read by a condition but not declared in ``fields:``, and regular expressions that do not compile
    (every concept or inline pattern and negation is compiled on its own, naming the concept or rule and the
    pattern, and ``file:line`` of a concept's pattern).
    """
    p = Path(path)
    where_file = str(path)
    data = load_yaml(p)
    text = p.read_text(encoding="utf-8")
    lines = _rule_lines(text)
    if not isinstance(data, dict):
        raise ConfigError("the rule file must be a mapping with reasons:, concepts: and rules:", where=where_file, fix="start from config/screening.yaml")
    schema = load_yaml(SCREENING_SCHEMA)
    try:
        validate(data, schema, where=where_file, schema_file=schema_label(SCREENING_SCHEMA))
    except ConfigError as err:
        index = _rule_index_from_message(err.what)
        if index is not None:
            rule = data.get("rules", [])[index] if index < len(data.get("rules", [])) else {}
            rid = rule.get("id", "?") if isinstance(rule, dict) else "?"
            raise ConfigError(f"rule '{rid}': {err.what}", where=_where(where_file, lines, index), fix=f"see {schema_label(SCREENING_SCHEMA)} for the allowed keys") from None
        raise ConfigError(err.what, where=err.where or where_file, fix=f"see {schema_label(SCREENING_SCHEMA)} for the allowed keys") from None

    reasons = {str(k): str(v) for k, v in data["reasons"].items()}
    missing = [c for c in REASON_CODES if c not in reasons]
    if missing:
        line = next((i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("reasons:")), 0)
        raise ConfigError(f"reasons: lacks the code(s) {', '.join(missing)}", where=f"{where_file}:{line}" if line else where_file,
                          fix="add each code with its PRISMA label (the pipeline needs not_retrieved and other)")

    concept_lines = _concept_lines(text)

    def concept_where(name: str) -> Callable[[str, int], str]:
        def where(kind: str, index: int) -> str:
            line = concept_lines.get((name, kind, str(index))) or concept_lines.get((name,))
            return f"{where_file}:{line}" if line else where_file

        return where

    concepts: dict[str, Concept] = {}
    for name, spec in data.get("concepts", {}).items():
        _check_regexes(f"concept '{name}'", spec["patterns"], spec.get("negations", ()), concept_where(name))
        concepts[name] = Concept(name=name, patterns=tuple(spec["patterns"]), negations=tuple(spec.get("negations", ())))

    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["rules"]):
        where = _where(where_file, lines, index)
        rid = raw["id"]
        if rid in seen:
            raise ConfigError(f"rule '{rid}' is defined twice", where=where, fix="give every rule a unique id")
        seen.add(rid)
        if raw["reason"] not in reasons:
            raise ConfigError(f"rule '{rid}': reason '{raw['reason']}' is not in reasons:", where=where, fix=f"use one of {', '.join(sorted(reasons))}")
        declared = set(raw["fields"])
        for name, arg in _walk(raw["condition"]):
            if name in ("text", "lacks"):
                if "concept" in arg and arg["concept"] not in concepts:
                    raise ConfigError(f"rule '{rid}': unknown concept '{arg['concept']}'", where=where, fix=f"define it under concepts: or use one of {', '.join(sorted(concepts))}")
                if "concept" in arg and "negations" in arg:
                    raise ConfigError(
                        f"rule '{rid}': negations: next to concept: '{arg['concept']}' would be ignored",
                        where=where,
                        fix=f"move the negations to concepts: {arg['concept']}: negations:, or use patterns: instead of concept:",
                    )
                _check_regexes(f"rule '{rid}'", arg.get("patterns", ()), arg.get("negations", ()), lambda _kind, _i, where=where: where)
            undeclared = _fields_read(name, arg) - declared
            if undeclared:
                raise ConfigError(f"rule '{rid}': condition reads {', '.join(sorted(undeclared))} but fields: does not list it", where=where, fix="add the field(s) to the rule's fields: list")
        rules.append(
            Rule(
                id=rid,
                label=raw["label"],
                reason=raw["reason"],
                fields=tuple(raw["fields"]),
                condition=raw["condition"],
                action=raw.get("action", ACTION_EXCLUDE),
                description=raw.get("description", ""),
                line=lines[index] if index < len(lines) else 0,
            )
        )
    log.info("loaded %d screening rules from %s", len(rules), where_file)
    return RuleSet(rules=rules, reasons=reasons, concepts=concepts, path=where_file)


def _rule_index_from_message(message: str) -> int | None:
    """Index of the rule a schema error points at ("key 'rules/3/...'"), if any."""
    m = re.search(r"key 'rules/(\d+)", message)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


class _View:
    """The database-record fields rules read, normalised once per record."""

    def __init__(self, record: Record) -> None:
        self.text: dict[str, str] = {
            "title": normalise_text(record.title),
            "abstract": normalise_text(record.abstract),
            "keywords": normalise_text(LIST_SEP.join(record.keywords)),
            "publication_types": normalise_text(LIST_SEP.join(record.publication_types)),
            "mesh": normalise_text(LIST_SEP.join(record.mesh)),
            "language": (record.language or "").strip(),
        }
        self.publication_types = tuple(normalise_text(x).strip() for x in record.publication_types)
        self.mesh = tuple(normalise_text(x).strip() for x in record.mesh)
        m = re.search(r"\d{4}", record.year or "")
        self.year = int(m.group(0)) if m else None


def _list_span(items: tuple[str, ...], index: int) -> tuple[int, int]:
    """Span of ``items[index]`` inside ``LIST_SEP.join(items)``."""
    start = sum(len(x) + len(LIST_SEP) for x in items[:index])
    return start, start + len(items[index])


def _mesh_heading(term: str) -> str:
    """A MeSH entry reduced to its heading: no '*', no '/subheading', lower case."""
    return term.split("/")[0].replace("*", "").strip().lower()


def _concept_for(arg: Mapping[str, Any], ruleset: RuleSet) -> Concept:
    """The concept a text/lacks primitive names, or an ad-hoc one built from its patterns."""
    if "concept" in arg:
        return ruleset.concepts[arg["concept"]]
    return Concept(name="patterns", patterns=tuple(arg["patterns"]), negations=tuple(arg.get("negations", ())))


def _eval(cond: Mapping[str, Any], view: _View, ruleset: RuleSet) -> tuple[bool, list[str]]:
    """Evaluate a condition mapping (all its keys must hold); return (holds, evidence pieces)."""
    evidence: list[str] = []
    for name, arg in cond.items():
        ok, ev = _eval_one(name, arg, view, ruleset)
        if not ok:
            return False, []
        evidence.extend(ev)
    return True, evidence


def _eval_one(name: str, arg: Any, view: _View, ruleset: RuleSet) -> tuple[bool, list[str]]:
    """Evaluate one primitive or combinator."""
    if name == "all_of":
        pieces: list[str] = []
        for sub in arg:
            ok, ev = _eval(sub, view, ruleset)
            if not ok:
                return False, []
            pieces.extend(ev)
        return True, pieces
    if name == "any_of":
        for sub in arg:
            ok, ev = _eval(sub, view, ruleset)
            if ok:
                return True, ev
        return False, []
    if name == "none_of":
        for sub in arg:
            ok, _ = _eval(sub, view, ruleset)
            if ok:
                return False, []
        return True, []
    if name == "text":
        concept = _concept_for(arg, ruleset)
        for fname in arg["fields"]:
            found = concept.find(view.text[fname])
            if found:
                s, e, matched = found
                return True, [f"{fname}[{s}:{e}]: {matched}"]
        return False, []
    if name == "lacks":
        concept = _concept_for(arg, ruleset)
        if any(concept.find(view.text[f]) for f in arg["fields"]):
            return False, []
        return True, [f"{'+'.join(arg['fields'])}: no mention of {arg.get('concept', 'the required terms')}"]
    if name == "present":
        return all(view.text[f].strip() if f != "year" else view.year is not None for f in arg), []
    if name == "publication_type":
        wanted = {x.lower() for x in arg.get("in", ())}
        for i, pt in enumerate(view.publication_types):
            if pt.lower() in wanted:
                s, e = _list_span(view.publication_types, i)
                return True, [f"publication_types[{s}:{e}]: {pt}"]
        return False, []
    if name == "mesh":
        headings = [_mesh_heading(x) for x in view.mesh]
        if "present" in arg:
            for term in arg["present"]:
                if term.lower() in headings:
                    i = headings.index(term.lower())
                    s, e = _list_span(view.mesh, i)
                    return True, [f"mesh[{s}:{e}]: {view.mesh[i]}"]
            return False, []
        if any(term.lower() in headings for term in arg["absent"]):
            return False, []
        return True, []
    if name == "language":
        lang = view.text["language"].lower()
        if "in" in arg:
            ok = lang in {x.lower() for x in arg["in"]}
        else:
            ok = lang not in {x.lower() for x in arg["not_in"]}
        return ok, ([f"language[0:{len(lang)}]: {view.text['language']}"] if ok and lang else [])
    if name == "year":
        if view.year is None:
            return False, []
        ok = arg.get("from", view.year) <= view.year <= arg.get("to", view.year)
        return ok, ([f"year: {view.year}"] if ok else [])
    raise ConfigError(f"unknown condition primitive '{name}'", where=ruleset.path, fix=f"use a primitive listed in {schema_label(SCREENING_SCHEMA)}")


def evaluate_rule(rule: Rule, record: Record, ruleset: RuleSet) -> RuleHit | None:
    """Return a RuleHit when ``rule`` fires on ``record`` (its evidence joined by ' | '), else None."""
    ok, evidence = _eval(rule.condition, _View(record), ruleset)
    if not ok:
        return None
    return RuleHit(rule_id=rule.id, reason=rule.reason, label=ruleset.reasons[rule.reason], evidence=" | ".join(evidence))


def screen_record(record: Record, ruleset: RuleSet) -> ScreenResult:
    """Apply every rule in order to one database record.

    The first firing rule decides (``excluded``, ``rule_id``, ``reason`` code, PRISMA ``label`` and
    ``evidence`` as "field[start:end]: matched text", spans in the normalised field text);
    ``hits`` lists every rule that fires, in rule order, for rule-performance reporting. A record
    no rule fires on passes to people (``excluded`` False, empty rule_id/reason/label/evidence).
    """
    view = _View(record)
    hits: list[RuleHit] = []
    for rule in ruleset.rules:
        ok, evidence = _eval(rule.condition, view, ruleset)
        if ok and rule.action == ACTION_EXCLUDE:
            hits.append(RuleHit(rule_id=rule.id, reason=rule.reason, label=ruleset.reasons[rule.reason], evidence=" | ".join(evidence)))
    if not hits:
        return ScreenResult(record_id=record.record_id, excluded=False, rule_id="", reason="", label="", evidence="", hits=())
    first = hits[0]
    return ScreenResult(
        record_id=record.record_id,
        excluded=True,
        rule_id=first.rule_id,
        reason=first.reason,
        label=first.label,
        evidence=first.evidence,
        hits=tuple(hits),
    )


def screen_records(records: Iterable[Record], ruleset: RuleSet) -> list[ScreenResult]:
    """Screen many records (same order as given)."""
    return [screen_record(r, ruleset) for r in records]
