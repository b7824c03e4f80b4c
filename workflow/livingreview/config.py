"""Load the protocol config and validate it (with schema defaults) before anything runs."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError, LivingReviewError
from .tables import not_utf8_error

PACKAGE_DIR = Path(__file__).resolve().parent
WORKFLOW_DIR = PACKAGE_DIR.parent
SCHEMA_DIR = WORKFLOW_DIR / "schemas"
TEMPLATE_DIR = WORKFLOW_DIR / "templates"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"
PROJECT_DIR = WORKFLOW_DIR.parent


def schema_label(path: str | os.PathLike[str]) -> str:
    """A schema file as messages name it: its path in the livingreview project
    (workflow/schemas/studies.schema.yaml), the same whichever folder the review is run from (a review
    in another folder finds it beside the Snakefile it runs, README "Starting another review");
    a schema outside the project by the path given."""
    try:
        return Path(path).resolve().relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)


def _extend_with_default(validator_class: type[jsonschema.protocols.Validator]) -> type[jsonschema.protocols.Validator]:
    """A jsonschema validator that fills in ``default`` values while validating."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: jsonschema.protocols.Validator, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[jsonschema.ValidationError]:
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


@functools.lru_cache(maxsize=None)
def whole_value_pattern(pattern: str) -> str:
    r"""``pattern`` with each ``$`` that is an anchor (not escaped, not inside a character class)
    written ``\Z``: in Python's re, ``$`` also matches just before a final newline, so "2025-01-01\n"
    would pass ``^[0-9]{4}-[0-9]{2}-[0-9]{2}$``; in JSON Schema's ECMA-262 patterns it matches only
    at the end of the value, which ``\Z`` is in Python."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            # a "]" first in the class (after an optional "^") is a literal, not its end
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        elif ch == "$":
            ch = "\\Z"
        out.append(ch)
        i += 1
    return "".join(out)


def _whole_value(validator: jsonschema.protocols.Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[jsonschema.ValidationError]:
    """The ``pattern`` keyword with ``$`` read as JSON Schema reads it (:func:`whole_value_pattern`)."""
    if validator.is_type(instance, "string") and not re.search(whole_value_pattern(pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# The validator of every schema of the project (config, screening rules, the human-edited tables).
SchemaValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _whole_value})


def schema_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for ``schema`` (draft 2020-12) whose patterns match the whole value (no trailing newline)."""
    return SchemaValidator(schema)


DefaultFillingValidator = _extend_with_default(SchemaValidator)


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping repeats a key (plain YAML keeps the last value and silently drops the others)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (e.g. two concepts or two ``synthesis:`` blocks)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if seen is not None:
                raise _DuplicateKey(problem=f"key '{key}' appears twice in one mapping (first on line {seen})", problem_mark=key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def utf8_text(path: str | os.PathLike[str], *, error: type[LivingReviewError] = ConfigError) -> str:
    """The text of ``path`` decoded as UTF-8; a byte that is not UTF-8 (a file saved as latin-1 or
    cp1252 by a spreadsheet or editor) raises ``error`` naming file:line, the byte and its column,
    instead of a UnicodeDecodeError traceback."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8_error(path, error) from None


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file; a syntax error, a key repeated in one mapping or a byte that is not UTF-8 names the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("file not found", where=str(p), fix="create it or pass the right path with --config")
    text = utf8_text(p)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except _DuplicateKey as err:
        mark = err.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(str(err.problem), where=f"{p}{line}", fix="keep one entry under that key (YAML would silently keep only the last one)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"YAML syntax error ({getattr(err, 'problem', err)})", where=f"{p}{line}", fix="correct the YAML syntax") from None


def first_schema_error(validator: jsonschema.protocols.Validator, instance: Any) -> jsonschema.ValidationError | None:
    """The error to report for ``instance``: the first in path order (the same one on every run), or None if valid."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(x) for x in e.absolute_path])
    return errors[0] if errors else None


def schema_message(err: jsonschema.ValidationError) -> str:
    """A schema error in words for people: a value not of a column's form is named with what the
    column takes (its description), not the regular expression jsonschema quotes."""
    if err.validator == "pattern":
        description = err.schema.get("description", "") if isinstance(err.schema, dict) else ""
        return f"{err.instance!r} is not in the form this takes" + (f": {description}" if description else f" (pattern {err.validator_value})")
    return err.message


def error_path(err: jsonschema.ValidationError, *, empty: str) -> str:
    """Where in the instance an error is, as "key/sub/0"; ``empty`` when it concerns the whole instance."""
    return "/".join(str(x) for x in err.absolute_path) or empty


def validate(instance: Any, schema: dict[str, Any], *, where: str | ConfigSources, schema_file: str | None = None) -> Any:
    """Validate ``instance`` against ``schema`` (filling defaults in place); raise ConfigError on the first
    error, naming where the value came from (``where``: the YAML file the instance came from, or the
    ConfigSources of a config Snakemake assembled) with its line, and the schema file (``schema_file``,
    a path to show people) in the fix."""
    validator = DefaultFillingValidator(schema)
    err = first_schema_error(validator, instance)
    if err is not None:
        key = error_path(err, empty="(top level)")
        keys = _error_keys(err)
        sources = ConfigSources.of(where)
        see = f"see {schema_file or 'the schema'} and config/README.md for what is allowed"
        raise ConfigError(
            f"key '{key}': {schema_message(err)}",
            where=sources.at(keys),
            fix=sources.override_fix(keys, err, see=see) if sources.from_override(keys) else see,
        )
    return instance


def _error_keys(err: jsonschema.ValidationError) -> tuple[Any, ...]:
    """The config path a schema error is about: the first unexpected key of an additionalProperties
    error, else the error's path."""
    keys = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {})) if isinstance(err.schema, dict) else set()
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            return (*keys, extra[0])
    return keys


