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


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"requirements.lock line {number}: {line!r} is not an exact pin name==version"
        pins[_name(name)] = version.strip()
    return pins


def test_lock_pins_every_package_pyproject_names() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    named = {_name(r) for r in pyproject["project"]["dependencies"]}
    for extra in pyproject["project"]["optional-dependencies"].values():
        named |= {_name(r) for r in extra}
    missing = named - set(_lock())
    assert not missing, f"requirements.lock has no pin for {sorted(missing)}; run `make lock`"


def test_lock_versions_satisfy_pyproject_minimums() -> None:
    from packaging.requirements import Requirement

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = list(pyproject["project"]["dependencies"])
    for extra in pyproject["project"]["optional-dependencies"].values():
        requirements += extra
    pins = _lock()
    outside = [r for r in map(Requirement, requirements) if not r.specifier.contains(pins[_name(r.name)], prereleases=True)]
    assert not outside, f"requirements.lock pins versions pyproject.toml does not allow: {[str(r) for r in outside]}"


def test_installed_packages_are_the_locked_versions() -> None:
    """`make test` runs in the .venv `make` built with -c requirements.lock: every locked package that
    is installed has the locked version (the cluster extra's packages need not be installed)."""
    from importlib import metadata

    installed = {_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {n: (v, installed[n]) for n, v in _lock().items() if n in installed and installed[n] != v}
    assert not differ, f"installed versions differ from requirements.lock (locked, installed): {differ}; run `make .venv/.installed`"
