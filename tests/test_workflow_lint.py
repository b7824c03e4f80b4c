"""The workflow passes `snakemake --lint` and `snakefmt --check` (the style the catalog workflows keep)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent


def test_snakemake_lint_reports_nothing() -> None:
    proc = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=ROOT, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations, your workflow is in a good condition!" in out, out[-3000:]
    assert "Lints for" not in out


def test_snakefmt_check_is_clean() -> None:
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _rule_blocks() -> dict[str, str]:
    """Each rule of workflow/rules/*.smk and its text (up to the next rule)."""
    blocks: dict[str, str] = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        name = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("rule ") and line.endswith(":"):
                name = line[5:-1]
                blocks[name] = ""
            elif name is not None:
                blocks[name] += line + "\n"
    return blocks


def test_every_stage_rule_has_log_benchmark_and_conda() -> None:
    blocks = _rule_blocks()
    assert len(blocks) >= 15
    missing = {
        name: [d for d in ("log:", "benchmark:", "conda:", "output:") if f"    {d}" not in text]
        for name, text in blocks.items()
    }
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_stage_rule_reruns_when_the_package_code_changes() -> None:
    """Each rule's params include the package digest (Snakemake's code trigger sees only the glue script)."""
    blocks = _rule_blocks()
    assert {name for name, text in blocks.items() if "        code=CODE,\n" not in text} == set()


def test_package_digest_follows_the_code_and_schemas(tmp_path: Path) -> None:
    from livingreview.workflow_support import package_digest

    src = Path(__file__).resolve().parents[1] / "workflow"
    shutil.copytree(src / "livingreview", tmp_path / "livingreview", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(src / "schemas", tmp_path / "schemas")
    first = package_digest(tmp_path / "livingreview")
    assert first == package_digest(src / "livingreview") and len(first) == 16
    (tmp_path / "livingreview" / "__pycache__").mkdir(exist_ok=True)
    assert package_digest(tmp_path / "livingreview") == first  # bytecode is not code
    dedup = tmp_path / "livingreview" / "dedup.py"
    dedup.write_text(dedup.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    second = package_digest(tmp_path / "livingreview")
    assert second != first
    schema = tmp_path / "schemas" / "config.schema.yaml"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert package_digest(tmp_path / "livingreview") not in (first, second)
