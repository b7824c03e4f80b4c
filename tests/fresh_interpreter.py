"""Run code in a fresh Python interpreter with this checkout's package importable (for tests of
what importing a module loads, which the test process itself has loaded already)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WORKFLOW = str(Path(__file__).resolve().parents[1] / "workflow")


def run_fresh(*lines: str) -> str:
    """Run ``lines`` (Python statements) in a new interpreter whose sys.path starts with workflow/;
    return its standard output, stripped. A failing statement fails the call (CalledProcessError)."""
    code = "\n".join([f"import sys; sys.path.insert(0, {WORKFLOW!r})", *lines]) + "\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
