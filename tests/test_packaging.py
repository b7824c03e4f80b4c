"""The packaging contract: environment.yml lists the same runtime packages as pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_runtime_packages_as_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {_name(r) for r in pyproject["project"]["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    test_only = {_name(r) for r in pyproject["project"]["optional-dependencies"]["test"]}
    conda -= {"python", "pip"} | test_only
    assert runtime == conda, f"only in pyproject: {sorted(runtime - conda)}; only in environment.yml: {sorted(conda - runtime)}"


def test_test_extra_is_in_environment_yml() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert {_name(r) for r in pyproject["project"]["optional-dependencies"]["test"]} <= conda


def test_console_script_lists_every_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "livingreview.cli", "--help"], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    for command in ("search", "add-run", "import", "dedup", "screen", "trace", "pool", "prisma", "validate"):
        assert re.search(rf"\b{command}\b", out), f"`livingreview --help` does not list {command}"


def test_rule_conda_env_lists_the_runtime_packages() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {_name(r) for r in pyproject["project"]["dependencies"]}
    env = yaml.safe_load((ROOT / "workflow/envs/livingreview.yaml").read_text(encoding="utf-8"))
    assert {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python"} == runtime