# Schema types Snakemake's --config cannot give below the top level (it reads nested values as text).
_NOT_TEXT = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}


@dataclass(frozen=True)
class ConfigSources:
    """Where the values of the config Snakemake assembled came from, to name in messages.

    Snakemake (9.x) starts from the workflow's ``configfile:`` (config/config.yaml), updates it with
    each ``--configfile`` in the order given, then with the ``--config`` values (nested mappings are
    merged key by key; anything else, lists included, replaces what was there). ``files`` are in that
    order (lowest precedence first); ``overrides`` is the ``--config`` mapping
    (``workflow.config_settings.config``). ``--config KEY=VALUE`` reads VALUE as int, float, True or
    False where it can, else with YAML's BaseLoader, which keeps every value inside ``KEY={...}`` or
    ``KEY=[...]`` as text: ``scale={shard_size: 10}`` arrives as ``{'shard_size': '10'}``."""

    files: tuple[str, ...] = ("config/config.yaml",)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, where: str | ConfigSources) -> ConfigSources:
        """``where`` as ConfigSources (a path: the one file the config came from)."""
        return where if isinstance(where, ConfigSources) else cls(files=(where,))

    @property
    def label(self) -> str:
        """The config files joined (for a value none of them holds, e.g. a schema default)."""
        return " + ".join(self.files) or "--config"

    def from_override(self, keys: tuple[Any, ...]) -> bool:
        """Whether the value at ``keys`` was given with ``--config``."""
        return bool(keys) and _supplies(self.overrides, keys)

    def file_of(self, keys: tuple[Any, ...]) -> str | None:
        """The config file the value at ``keys`` came from (the last one that sets it), if any."""
        if not keys or self.from_override(keys):
            return None
        return next((f for f in reversed(self.files) if _file_supplies(f, keys)), None)

    def at(self, keys: tuple[Any, ...], *, expected: Any = None) -> str:
        """Where the value at ``keys`` came from, for a message: ``--config KEY`` (the command-line
        entry that gave it), ``FILE:LINE`` of its key (or list item) in the config file that set it
        (with ``expected``: only if that file holds this scalar there), else the file or the label."""
        if self.from_override(keys):
            return f"--config {keys[0]}"
        path = self.file_of(keys)
        if path is None:
            return self.label
        line = _node_line(path, keys, expected) if expected is not None else _key_line(path, keys[:-1], keys[-1])
        return f"{path}:{line}" if line else path

    def override_fix(self, keys: tuple[Any, ...], err: jsonschema.ValidationError, *, see: str) -> str:
        """The fix for a schema error in a value given with ``--config`` (``keys``)."""
        dotted = ".".join(str(k) for k in keys)
        expected = err.validator_value if err.validator == "type" else None
        kinds = [_NOT_TEXT[t] for t in ([expected] if isinstance(expected, str) else expected or []) if t in _NOT_TEXT]
        if len(keys) > 1 and isinstance(err.instance, str) and kinds:
            in_file = next((f"{f}:{line}" for f in reversed(self.files) if (line := _key_line(f, keys[:-1], keys[-1]))), None)
            example = ""
            fits, value = _as_yaml_value(err.instance, err.schema)
            if fits and not any(isinstance(k, int) for k in keys):
                for k in reversed(keys):
                    value = {k: value}
                example = f" (e.g. {yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()})"
            return (
                f"Snakemake passes every value inside --config {keys[0]}={{...}} as text, so {dotted} cannot be given "
                f"as {' or '.join(kinds)} that way: set it in {in_file or 'config/config.yaml'}, or in a YAML file passed with --configfile{example}"
            )
        return f"correct or leave out --config {keys[0]}=...; {see}"


