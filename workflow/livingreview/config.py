"""Load the protocol config and validate it (with schema defaults) before anything runs."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError

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


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file; a syntax error names the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("file not found", where=str(p), fix="create it or pass the right path with --config")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"YAML syntax error ({getattr(err, 'problem', err)})", where=f"{p}{line}", fix="correct the YAML syntax") from None


def first_schema_error(validator: jsonschema.protocols.Validator, instance: Any) -> jsonschema.ValidationError | None:
    """The error to report for ``instance``: the first in path order (the same one on every run), or None if valid."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(x) for x in e.absolute_path])
    return errors[0] if errors else None


def error_path(err: jsonschema.ValidationError, *, empty: str) -> str:
    """Where in the instance an error is, as "key/sub/0"; ``empty`` when it concerns the whole instance."""
    return "/".join(str(x) for x in err.absolute_path) or empty


def validate(instance: Any, schema: dict[str, Any], *, where: str) -> Any:
    """Validate ``instance`` against ``schema`` (filling defaults in place); raise ConfigError on the first error."""
    validator = DefaultFillingValidator(schema)
    err = first_schema_error(validator, instance)
    if err is not None:
        key = error_path(err, empty="(top level)")
        raise ConfigError(
            f"key '{key}': {err.message}",
            where=where,
            fix=f"see {CONFIG_SCHEMA.name if 'config' in where else 'the schema'} and config/README.md for what is allowed",
        )
    return instance


def validate_config(config: dict[str, Any], *, where: str = "config/config.yaml", schema_path: Path = CONFIG_SCHEMA) -> dict[str, Any]:
    """Validate a loaded config dict in place against the config schema and return it."""
    schema = load_yaml(schema_path)
    return validate(config, schema, where=where)


def load_config(path: str | os.PathLike[str] = "config/config.yaml") -> dict[str, Any]:
    """Load and validate the config file."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys", where=str(path), fix="start from config/config.yaml")
    return validate_config(data, where=str(path))
