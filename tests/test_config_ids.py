"""Ids that must be unique in the config and the rule file: a repeat is a ConfigError naming file, line, id and fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest import copy_project_inputs
from livingreview.cli import main
from livingreview.config import load_config, load_yaml, validate_config
from livingreview.errors import ConfigError
from livingreview.screening import load_rules
from livingreview.workflow_support import validate_at_start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "config.yaml"
RULES = ROOT / "config" / "screening.yaml"

ANALYSIS_FIX = "fix: give every analysis its own id (lower case, digits and _), or delete the repeated entry"


def edited_copy(tmp_path: Path, source: Path, old: str, new: str, name: str = "config.yaml") -> Path:
    """``source`` with the first ``old`` replaced by ``new``, written to ``tmp_path/name``."""
    text = source.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, line_text: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line equal to ``line_text``."""
    hits = [i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text == line_text]
    return hits[occurrence - 1]


def duplicate_analysis_config(tmp_path: Path) -> Path:
    # The second analysis (ptsd_severity_smd) given the first one's id.
    return edited_copy(tmp_path, CONFIG, "    - id: ptsd_severity_smd\n", "    - id: ptsd_severity_md\n")


def test_shipped_config_ids_are_unique() -> None:
    config = load_config(CONFIG)
    ids = [a["id"] for a in config["synthesis"]["analyses"]]
    assert ids == ["ptsd_severity_md", "ptsd_severity_smd", "ptsd_response_rr"]
    databases = [s["database"] for s in config["searches"]["sources"]]
    assert databases == ["pubmed", "embase", "psycinfo", "clinicaltrials"]


