"""An interrupted search or add-run (SIGTERM from a cancelled CI job, Ctrl-C) leaves no temporary run folder and prints one line."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RIS = "TY  - JOUR\nTI  - Synthetic test record (not a real citation)\nER  - \n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_archiving_removes_the_temporary_run(tmp_path: Path, sig: signal.Signals) -> None:
    export = tmp_path / "embase.ris"
    export.write_text(RIS, encoding="utf-8")
    root = tmp_path / "searches"
    # The signal arrives once the export is copied into the temporary run folder, before the rename.
    script = textwrap.dedent(
        f"""
        import os, shutil, sys
        from livingreview import runs
        from livingreview.cli import main
        real = shutil.copyfile
        def copy_then_signal(a, b):
            real(a, b)
            os.kill(os.getpid(), {int(sig)})
        runs.shutil.copyfile = copy_then_signal
        sys.exit(main(["add-run", "--database", "embase", "--file", {str(export)!r}, "--date", "2025-10-31", "--root", {str(root)!r}]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 128 + sig, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"livingreview: interrupted ({sig.name}); run the command again"
    assert "Traceback" not in proc.stderr
    assert list(root.iterdir()) == []  # no run, no .2025-10-31.*.partial folder
