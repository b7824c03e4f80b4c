"""Load the protocol config and validate it (with schema defaults) before anything runs."""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Iterator
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


DefaultFillingValidator = _extend_with_default(jsonschema.Draft202012Validator)


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


def validate(instance: Any, schema: dict[str, Any], *, where: str, schema_file: str | None = None) -> Any:
    """Validate ``instance`` against ``schema`` (filling defaults in place); raise ConfigError on the first
    error, naming the file line when ``where`` is the YAML file the instance came from and the
    schema file (``schema_file``, a path to show people) in the fix."""
    validator = DefaultFillingValidator(schema)
    err = first_schema_error(validator, instance)
    if err is not None:
        key = error_path(err, empty="(top level)")
        line = _error_line(where, err)
        raise ConfigError(
            f"key '{key}': {schema_message(err)}",
            where=f"{where}:{line}" if line else where,
            fix=f"see {schema_file or 'the schema'} and config/README.md for what is allowed",
        )
    return instance


def _error_line(path: str, err: jsonschema.ValidationError) -> int | None:
    """1-based line in the YAML file ``path`` of what a schema error is about: the first unexpected
    key of an additionalProperties error, else the value at the error's path (None when the file
    does not hold it, e.g. a config given by --configfile elsewhere)."""
    keys = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {})) if isinstance(err.schema, dict) else set()
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            return _key_line(path, keys, extra[0])
    if keys:
        return _key_line(path, keys[:-1], keys[-1])
    return None


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


def check_unique_keys(config: dict[str, Any], *, where: str = "config/config.yaml") -> None:
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
                line = _node_line(where, (*list_path, index, key), value)
                raise ConfigError(
                    f"{dotted}[].{key} '{value}' is used twice (entries {first[value] + 1} and {index + 1} of {dotted}): {effect}",
                    where=f"{where}:{line}" if line else where,
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


def check_ranges(config: dict[str, Any], *, where: str = "config/config.yaml") -> None:
    """What the schema cannot say: searches.date_from/date_to are calendar dates (date_from may be
    'inception') in order, and every analysis's timepoint_days window has min <= max (a reversed
    window silently selected no study: k = 0 and nothing pooled)."""

    def at(keys: tuple[Any, ...], last: Any) -> str:
        line = _key_line(where, keys, last)
        return f"{where}:{line}" if line else where

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


def validate_config(config: dict[str, Any], *, where: str = "config/config.yaml", schema_path: Path = CONFIG_SCHEMA) -> dict[str, Any]:
    """Validate a loaded config dict in place against the config schema (unique ids, date and
    timepoint ranges) and return it."""
    schema = load_yaml(schema_path)
    validate(config, schema, where=where, schema_file=f"workflow/schemas/{schema_path.name}")
    check_unique_keys(config, where=where)
    check_ranges(config, where=where)
    return config


def load_config(path: str | os.PathLike[str] = "config/config.yaml") -> dict[str, Any]:
    """Load and validate the config file."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys", where=str(path), fix="start from config/config.yaml")
    return validate_config(data, where=str(path))
