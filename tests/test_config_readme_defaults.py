"""config/README.md states the default of every optional key of synthesis.analyses[] (schema defaults).

A methodologist writing a new protocol from config/README.md alone must learn that leaving out
`method` gives REML and leaving out `hksj` gives Knapp-Hartung: the report then describes a model the
config never names.
"""

from __future__ import annotations

import yaml
from conftest import ROOT


def _row(readme: str, key: str) -> str:
    for line in readme.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and line.startswith("| `analyses[]."):
            names = [n.strip().strip("`").removeprefix("analyses[].") for n in cells[1].split(",")]
            if key in names:
                return line
    raise AssertionError(f"config/README.md has no row for analyses[].{key}")


def test_every_optional_analysis_key_states_its_default() -> None:
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    item = schema["properties"]["synthesis"]["properties"]["analyses"]["items"]
    readme = (ROOT / "config/README.md").read_text(encoding="utf-8")
    optional = sorted(k for k in item["properties"] if k not in item["required"])
    assert {"method", "hksj", "timepoint_days", "primary"} <= set(optional)
    missing = [k for k in optional if "default" not in _row(readme, k)]
    assert missing == []
    # the stated defaults are the schema's
    assert "default `REML`" in _row(readme, "method") and item["properties"]["method"]["default"] == "REML"
    assert "default `true`" in _row(readme, "hksj") and item["properties"]["hksj"]["default"] is True
