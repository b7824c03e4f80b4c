"""Shared fixtures: the default review as shipped, copies of it in temp dirs, and a Snakemake runner.

The suite tests the code on *the default review as shipped*, never on the working tree's resources/:
a living review grows (a monthly run under resources/searches/, the team's rows in the decision and
extraction tables), and the tests' expected answers are those of the shipped review (one run,
2025-09-30, seven included studies). Everything in resources/ that the pipeline reads is regenerable
from the curated evidence (``make resources``: tools/build_search_snapshot.py,
tools/build_screening_tables.py, tools/build_extraction_tables.py; resources/dedup/decisions.tsv ships
as its header only), so :func:`shipped_project` builds that copy once per test session in a temporary
folder, removed when the session ends. config/ is read from the working tree: it is the protocol,
versioned with the code (config/README.md documents every key against the code's defaults), the
monthly update never writes it, it cannot be rebuilt from the evidence, and the snapshot's manifest
records its strategies; a protocol amendment is a deliberate change whose effect on the default
review the tests should show.

A guard (``_no_working_tree_resources``, below) fails any test that opens, lists or copies a path
under the working tree's resources/ (or starts a subprocess in the working tree) unless
WORKING_TREE_ALLOWED names it with a reason; tests/test_suite_inputs.py checks the guard itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _evidence_dir() -> Path:
    """The curated evidence resources/ was built from (some tests derive expected answers from it).

    LIVINGREVIEW_EVIDENCE if set; else ``shared/evidence`` beside this checkout (as CI clones it);
    else beside the checkout this one was cloned from (``git clone /work/main /tmp/fresh``).
    """
    if os.environ.get("LIVINGREVIEW_EVIDENCE"):
        return Path(os.environ["LIVINGREVIEW_EVIDENCE"])
    beside = ROOT.parent / "shared" / "evidence"
    if beside.exists():
        return beside
    origin = subprocess.run(["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"], capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / "shared" / "evidence").exists():
        return Path(origin).resolve().parent / "shared" / "evidence"
    return beside  # missing: the tests that need it fail naming this path


EVIDENCE = _evidence_dir()
# What `make resources` runs, in order (the Makefile's `resources` target).
RESOURCE_TOOLS: tuple[str, ...] = ("build_search_snapshot.py", "build_screening_tables.py", "build_extraction_tables.py")
_SHIPPED: list[Path] = []  # the temporary folder of shipped_project(), once built
_SEALED: list[str] = []  # the same, once complete: tests only read it
_FAILED: list[str] = []  # the error of a build that failed (the folder is removed)


def shipped_project() -> Path:
    """A folder holding the default review as shipped: ``config/`` (a copy of the working tree's) and
    ``resources/`` as ``make resources`` writes it from EVIDENCE, plus resources/dedup/decisions.tsv
    with its header only (as shipped). Built on first use, once per test session (about 0.5 s);
    removed at the end of the session (pytest_unconfigure). Read it, never write into it: copy it
    (:func:`copy_project_inputs`) to change anything."""
    if _SHIPPED:
        return _SHIPPED[0]
    if _FAILED:  # the same one-line error for every caller, not a half-built folder
        raise RuntimeError(_FAILED[0])
    folder = Path(tempfile.mkdtemp(prefix="livingreview-shipped-"))
    try:
        _build_shipped(folder)
    except BaseException as err:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, RuntimeError):
            _FAILED.append(str(err))
        raise
    _SHIPPED.append(folder)
    _SEALED.append(str(folder))  # from now on the guard fails a test that writes into it
    return folder


def _build_shipped(folder: Path) -> None:
    """Write config/ and resources/ of the default review as shipped into ``folder`` (see shipped_project)."""
    shutil.copytree(ROOT / "config", folder / "config", ignore=shutil.ignore_patterns("__pycache__"))
    out = folder / "resources"
    for tool in RESOURCE_TOOLS:
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / tool), "--evidence", str(EVIDENCE), "--out", str(out)],
                              capture_output=True, text=True, cwd=folder)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise RuntimeError(f"tools/{tool} could not rebuild the shipped default review from {EVIDENCE}: {last}; "
                               "fix: put the curated evidence at ../shared/evidence or set LIVINGREVIEW_EVIDENCE")
    # resources/dedup/decisions.tsv is the one input no tool writes: it ships as its header only.
    from livingreview.constants import DEDUP_DECISION_FIELDS
    (out / "dedup").mkdir()
    (out / "dedup" / "decisions.tsv").write_text("\t".join(DEDUP_DECISION_FIELDS) + "\n", encoding="utf-8")


def shipped_resources() -> Path:
    """resources/ of the default review as shipped (see :func:`shipped_project`)."""
    return shipped_project() / "resources"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the shipped copy at the end of the session."""
    while _SHIPPED:
        shutil.rmtree(_SHIPPED.pop(), ignore_errors=True)


# --- guard: tests read the shipped copy, not the working tree's resources/ ---------------------------
WORKING_RESOURCES = ROOT / "resources"
# Tests whose point is the committed working tree itself (node id without parameters, or a module).
WORKING_TREE_ALLOWED: dict[str, str] = {
    "tests/test_committed_resources.py": "checks the committed resources/ against the tools' output: the committed "
    "run equals it byte for byte, later runs and the team's rows are additions",
    "tests/test_snapshot.py::test_readme_counts_match_the_manifest": "resources/README.md is hand-written (no tool "
    "writes it); its claims about the shipped run are checked against the shipped run",
    "tests/test_workflow_lint.py": "lints the workflow as a person runs it, in the working tree "
    "(snakemake --lint; snakefmt), which must stay clean however many runs the review holds",
}
_TESTS = str(ROOT / "tests") + os.sep
_WORKING = str(WORKING_RESOURCES)
_READS: list[tuple[str, str, str]] = []  # (node id or "collection", test code that did it, what it read)
_CURRENT: list[str] = ["collection"]


def _reader() -> str | None:
    """tests/<module>.py:<function> of the innermost test code on the stack (not conftest); None when
    the import system made the call (looking for a top-level module named `resources` on sys.path)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib"):
            return None
        if name.startswith(_TESTS) and not name.endswith("conftest.py"):
            return f"{Path(name).relative_to(ROOT).as_posix()}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def _record(what: str) -> None:
    who = _reader()
    if who is not None:
        _READS.append((_CURRENT[0], who, what))


def _under(path: object, folder: str) -> bool:
    """Whether ``path`` (str, bytes or path-like; relative to the current folder) is ``folder`` or lies below it."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False
    full = os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(path)))
    return full == folder or full.startswith(folder + os.sep)


