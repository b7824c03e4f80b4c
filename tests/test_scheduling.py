"""The monthly update job: scheduled, uses the NCBI secrets, opens a pull request, never pushes to main."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/monthly-update.yml").read_text(encoding="utf-8"))


def test_monthly_schedule_and_make_update() -> None:
    wf = _workflow()
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    cron = triggers["schedule"][0]["cron"].split()
    assert cron[2] == "1" and cron[3] == "*" and cron[4] == "*", "runs once a month"
    steps = wf["jobs"]["update"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.strip() == "make update" for r in runs)
    env = next(s["env"] for s in steps if s.get("run", "").strip() == "make update")
    assert env == {"NCBI_EMAIL": "${{ secrets.NCBI_EMAIL }}", "NCBI_API_KEY": "${{ secrets.NCBI_API_KEY }}"}


def test_opens_a_pull_request_and_never_pushes_to_main() -> None:
    wf = _workflow()
    steps = wf["jobs"]["update"]["steps"]
    pr = [s for s in steps if str(s.get("uses", "")).startswith("peter-evans/create-pull-request")]
    assert len(pr) == 1
    assert pr[0]["with"]["branch"] != "main" and pr[0]["with"]["base"] == "main"
    assert "resources/searches/**" in pr[0]["with"]["add-paths"]
    text = (ROOT / ".github/workflows/monthly-update.yml").read_text(encoding="utf-8")
    assert "git push" not in text


def test_make_update_searches_since_last_then_rebuilds() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = makefile.split("\nupdate:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()[1:]]
    assert "search pubmed --since last" in lines[0]
    assert lines[1].endswith("snakemake --cores $(CORES)")


def test_profiles_parse_and_name_their_executor() -> None:
    local = yaml.safe_load((ROOT / "profiles/local/config.yaml").read_text(encoding="utf-8"))
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text(encoding="utf-8"))
    assert local["cores"] >= 1
    assert slurm["executor"] == "slurm" and "mem_mb" in slurm["default-resources"]


def test_the_pull_request_carries_each_runs_todo_list(tmp_path: Path) -> None:
    # Run the workflow's copy step (bash, as on the runner) on a built review's files.
    steps = _workflow()["jobs"]["update"]["steps"]
    keep = next(s for s in steps if "todo.tsv" in str(s.get("run", "")))
    for name in ("index.html", "report.md"):
        (tmp_path / "results" / "report").mkdir(parents=True, exist_ok=True)
        (tmp_path / "results" / "report" / name).write_text(name, encoding="utf-8")
    for run, todo in (("2025-09-30", "cluster_id\tstage\n"), ("2025-10-31", "cluster_id\tstage\nc1\ttitle_abstract\n")):
        folder = tmp_path / "results" / "update" / run
        folder.mkdir(parents=True)
        (folder / "todo.tsv").write_text(todo, encoding="utf-8")
        (folder / "new_records.tsv").write_text("cluster_id\n", encoding="utf-8")
        (folder / "summary.json").write_text("{}\n", encoding="utf-8")
    proc = subprocess.run(["bash", "-e", "-c", keep["run"]], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "update" / "2025-10-31" / "todo.tsv").read_text(encoding="utf-8") == "cluster_id\tstage\nc1\ttitle_abstract\n"
    assert (tmp_path / "reports" / "report.md").read_text(encoding="utf-8") == "report.md"
    assert "c1\ttitle_abstract" in proc.stdout
    pr = next(s for s in steps if str(s.get("uses", "")).startswith("peter-evans/create-pull-request"))
    assert "reports/**" in pr["with"]["add-paths"]
