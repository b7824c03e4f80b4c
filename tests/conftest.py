"""Shared fixtures: a copy of the project's config/ and resources/ in a temp dir, and a Snakemake runner."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
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
    lines = (ROOT / "resources/snapshot_coverage.tsv").read_text(encoding="utf-8").splitlines()
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
    """Copy config/ and resources/ (what a review team edits) into ``dest``; the workflow stays in ROOT."""
    for name in ("config", "resources"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
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