def _under_working_resources(path: object) -> bool:
    return _under(path, _WORKING)


def _under_shipped(path: object) -> bool:
    return bool(_SEALED) and _under(path, _SEALED[0])


def _runs_project_code(argv: list[str]) -> bool:
    """True when the command is the project's own (livingreview, snakemake, ``python -m livingreview...``,
    a script in tools/ or workflow/scripts/): started in the working tree with no cwd, it reads the
    working tree's resources/ through its relative defaults."""
    if not argv:
        return False
    if os.path.basename(argv[0]) in ("livingreview", "snakemake"):
        return True
    modules = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-m"]
    if any(m.split(".")[0] in ("livingreview", "snakemake") for m in modules):
        return True
    scripts = (str(ROOT / "tools") + os.sep, str(ROOT / "workflow" / "scripts") + os.sep, "tools/", "workflow/scripts/")
    return any(a.startswith(scripts) for a in argv[1:3])


def _audit(event: str, args: tuple) -> None:
    """Record reads of the working tree's resources/ (open, listdir, scandir, copytree, glob),
    subprocesses started in the working tree (they read its resources/ through relative paths; with no
    cwd, the project's own commands, which inherit it), subprocesses given a path into it, and writes
    into the shipped copy (which every test shares)."""
    try:
        if _SEALED and ((event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
                        or (event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree") and args[-1] in (None, -1))) \
                and _under_shipped(args[0]):  # args[-1]: dir_fd (a path relative to a folder's descriptor, not to the cwd)
            _record(f"WRITE into the shipped copy ({event}): {os.fsdecode(args[0])}")
        elif event in ("open", "os.listdir", "os.scandir", "shutil.copytree", "glob.glob"):
            if args and _under_working_resources(args[0]):
                _record(os.fsdecode(args[0]))
        elif event == "subprocess.Popen":
            argv = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in
                    (args[1] if isinstance(args[1], (list, tuple)) else [args[1]])]
            command = " ".join(argv)[:120]
            inside = next((a for a in argv if a == _WORKING or _WORKING + os.sep in a), None)
            if inside is not None:
                _record(f"subprocess reading {inside}: {command}")
            elif args[2] is not None or _runs_project_code(argv):  # no cwd: it inherits this process's
                cwd = os.getcwd() if args[2] is None else os.fsdecode(args[2])
                if os.path.normpath(os.path.join(os.getcwd(), cwd)) == str(ROOT):
                    _record(f"subprocess in {ROOT}: {command}")
    except Exception:  # noqa: BLE001 - an audit hook must never break the code it watches
        pass


sys.addaudithook(_audit)


def working_tree_allowed(nodeid: str) -> bool:
    """True when WORKING_TREE_ALLOWED names this test or its module."""
    bare = nodeid.split("[", 1)[0]
    return bare in WORKING_TREE_ALLOWED or bare.split("::", 1)[0] in WORKING_TREE_ALLOWED


def collection_reads() -> list[tuple[str, str, str]]:
    """Reads of the working tree's resources/ made while test modules were imported."""
    return [r for r in _READS if r[0] == "collection"]


@contextmanager
def capture_working_tree_reads() -> Iterator[list[tuple[str, str, str]]]:
    """Collect (and take out of the guard's list) the reads of the working tree's resources/ made
    inside the block; for the guard's own test."""
    start = len(_READS)
    taken: list[tuple[str, str, str]] = []
    try:
        yield taken
    finally:
        taken.extend(_READS[start:])
        del _READS[start:]


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _CURRENT[0] = nodeid


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    _CURRENT[0] = "between tests"


@pytest.fixture(autouse=True)
def _no_working_tree_resources(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test (setup, call or teardown, module fixtures included) that read the working tree's
    resources/ unless WORKING_TREE_ALLOWED names it."""
    yield
    nodeid = request.node.nodeid
    mine = [r for r in _READS if r[0] == nodeid]
    _READS[:] = [r for r in _READS if r[0] != nodeid]
    writes = [r for r in mine if r[2].startswith("WRITE")]
    if writes:
        pytest.fail(f"{nodeid} changed the shipped default review every test shares ({writes[0][1]}: {writes[0][2]}); "
                    "fix: copy it first (copy_project_inputs)", pytrace=False)
    if mine and not working_tree_allowed(nodeid):
        pytest.fail(f"{nodeid} read the working tree's resources/ ({mine[0][1]}: {mine[0][2]}; {len(mine)} in all): "
                    "the suite tests the shipped default review; fix: read shipped_resources() / copy_project_inputs() "
                    "from conftest, or add the test to WORKING_TREE_ALLOWED in tests/conftest.py with the reason",
                    pytrace=False)


def default_review_reports() -> dict[str, int]:
    """Reports per included study of the default review, derived from the curated evidence: the
    study's curated reports (studies.json) plus the ClinicalTrials.gov records of the archived
    snapshot (resources/snapshot_coverage.tsv) whose NCT id is the study's registration. PRISMA 2020
    counts a study register entry as a report of its study."""
    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    included = {s["study_id"]: s for s in studies if s["curated_decision"] == "include"}
    owner = {n.upper(): sid for sid, s in included.items() for n in re.findall(r"NCT\d{8}", str(s["facts"].get("registration") or ""), re.I)}
    listed = {rep["record_key"] for s in studies for rep in s["reports"]}
    counts = {sid: len(s["reports"]) for sid, s in included.items()}
    lines = (shipped_resources() / "snapshot_coverage.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        if row["key"] in listed:
            continue
        for rid in filter(None, (x.strip() for x in row["record_ids"].split(";"))):
            if rid.startswith("clinicaltrials:") and rid.split(":", 1)[1].upper() in owner:
                counts[owner[rid.split(":", 1)[1].upper()]] += 1
    return counts


def copy_project_inputs(dest: Path) -> Path:
    """Copy config/ and resources/ (what a review team edits) of the default review as shipped
    (:func:`shipped_project`) into ``dest``; the workflow stays in ROOT."""
    for name in ("config", "resources"):
        shutil.copytree(shipped_project() / name, dest / name)
    return dest


def run_snakemake(workdir: Path, *targets: str, cores: int = 2, check: bool = True, extra: tuple[str, ...] = (),
                  env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the project's Snakefile in ``workdir`` (which holds config/ and resources/); ``env_extra``: environment variables to set."""
    cmd = [SNAKEMAKE, *targets, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", str(cores), *extra, "--quiet", "all"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **(env_extra or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def default_review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default review built once per test session in a temp dir."""
    work = copy_project_inputs(tmp_path_factory.mktemp("default_review"))
    run_snakemake(work)
    return work