def _as_yaml_value(text: str, schema: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` written in a YAML file would be ``value``, valid for ``schema``; else ``(False, None)``."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return False, None
    return (True, value) if isinstance(schema, dict) and schema_validator(schema).is_valid(value) else (False, None)


def _supplies(tree: Any, keys: tuple[Any, ...]) -> bool:
    """Whether the mapping ``tree`` (--config) sets the value at ``keys``: it holds the whole path, or
    a value at a prefix of it that is not a mapping (which replaces everything below)."""
    node = tree
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
        if not isinstance(node, Mapping):
            return True
    return True


def _file_supplies(path: str, keys: tuple[Any, ...]) -> bool:
    """``_supplies`` for the YAML file ``path`` (False when it cannot be read)."""
    try:
        node: Any = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return False
        node = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
        if node is None:
            return False
        if not isinstance(node, yaml.MappingNode):
            return True
    return True


def _yaml_node(path: str, keys: tuple[Any, ...]) -> Any:
    """The YAML node at ``keys`` (mapping keys and list indexes) in the file ``path``; None when the
    file cannot be read or does not hold that path."""
    try:
        node: Any = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
    return node


def _key_line(path: str, parents: tuple[Any, ...], last: Any) -> int | None:
    """1-based line of mapping key (or list item) ``last`` under ``parents`` in the YAML file ``path``."""
    node = _yaml_node(path, parents)
    if isinstance(node, yaml.MappingNode):
        found = next((k for k, _v in node.value if getattr(k, "value", None) == str(last)), None)
        return found.start_mark.line + 1 if found is not None else None
    if isinstance(node, yaml.SequenceNode) and isinstance(last, int) and last < len(node.value):
        return node.value[last].start_mark.line + 1
    return None


# Lists of the config whose entries are told apart by one key: (list path, key, what a duplicate does, fix).
UNIQUE_KEYS: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (
        ("synthesis", "analyses"),
        "id",
        "one analysis would be dropped and the other shown twice (results/synthesis/<id>.json is per id)",
        "give every analysis its own id (lower case, digits and _), or delete the repeated entry",
    ),
    (
        ("searches", "sources"),
        "database",
        "record ids, PRISMA source kinds and labels and the live PubMed strategy are keyed by database, so one entry would be ignored",
        "list each database once (put all of its search strategy in that one entry)",
    ),
)


def _node_line(path: str, keys: tuple[Any, ...], expected: Any) -> int | None:
    """1-based line of ``keys`` (mapping keys and list indexes) in the YAML file ``path`` if it holds ``expected`` there."""
    node = _yaml_node(path, keys)
    if not isinstance(node, yaml.ScalarNode) or node.value != str(expected):
        return None  # the dict did not come from this file (e.g. snakemake --configfile elsewhere)
    return node.start_mark.line + 1


def check_unique_keys(config: dict[str, Any], *, where: str | ConfigSources = "config/config.yaml") -> None:
    """Refuse two entries with the same id in the lists of UNIQUE_KEYS (schema validation cannot say this)."""
    for list_path, key, effect, fix in UNIQUE_KEYS:
        entries: Any = config
        for part in list_path:
            entries = entries.get(part) if isinstance(entries, dict) else None
        if not isinstance(entries, list):
            continue
        first: dict[Any, int] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or key not in entry:
                continue
            value = entry[key]
            if value in first:
                dotted = ".".join(list_path)
                raise ConfigError(
                    f"{dotted}[].{key} '{value}' is used twice (entries {first[value] + 1} and {index + 1} of {dotted}): {effect}",
                    where=ConfigSources.of(where).at((*list_path, index, key), expected=value),
                    fix=fix,
                )
            first[value] = index


def _calendar_date(text: str) -> dt.date | None:
    """``YYYY/MM/DD`` (NCBI's date form, as searches.date_from/date_to are written) as a date; None otherwise."""
    parts = text.split("/")
    if len(parts) != 3 or [len(p) for p in parts] != [4, 2, 2] or not all(p.isdigit() for p in parts):
        return None
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def check_ranges(config: dict[str, Any], *, where: str | ConfigSources = "config/config.yaml") -> None:
    """What the schema cannot say: searches.date_from/date_to are calendar dates (date_from may be
    'inception') in order, and every analysis's timepoint_days window has min <= max (a reversed
    window silently selected no study: k = 0 and nothing pooled)."""

    def at(keys: tuple[Any, ...], last: Any) -> str:
        return ConfigSources.of(where).at((*keys, last))

    searches = config.get("searches") or {}
    dates: dict[str, dt.date] = {}
    for key in ("date_from", "date_to"):
        text = searches.get(key)
        if text is None or (key == "date_from" and text == "inception"):
            continue
        day = _calendar_date(str(text))
        if day is None:
            raise ConfigError(
                f"searches.{key} {text!r} is not a calendar date in YYYY/MM/DD form" + (" (or 'inception')" if key == "date_from" else ""),
                where=at(("searches",), key),
                fix="write it like 2025/09/30" + (", or inception" if key == "date_from" else ""),
            )
        dates[key] = day
    if len(dates) == 2 and dates["date_from"] > dates["date_to"]:
        raise ConfigError(
            f"searches.date_from {searches['date_from']} is after searches.date_to {searches['date_to']}",
            where=at(("searches",), "date_from"),
            fix="give the date limits the search used, the start first",
        )
    for index, analysis in enumerate((config.get("synthesis") or {}).get("analyses") or []):
        window = analysis.get("timepoint_days") if isinstance(analysis, dict) else None
        if isinstance(window, dict) and "min" in window and "max" in window and window["min"] > window["max"]:
            raise ConfigError(
                f"analysis '{analysis.get('id')}': timepoint_days min {window['min']} is greater than max {window['max']}, so no outcome could be selected",
                where=at(("synthesis", "analyses", index, "timepoint_days"), "min"),
                fix="give the window as {min: first day, max: last day}",
            )


def primary_analysis(synthesis: Mapping[str, Any], *, where: str | ConfigSources = "config/config.yaml synthesis.analyses") -> dict[str, Any] | None:
    """The analysis marked ``primary: true`` under synthesis.analyses (None when none is marked).

    The report leads with it; its JSON (results/synthesis/<id>.json) also says ``"primary": true``.
    More than one primary analysis is a ConfigError naming them; ``where`` is the text to name, or
    the ConfigSources of the config (validate_config, before any job runs), which names the file and
    line of the second ``primary: true``.
    """
    analyses = synthesis.get("analyses") or []
    marked = [i for i, a in enumerate(analyses) if a.get("primary")]
    if len(marked) > 1:
        raise ConfigError(
            f"{len(marked)} analyses are marked primary ({', '.join(analyses[i]['id'] for i in marked)})",
            where=where.at(("synthesis", "analyses", marked[1], "primary")) if isinstance(where, ConfigSources) else where,
            fix="set primary: true on one analysis only",
        )
    return analyses[marked[0]] if marked else None


def validate_config(config: dict[str, Any], *, where: str | ConfigSources = "config/config.yaml", schema_path: Path = CONFIG_SCHEMA) -> dict[str, Any]:
    """Validate a loaded config dict in place against the config schema (unique ids, date and
    timepoint ranges, at most one primary analysis) and return it. ``where``: the file it came from, or the ConfigSources of a
    config Snakemake assembled (messages name the file and line, or the --config entry, of a value)."""
    schema = load_yaml(schema_path)
    validate(config, schema, where=where, schema_file=schema_label(schema_path))
    check_unique_keys(config, where=where)
    check_ranges(config, where=where)
    primary_analysis(config.get("synthesis") or {}, where=ConfigSources.of(where))
    return config


def load_config(path: str | os.PathLike[str] = "config/config.yaml") -> dict[str, Any]:
    """Load and validate the config file."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys", where=str(path), fix="start from config/config.yaml")
    return validate_config(data, where=str(path))
