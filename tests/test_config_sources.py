"""A bad config value is blamed on where it came from: `--config KEY=...` on the command line, the
`--configfile` that set it (with its line), or config/config.yaml (with its line).

Snakemake 9 parses `--config scale={shard_size: 10}` with YAML's BaseLoader, so the nested value arrives
as the text '10'; the schema refuses it, and the message used to name config/config.yaml:LINE, a file
the user had not touched."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
from conftest import copy_project_inputs, run_snakemake, shipped_project
from livingreview.config import ConfigSources, load_config, load_yaml, validate_config
from livingreview.errors import ConfigError
from livingreview.workflow_support import validate_at_start
from snakemake.cli import parse_config
from snakemake.utils import update_config

# The default review as shipped (conftest): its config/ (the working tree's) beside the resources/
# validate_at_start checks; the tests that run it chdir there, as Snakemake runs in the review folder.
PROJECT = shipped_project()
CONFIG = PROJECT / "config" / "config.yaml"
SCHEMA_FIX = "see workflow/schemas/config.schema.yaml and config/README.md for what is allowed"


@pytest.fixture(autouse=True)
def _no_stale_log_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """An earlier test's `livingreview ...` call may leave a handler on a closed capture stream; the
    table loaders' INFO lines would then print logging's own traceback to stderr."""
    monkeypatch.setattr(logging.getLogger("livingreview"), "handlers", [])


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if line == text)


def merged(*overrides: dict) -> dict:
    """The config Snakemake hands over: config/config.yaml updated with each override, as Snakemake merges them."""
    config = load_config(CONFIG)
    for override in overrides:
        update_config(config, copy.deepcopy(override))
    return config


def stop_message(capsys: pytest.CaptureFixture[str], config: dict, *args: object, **kwargs: object) -> str:
    with pytest.raises(SystemExit) as stop:
        validate_at_start(config, *args, **kwargs)
    assert stop.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


def test_what_snakemake_passes_for_config_overrides() -> None:
    # The assumption the messages rest on: a top-level value is read as int/float/True/False when it
    # can be, but every value inside KEY={...} or KEY=[...] stays text (YAML BaseLoader).
    assert parse_config(["scale={shard_size: 10}"]) == {"scale": {"shard_size": "10"}}
    assert parse_config(['scale={"shard_size": 10}']) == {"scale": {"shard_size": "10"}}
    assert parse_config(["searches={reconstructed: true}"]) == {"searches": {"reconstructed": "true"}}
    assert parse_config(["top=10", "flag=True", "word=true"]) == {"top": 10, "flag": True, "word": "true"}


def test_a_nested_number_from_config_names_the_command_line_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(PROJECT)
    given = parse_config(["scale={shard_size: 10}"])
    line = line_of(CONFIG, "  shard_size: 200000")
    message = stop_message(capsys, merged(given), [str(CONFIG)], cli_config=given)
    assert message == (
        "livingreview: error: --config scale: key 'scale/shard_size': '10' is not of type 'integer'; "
        "fix: Snakemake passes every value inside --config scale={...} as text, so scale.shard_size cannot be given "
        f"as a whole number that way: set it in config/config.yaml:{line}, or in a YAML file passed with --configfile "
        "(e.g. {scale: {shard_size: 10}})"
    )


def test_no_example_when_the_text_would_be_refused_from_a_file_too(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PROJECT)
    given = parse_config(["scale={shard_size: -3}"])
    message = stop_message(capsys, merged(given), [str(CONFIG)], cli_config=given)
    assert message.startswith("livingreview: error: --config scale: key 'scale/shard_size': '-3' is not of type 'integer'; fix: ")
    assert message.endswith("or in a YAML file passed with --configfile")  # shard_size: -3 would be refused as well


@pytest.mark.parametrize(
    ("entry", "where", "what", "fix"),
    [
        ("bogus_key=3", "--config bogus_key", "key '(top level)': Additional properties are not allowed ('bogus_key' was unexpected)",
         f"correct or leave out --config bogus_key=...; {SCHEMA_FIX}"),
        ("scale={shard_sise: 3}", "--config scale", "key 'scale': Additional properties are not allowed ('shard_sise' was unexpected)",
         f"correct or leave out --config scale=...; {SCHEMA_FIX}"),
        ("entrez=3", "--config entrez", "key 'entrez': 3 is not of type 'object'", f"correct or leave out --config entrez=...; {SCHEMA_FIX}"),
    ],
)
def test_other_schema_errors_from_config_name_the_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], entry: str, where: str, what: str, fix: str
) -> None:
    monkeypatch.chdir(PROJECT)
    given = parse_config([entry])
    assert stop_message(capsys, merged(given), [str(CONFIG)], cli_config=given) == f"livingreview: error: {where}: {what}; fix: {fix}"


def test_checks_beyond_the_schema_name_the_config_entry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PROJECT)
    given = parse_config(["searches={date_to: 2025/13/01}"])
    message = stop_message(capsys, merged(given), [str(CONFIG)], cli_config=given)
    assert message.startswith("livingreview: error: --config searches: searches.date_to '2025/13/01' is not a calendar date")
    given = parse_config(["searches={root: nowhere}"])
    message = stop_message(capsys, merged(given), [str(CONFIG)], cli_config=given)
    assert message.startswith("livingreview: error: --config searches: searches.root names nowhere, which is not a folder")


def test_a_value_config_left_alone_is_still_blamed_on_its_file_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # --config sets entrez.tool only (mappings merge key by key): the bad batch_size is the file's.
    copy_project_inputs(tmp_path)
    config_file = tmp_path / "config" / "config.yaml"
    config_file.write_text(config_file.read_text(encoding="utf-8").replace("  batch_size: 500\n", "  batch_size: 0\n"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    given = parse_config(["entrez={tool: mytool}"])
    config = load_yaml("config/config.yaml")  # load_config would refuse it: it validates
    update_config(config, given)
    message = stop_message(capsys, config, ["config/config.yaml"], cli_config=given)
    line = line_of(config_file, "  batch_size: 0")
    assert message == f"livingreview: error: config/config.yaml:{line}: key 'entrez/batch_size': 0 is less than the minimum of 1; fix: {SCHEMA_FIX}"


def write_other(work: Path, name: str, text: str) -> Path:
    path = work / "config" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_value_from_a_configfile_names_that_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Was "config/other.yaml + config/config.yaml: key ..." without a line.
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    other = write_other(tmp_path, "other.yaml", '# one run with smaller shards\nscale:\n  shard_size: "7"\n')
    config = load_yaml("config/config.yaml")
    update_config(config, load_yaml(other))
    files = [str(other.resolve()), "config/config.yaml"]  # as Snakemake lists them: --configfile (absolute) first
    message = stop_message(capsys, config, files, cli_configfiles=[other.resolve()])
    assert message == f"livingreview: error: config/other.yaml:3: key 'scale/shard_size': '7' is not of type 'integer'; fix: {SCHEMA_FIX}"


def test_the_last_configfile_that_sets_a_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    first = write_other(tmp_path, "first.yaml", "scale:\n  shard_size: 10\nentrez:\n  batch_size: 50\n")
    second = write_other(tmp_path, "second.yaml", "entrez:\n  tool: x\n  batch_size: 0\n")
    config = load_yaml("config/config.yaml")
    for path in (first, second):
        update_config(config, load_yaml(path))
    files = [str(first.resolve()), str(second.resolve()), "config/config.yaml"]
    message = stop_message(capsys, config, files, cli_configfiles=[first.resolve(), second.resolve()])
    assert message.startswith("livingreview: error: config/second.yaml:3: key 'entrez/batch_size': 0 is less than the minimum of 1; ")
    # --config over both: the command line is named, and the fix points at the file line that sets the key now
    given = parse_config(["entrez={batch_size: 100}"])
    update_config(config, given)
    message = stop_message(capsys, config, files, cli_configfiles=[first.resolve(), second.resolve()], cli_config=given)
    assert message.startswith("livingreview: error: --config entrez: key 'entrez/batch_size': '100' is not of type 'integer'; ")
    assert "set it in config/second.yaml:3, or in a YAML file passed with --configfile (e.g. {entrez: {batch_size: 100}})" in message


def test_a_list_given_with_config_replaces_the_files_list() -> None:
    sources = ConfigSources(files=("config/config.yaml",), overrides={"synthesis": {"direction_domains": ["a", "a"]}})
    assert sources.at(("synthesis", "direction_domains", 1)) == "--config synthesis"
    assert sources.at(("synthesis", "min_k")).startswith("config/config.yaml:")
    assert sources.at(()) == "config/config.yaml"


def test_livingreview_validate_still_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.read_text(encoding="utf-8").replace("  batch_size: 500\n", '  batch_size: "500"\n'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        validate_config(load_yaml(path), where=str(path))
    line = line_of(path, '  batch_size: "500"')
    assert str(err.value).startswith(f"{path}:{line}: key 'entrez/batch_size': '500' is not of type 'integer'; fix: see ")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--config", "scale={shard_size: 10}"),
         "livingreview: error: --config scale: key 'scale/shard_size': '10' is not of type 'integer'; fix: Snakemake passes every value "
         "inside --config scale={...} as text, so scale.shard_size cannot be given as a whole number that way: set it in "
         "config/config.yaml:{line}, or in a YAML file passed with --configfile (e.g. {scale: {shard_size: 10}})"),
        (("--configfile", "config/other.yaml"),
         "livingreview: error: config/other.yaml:2: key 'scale/shard_size': '10' is not of type 'integer'; fix: " + SCHEMA_FIX),
    ],
)
def test_snakemake_dry_run_names_where_a_bad_value_came_from(tmp_path: Path, extra: tuple[str, ...], expected: str) -> None:
    copy_project_inputs(tmp_path)
    write_other(tmp_path, "other.yaml", 'scale:\n  shard_size: "10"\n')
    proc = run_snakemake(tmp_path, "-n", check=False, extra=extra)
    assert proc.returncode == 1
    line = line_of(tmp_path / "config" / "config.yaml", "  shard_size: 200000")
    assert proc.stderr.splitlines() == [expected.replace("{line}", str(line))], proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / ".snakemake").exists()
    # the way the fix gives works: the same value from a --configfile is accepted
    write_other(tmp_path, "other.yaml", "scale:\n  shard_size: 10\n")
    ok = run_snakemake(tmp_path, "-n", extra=("--configfile", "config/other.yaml"))
    assert ok.returncode == 0 and not (tmp_path / "results").exists()