def test_duplicate_analysis_id_names_file_line_id_and_fix(tmp_path: Path) -> None:
    path = duplicate_analysis_config(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = line_of(path, "    - id: ptsd_severity_md", occurrence=2)
    assert str(err.value) == (
        f"{path}:{line}: synthesis.analyses[].id 'ptsd_severity_md' is used twice (entries 1 and 2 of synthesis.analyses): "
        "one analysis would be dropped and the other shown twice (results/synthesis/<id>.json is per id); " + ANALYSIS_FIX
    )


def test_duplicate_analysis_id_fails_livingreview_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = duplicate_analysis_config(tmp_path)
    monkeypatch.chdir(ROOT)
    assert main(["validate", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    line = line_of(path, "    - id: ptsd_severity_md", occurrence=2)
    assert len(err) == 1
    assert err[0].startswith(f"livingreview: error: {path}:{line}: synthesis.analyses[].id 'ptsd_severity_md' is used twice")
    assert err[0].endswith(ANALYSIS_FIX)


def test_duplicate_analysis_id_stops_snakemake_at_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Snakemake hands validate_at_start the merged config dict (no file of its own): the message names
    # config/config.yaml without a line, since the repeated id is not in that file.
    monkeypatch.chdir(ROOT)
    config = load_config(CONFIG)
    config["synthesis"]["analyses"].append(copy.deepcopy(config["synthesis"]["analyses"][2]))
    with pytest.raises(SystemExit) as stop:
        validate_at_start(config)
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "livingreview: error: config/config.yaml: synthesis.analyses[].id 'ptsd_response_rr' is used twice "
        "(entries 3 and 4 of synthesis.analyses): one analysis would be dropped and the other shown twice "
        "(results/synthesis/<id>.json is per id); " + ANALYSIS_FIX
    )


def test_duplicate_search_source_database_is_refused(tmp_path: Path) -> None:
    path = edited_copy(tmp_path, CONFIG, "    - database: psycinfo\n", "    - database: embase\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = line_of(path, "    - database: embase", occurrence=2)
    assert str(err.value) == (
        f"{path}:{line}: searches.sources[].database 'embase' is used twice (entries 2 and 3 of searches.sources): "
        "record ids, PRISMA source kinds and labels and the live PubMed strategy are keyed by database, so one entry "
        "would be ignored; fix: list each database once (put all of its search strategy in that one entry)"
    )


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("direction_domains: [ptsd_severity, ptsd_response, ptsd_response_duration]", "direction_domains: [ptsd_severity, ptsd_response, ptsd_severity]", "synthesis/direction_domains"),
        ("subgroups: [infusions, dose, comparator_type]", "subgroups: [infusions, infusions]", "synthesis/analyses/0/subgroups"),
    ],
)
def test_repeated_domain_or_subgroup_is_refused(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = edited_copy(tmp_path, CONFIG, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if new in text)
    assert str(err.value).startswith(f"{path}:{line}: key '{key}': ")  # the line of the offending key
    assert "has non-unique elements" in str(err.value) and "fix: see workflow/schemas/config.schema.yaml" in str(err.value)


def test_repeated_top_level_key_in_config_is_refused(tmp_path: Path) -> None:
    # Plain YAML would keep only the second synthesis: block (no analyses at all) without a word.
    path = edited_copy(tmp_path, CONFIG, "\nreport:\n", "\nsynthesis:\n  min_k: 2\n\nreport:\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    first = line_of(path, "synthesis:")
    second = line_of(path, "synthesis:", occurrence=2)
    assert str(err.value) == (
        f"{path}:{second}: key 'synthesis' appears twice in one mapping (first on line {first}); "
        "fix: keep one entry under that key (YAML would silently keep only the last one)"
    )


def test_repeated_concept_name_in_rule_file_is_refused(tmp_path: Path) -> None:
    # A second concept named 'randomization' would silently replace the first one for every rule.
    path = edited_copy(tmp_path, RULES, "  negated_randomization:\n", "  randomization:\n", name="screening.yaml")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    first = line_of(path, "  randomization:")
    second = line_of(path, "  randomization:", occurrence=2)
    assert str(err.value) == (
        f"{path}:{second}: key 'randomization' appears twice in one mapping (first on line {first}); "
        "fix: keep one entry under that key (YAML would silently keep only the last one)"
    )


def test_repeated_reason_code_in_rule_file_is_refused(tmp_path: Path) -> None:
    path = edited_copy(tmp_path, RULES, '  thesis: "Thesis or dissertation"\n', '  thesis: "Thesis or dissertation"\n  animal: "Animal"\n', name="screening.yaml")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    line = line_of(path, '  animal: "Animal"')
    first = line_of(path, '  animal: "Not human (animal or preclinical study)"')
    assert str(err.value) == (
        f"{path}:{line}: key 'animal' appears twice in one mapping (first on line {first}); "
        "fix: keep one entry under that key (YAML would silently keep only the last one)"
    )


def test_yaml_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n", encoding="utf-8")
    assert load_yaml(path) == {"base": {"x": 1, "y": 2}, "derived": {"x": 1, "y": 3}}


def test_validate_config_of_a_dict_without_file_names_where(tmp_path: Path) -> None:
    config = load_config(CONFIG)
    config["synthesis"]["analyses"][1]["id"] = "ptsd_severity_md"
    where = str(tmp_path / "not-there.yaml")
    with pytest.raises(ConfigError) as err:
        validate_config(config, where=where)
    assert str(err.value).startswith(f"{where}: synthesis.analyses[].id 'ptsd_severity_md' is used twice (entries 1 and 2")


def test_a_key_repeated_in_the_config_file_stops_snakemake_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Snakemake's own YAML loader keeps the last of two same keys silently; validate_at_start reads the
    # config files Snakemake read (workflow.configfiles) again with ours.
    path = edited_copy(tmp_path, CONFIG, "extraction:\n", "extraction:\n  studies: resources/extraction/other.tsv\n")
    monkeypatch.chdir(ROOT)
    config = load_config(CONFIG)  # what Snakemake would hand over: a valid dict
    with pytest.raises(SystemExit) as stop:
        validate_at_start(config, [str(path)])
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"livingreview: error: {path}:") and "'studies'" in err[0] and "fix: keep one entry under that key" in err[0]


def test_validate_at_start_names_the_config_file_snakemake_read(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config(CONFIG)
    config["synthesis"]["analyses"].append(copy.deepcopy(config["synthesis"]["analyses"][2]))
    with pytest.raises(SystemExit):
        validate_at_start(config, [str(CONFIG)])  # absolute, as Snakemake gives a --configfile
    assert capsys.readouterr().err.startswith("livingreview: error: config/config.yaml: synthesis.analyses[].id 'ptsd_response_rr' is used twice")


def test_an_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = edited_copy(tmp_path, CONFIG, "\nentrez:", "\nentrezz:")
    line = line_of(path, "entrezz:")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:{line}: key '(top level)': Additional properties are not allowed ('entrezz' was unexpected)")


@pytest.mark.parametrize(
    ("old", "new", "line_text", "message"),
    [
        (
            "timepoint_days: {min: 1, max: 14}",
            "timepoint_days: {min: 14, max: 1}",
            "      timepoint_days: {min: 14, max: 1}",
            "analysis 'ptsd_severity_md': timepoint_days min 14 is greater than max 1, so no outcome could be selected; fix: give the window as {min: first day, max: last day}",
        ),
        (
            'date_to: "2025/09/30"',
            'date_to: "2025/13/30"',
            '  date_to: "2025/13/30"',
            "searches.date_to '2025/13/30' is not a calendar date in YYYY/MM/DD form; fix: write it like 2025/09/30",
        ),
        (
            "date_from: inception",
            "date_from: yesterday",
            "  date_from: yesterday",
            "searches.date_from 'yesterday' is not a calendar date in YYYY/MM/DD form (or 'inception'); fix: write it like 2025/09/30, or inception",
        ),
        (
            "date_from: inception",
            "date_from: 2026/01/01",
            "  date_from: 2026/01/01",
            "searches.date_from 2026/01/01 is after searches.date_to 2025/09/30; fix: give the date limits the search used, the start first",
        ),
    ],
)
def test_ranges_the_schema_cannot_check_name_the_line(tmp_path: Path, old: str, new: str, line_text: str, message: str) -> None:
    """A reversed timepoint window silently selected no outcome (k = 0); a date that is no calendar
    date (or a start after the end) passed until a live search or never."""
    path = edited_copy(tmp_path, CONFIG, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:{line_of(path, line_text)}: {message}"


def test_a_searches_root_that_is_not_a_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped searches.root read no run at all: validate said 'search runs: 0' and Snakemake built a review of nothing."""
    copy_project_inputs(tmp_path)
    path = edited_copy(tmp_path / "config", CONFIG, "  root: resources/searches\n", "  root: resources/searchez\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    expected = (
        f"livingreview: error: config/config.yaml:{line_of(path, '  root: resources/searchez')}: searches.root names resources/searchez, which is not a folder, "
        "so no archived search run would be read; fix: correct the path under searches: root: (relative to the review folder), "
        "or archive a first run with `livingreview search pubmed` or `livingreview add-run`"
    )
    assert err == [expected]


def test_schema_fixes_name_the_schema_by_its_path_in_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`livingreview validate` in a review in another folder: a schema error, in the config or in a
    human-edited table, names the schema as workflow/schemas/X.schema.yaml (where it sits beside the
    Snakefile), the same for every schema, never a bare file name."""
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = edited_copy(tmp_path / "config", CONFIG, "  datetype: edat\n", "  datetype: published\n")
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(f"livingreview: error: config/config.yaml:{line_of(config, '  datetype: published')}: key 'entrez/datetype': ")
    assert err[0].endswith("fix: see workflow/schemas/config.schema.yaml and config/README.md for what is allowed")
    config.write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    studies = tmp_path / "resources/extraction/studies.tsv"
    lines = studies.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    cells = lines[1].rstrip("\n").split("\t")
    cells[header.index("crossover")] = "yes"
    lines[1] = "\t".join(cells) + "\n"
    studies.write_text("".join(lines), encoding="utf-8")
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith("livingreview: error: resources/extraction/studies.tsv:2: column 'crossover': ")
    assert err[0].endswith("(see workflow/schemas/studies.schema.yaml)")
    for schema in ("config", "studies"):
        assert (ROOT / f"workflow/schemas/{schema}.schema.yaml").is_file()
