"""A schema pattern matches the whole value: a value with a trailing line break is not in the form.

JSON Schema patterns are ECMA-262 regular expressions, where ``$`` (no multiline flag) matches only
at the end of the value. jsonschema applies them with Python's ``re.search``, where ``$`` also matches
just before a final newline, so "2025-01-01\\n" passed the date pattern ``^...$`` and an analysis id
"ptsd_severity_md\\n" passed ``^[a-z][a-z0-9_]*$`` (and became part of output file names). Every
schema is applied through livingreview.config.schema_validator, which reads ``$`` as the end.

Tables (TSV) cannot carry such a value: read_tsv ends a line at "\\n" and "\\r\\n" (and at "\\r" in a file
whose every line ends so) and refuses a lone "\\r" anywhere else, so a cell never holds a line break;
the row-level tests below check the validation layer itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import copy_project_inputs, shipped_resources
from livingreview.cli import main
from livingreview.config import SCHEMA_DIR, load_yaml, schema_validator, whole_value_pattern
from livingreview.errors import InputFormatError
from livingreview.extraction import STUDIES_SCHEMA, _validate_rows


@pytest.mark.parametrize(
    ("file", "old", "new", "key"),
    [
        ("config/config.yaml", "    - id: ptsd_severity_md\n", '    - id: "ptsd_severity_md\\n"\n', "synthesis/analyses/0/id"),
        ("config/config.yaml", "  id: ketamine-ptsd\n", '  id: "ketamine-ptsd\\n"\n', "review/id"),
        ("config/config.yaml", "      domain: ptsd_response\n", "      domain: |\n        ptsd_response\n", "synthesis/analyses/2/domain"),
    ],
)
def test_a_config_value_with_a_trailing_newline_is_one_line_at_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str, key: str
) -> None:
    copy_project_inputs(tmp_path)
    path = tmp_path / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"livingreview: error: {file}:{line}: key '{key}': "), err[0]
    assert "\\n' is not in the form this takes" in err[0], err[0]


def test_a_screening_rule_id_with_a_trailing_newline_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    copy_project_inputs(tmp_path)
    path = tmp_path / "config/screening.yaml"
    text = path.read_text(encoding="utf-8")
    first = re.search(r"\n  - id: ([a-z_]+)\n", text)
    assert first
    path.write_text(text.replace(first.group(0), f'\n  - id: "{first.group(1)}\\n"\n', 1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith("livingreview: error: config/screening.yaml:"), err
    assert f"{first.group(1)}\\n' is not in the form this takes" in err[0], err[0]


def test_a_decision_row_with_a_trailing_newline_in_its_date_is_refused_by_the_schema() -> None:
    validator = schema_validator(load_yaml(SCHEMA_DIR / "decisions.schema.yaml"))
    row = {"key": "12345678", "stage": "title_abstract", "decision": "include", "reason": "", "reviewer": "A", "date": "2025-01-01", "note": ""}
    assert validator.is_valid(row)
    for bad in ({**row, "date": "2025-01-01\n"}, {**row, "key": "12345678\n"}, {**row, "reason": "animal\n"}):
        errors = list(validator.iter_errors(bad))
        assert [e.validator for e in errors] == ["pattern"], bad


def test_a_study_row_with_a_trailing_newline_in_its_id_names_file_line_and_column() -> None:
    from livingreview.tables import read_tsv

    (row, *_) = read_tsv(shipped_resources() / "extraction" / "studies.tsv")
    _validate_rows([row], STUDIES_SCHEMA, "studies.tsv")
    with pytest.raises(InputFormatError) as err:
        _validate_rows([{**row, "study_id": row["study_id"] + "\n", "_line": "7"}], STUDIES_SCHEMA, "studies.tsv")
    assert str(err.value).startswith(f"studies.tsv:7: column 'study_id': '{row['study_id']}\\n' is not in the form this takes"), str(err.value)
    assert "\n" not in str(err.value)


def test_a_tsv_cell_cannot_hold_a_line_break(tmp_path: Path) -> None:
    """Why the table tests above go through the validation layer: the reader ends a line at "\\n" and
    refuses a lone "\\r" inside one (it used to end the line there, giving two short rows)."""
    from livingreview.tables import read_tsv

    p = tmp_path / "t.tsv"
    p.write_bytes(b"a\tb\n2025-01-01\n\tx\n")
    assert [(r["a"], r["b"]) for r in read_tsv(p)] == [("2025-01-01", ""), ("", "x")]
    p.write_bytes(b"a\tb\n2025-01-01\r\tx\n")
    with pytest.raises(InputFormatError, match=r"t\.tsv:2: a carriage return \(\\r\) not followed by a line feed, in column 'a' \(cell 1\)"):
        read_tsv(p)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^[a-z]+$", r"^[a-z]+\Z"),
        ("^a$|^b$", r"^a\Z|^b\Z"),
        ("^[$]x$", r"^[$]x\Z"),
        ("^[]$]$", r"^[]$]\Z"),
        ("^[^]$]$", r"^[^]$]\Z"),
        (r"^a\$$", r"^a\$\Z"),
        (r"^a\\$", r"^a\\\Z"),
        (r"^[\]$]$", r"^[\]$]\Z"),
        ("no anchor", "no anchor"),
    ],
)
def test_whole_value_pattern(pattern: str, expected: str) -> None:
    assert whole_value_pattern(pattern) == expected
    re.compile(expected)


def test_every_schema_pattern_refuses_a_trailing_newline_on_a_value_it_accepts() -> None:
    """Each pattern of the project's schemas, on the shortest value it takes, with and without a final newline."""
    found = 0
    for path in sorted(SCHEMA_DIR.glob("*.schema.yaml")):
        stack = [load_yaml(path)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("pattern"), str) and node["pattern"].endswith("$"):
                    found += 1
                    validator = schema_validator({"type": "string", "pattern": node["pattern"]})
                    samples = ["", "a", "0", "x#1", "2025-01-01", "2025/01/01", "a:b", "10.1/x", "low", "0.5"]
                    good = next((s for s in samples if validator.is_valid(s)), None)
                    if good is not None:
                        assert not validator.is_valid(good + "\n"), (path.name, node["pattern"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    assert found >= 20
