"""`livingreview validate`: the shipped config and tables pass; a broken config is one line naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from livingreview.cli import main
from livingreview.config import load_config
from livingreview.validate import validate_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_and_tables_are_valid(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    summary = validate_inputs(load_config("config/config.yaml"))
    assert main(["validate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "config/config.yaml: valid"
    assert out[1:] == [f"  {what}: {n}" for what, n in summary.items()]
    assert summary["studies"] == sum(1 for line in (ROOT / "resources/extraction/studies.tsv").read_text(encoding="utf-8").splitlines()[1:] if line.strip())


@pytest.mark.parametrize(("text", "message"), [("- a list\n", "must be a mapping of keys"), ("key: [unclosed\n", r"bad\.yaml:2: YAML syntax error")])
def test_broken_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    assert main(["validate", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert re.search(message, err[0]), err[0]
