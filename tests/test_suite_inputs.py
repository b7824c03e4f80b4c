"""The suite reads the default review as shipped, not the working tree's resources/ (conftest's guard).

A living review's resources/ grows every month (a run folder, the team's rows), while the tests expect
the shipped review's answers; a test that read the working tree failed as soon as the review grew. The
guard in conftest records every open, listing, copy or glob of a path under the working tree's
resources/ (and every subprocess started in the working tree) and fails the test that did it unless
WORKING_TREE_ALLOWED names it with a reason. These tests check the guard itself, the modules' imports,
and the allow-list.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, WORKING_TREE_ALLOWED, capture_working_tree_reads, collection_reads, shipped_resources, working_tree_allowed

HERE = "tests/test_suite_inputs.py:test_the_guard_records_reads_of_the_working_tree"


def test_the_guard_records_reads_of_the_working_tree(tmp_path: Path) -> None:
    with capture_working_tree_reads() as reads:
        (ROOT / "resources" / "README.md").read_bytes()
        os.listdir(ROOT / "resources")
        shutil.copytree(ROOT / "resources" / "dedup", tmp_path / "dedup")
        subprocess.run(["true"], cwd=ROOT, check=True)
        (shipped_resources() / "snapshot_coverage.tsv").read_bytes()  # the shipped copy is not the working tree
        os.listdir(tmp_path)
    assert [who for _, who, _ in reads] == [HERE] * len(reads)
    what = [w for _, _, w in reads]
    assert what[0] == str(ROOT / "resources" / "README.md")
    assert what[1] == str(ROOT / "resources")
    assert str(ROOT / "resources" / "dedup") in what[2:-1]  # copytree, then its listing and the file it opens
    assert what[-1] == f"subprocess in {ROOT}: true"
    assert not any(str(shipped_resources()) in w or str(tmp_path) == w for w in what)


def test_no_test_module_reads_the_working_tree_when_imported() -> None:
    assert collection_reads() == []


def test_the_allow_list_names_tests_that_exist_with_a_reason() -> None:
    for entry, reason in WORKING_TREE_ALLOWED.items():
        module, _, function = entry.partition("::")
        source = (ROOT / module).read_text(encoding="utf-8")
        if function:
            assert re.search(rf"^def {re.escape(function)}\(", source, re.M), entry
        assert len(reason.split()) >= 8, entry
    assert working_tree_allowed("tests/test_snapshot.py::test_readme_counts_match_the_manifest")
    assert working_tree_allowed("tests/test_committed_resources.py::test_every_line_the_table_tools_write_is_in_the_committed_table[extraction/studies.tsv]")
    assert not working_tree_allowed("tests/test_snapshot.py::test_manifest_counts_equal_records_in_files")


def test_no_other_module_spells_the_working_trees_resources() -> None:
    """A static check beside the guard: outside the allowed modules, no test builds a path from the
    checkout's root (ROOT, parents[1]) into resources/; the shipped copy is shipped_resources()."""
    # conftest holds the guard; this module reads the working tree only inside capture_working_tree_reads
    allowed_modules = {e.partition("::")[0] for e in WORKING_TREE_ALLOWED} | {"tests/conftest.py", "tests/test_suite_inputs.py"}
    pattern = re.compile(r"""(ROOT|parents\[1\])\s*/\s*["']resources""")
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed_modules:
            continue
        found += [f"{rel}:{n}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if pattern.search(line)]
    assert found == []


def test_the_guard_records_a_write_into_the_shipped_copy(tmp_path: Path) -> None:
    target = shipped_resources() / "dedup" / "decisions.tsv"
    before = target.read_bytes()
    with capture_working_tree_reads() as seen:
        with open(target, "a", encoding="utf-8"):  # opened for appending, nothing written
            pass
        (tmp_path / "x.tsv").write_text("x\n", encoding="utf-8")
    assert [(who, what) for _, who, what in seen] == [
        ("tests/test_suite_inputs.py:test_the_guard_records_a_write_into_the_shipped_copy", f"WRITE into the shipped copy (open): {target}")
    ]
    assert target.read_bytes() == before


def test_the_guard_records_subprocesses_that_read_the_working_tree_without_being_started_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was missed: the project's own command started with no cwd (it inherits pytest's folder, the
    working tree under `make test`, and reads its resources/ through its relative defaults), and any
    command given a path into the working tree's resources/. A command that is not the project's,
    started with no cwd (git, the PNG rasteriser), is not a read."""
    monkeypatch.chdir(ROOT)  # as under `make test`
    decisions = str(ROOT / "resources" / "screening" / "decisions.tsv")
    with capture_working_tree_reads() as reads:
        validate = subprocess.run([sys.executable, "-m", "livingreview.cli", "validate"], capture_output=True, text=True)
        counted = subprocess.run(["wc", "-l", decisions], capture_output=True, text=True, cwd=tmp_path)
        subprocess.run(["git", "-C", str(tmp_path), "--version"], capture_output=True, check=True)
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        subprocess.run([sys.executable, "-m", "livingreview.cli", "--help"], capture_output=True, check=True, cwd=tmp_path)
    assert validate.returncode == 0 and "search runs:" in validate.stdout
    assert counted.returncode == 0 and counted.stdout.split()[1] == decisions
    assert [what for _, _, what in reads] == [
        f"subprocess in {ROOT}: {sys.executable} -m livingreview.cli validate",
        f"subprocess reading {decisions}: wc -l {decisions}",
    ]


def test_a_shipped_copy_that_cannot_be_built_fails_every_caller_the_same_way_and_leaves_nothing(tmp_path: Path) -> None:
    """Was: the first caller got the one-line error naming the evidence folder and the fix, every later
    caller got the half-built folder back (tests then failed with 'No such file or directory:
    .../livingreview-shipped-*/resources'), and the folder was left in the temp dir."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import conftest\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        print('returned', conftest.shipped_project())\n"
        "    except RuntimeError as err:\n"
        "        print('error', err)\n"
    )
    env = {**os.environ, "LIVINGREVIEW_EVIDENCE": str(tmp_path / "no-evidence"), "TMPDIR": str(temp)}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert lines[0].startswith(f"error tools/build_search_snapshot.py could not rebuild the shipped default review from {tmp_path / 'no-evidence'}: ")
    assert lines[0].endswith("fix: put the curated evidence at ../shared/evidence or set LIVINGREVIEW_EVIDENCE")
    assert list(temp.iterdir()) == []
