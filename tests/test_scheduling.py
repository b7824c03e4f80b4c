"""The monthly update job: scheduled, uses the NCBI secrets, opens a pull request, never pushes to main."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import SNAKEMAKE

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
    assert lines[1].endswith("snakemake --cores $(CORES) --rerun-incomplete")


def test_profiles_parse_and_name_their_executor() -> None:
    local = yaml.safe_load((ROOT / "profiles/local/config.yaml").read_text(encoding="utf-8"))
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text(encoding="utf-8"))
    assert local["cores"] >= 1
    assert slurm["executor"] == "slurm" and "mem_mb" in slurm["default-resources"]


def test_the_pull_request_carries_each_runs_todo_list_and_a_report_whose_figures_show(tmp_path: Path, default_review: Path) -> None:
    # Run the workflow's copy step (bash, as on the runner) on a built review's results/, with a
    # second run's what's-new files added.
    steps = _workflow()["jobs"]["update"]["steps"]
    keep = next(s for s in steps if "todo.tsv" in str(s.get("run", "")))
    shutil.copytree(default_review / "results", tmp_path / "results")
    folder = tmp_path / "results" / "update" / "2025-10-31"
    folder.mkdir(parents=True)
    (folder / "todo.tsv").write_text("cluster_id\tstage\nc1\ttitle_abstract\n", encoding="utf-8")
    (folder / "new_records.tsv").write_text("cluster_id\n", encoding="utf-8")
    (folder / "summary.json").write_text("{}\n", encoding="utf-8")
    proc = subprocess.run(["bash", "-e", "-c", keep["run"]], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    reports = tmp_path / "reports"
    assert (reports / "update" / "2025-10-31" / "todo.tsv").read_text(encoding="utf-8") == "cluster_id\tstage\nc1\ttitle_abstract\n"
    assert "c1\ttitle_abstract" in proc.stdout
    for name in ("report.md", "index.html"):
        assert (reports / "report" / name).read_bytes() == (default_review / "results" / "report" / name).read_bytes()
    # every figure the Markdown and HTML reports link by a relative path is in the pull request, where the link points
    markdown = (reports / "report" / "report.md").read_text(encoding="utf-8")
    html = (reports / "report" / "index.html").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown) + [s for s in re.findall(r'<img[^>]* src="([^"]+)"', html) if not s.startswith("data:")]
    assert any(link.endswith("prisma.svg") for link in links) and any(link.endswith("_forest.svg") for link in links), links
    missing = [link for link in links if not (reports / "report" / link).is_file()]
    assert not missing, f"figures the report links but the pull request lacks: {missing}"
    pr = next(s for s in steps if str(s.get("uses", "")).startswith("peter-evans/create-pull-request"))
    assert "reports/**" in pr["with"]["add-paths"]


@pytest.mark.parametrize("archived", [True, False])
def test_a_month_with_nothing_new_opens_no_pull_request(tmp_path: Path, archived: bool) -> None:
    """`make update` archives a run only when something is new; without one, the job copies no report
    and opens no pull request (a reports-only one would block next month's job), and says so."""
    steps = _workflow()["jobs"]["update"]["steps"]
    make = next(i for i, s in enumerate(steps) if s.get("run", "").strip() == "make update")
    index, check = next((i, s) for i, s in enumerate(steps) if s.get("id") == "archived")
    assert make < index
    keep = next(s for s in steps if "todo.tsv" in str(s.get("run", "")))
    pr = next(s for s in steps if str(s.get("uses", "")).startswith("peter-evans/create-pull-request"))
    assert keep["if"] == pr["if"] == "steps.archived.outputs.new_run == 'true'"
    # the step's script in a checkout of main (one archived run), after `make update` ran
    repo = tmp_path / "review"
    (repo / "resources/searches/2025-09-30").mkdir(parents=True)
    (repo / "resources/searches/2025-09-30/manifest.json").write_text("{}\n", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "main"], cwd=repo, check=True)
    (repo / "results").mkdir()
    (repo / "results/report.md").write_text("rebuilt\n", encoding="utf-8")  # not tracked here; only resources/searches counts
    if archived:
        (repo / "resources/searches/2025-10-31").mkdir()
        (repo / "resources/searches/2025-10-31/pubmed.xml.gz").write_bytes(b"x")
    out = tmp_path / "github_output"
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", check["run"]], cwd=repo, env={**os.environ, "GITHUB_OUTPUT": str(out)},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == f"new_run={'true' if archived else 'false'}\n"
    if archived:
        assert "resources/searches/2025-10-31/pubmed.xml.gz" in proc.stdout
    else:
        assert "::notice::no new records this month: no run was archived, so no pull request is opened" in proc.stdout


def _stub(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


def test_the_readme_cron_line_runs_in_crons_bare_environment(tmp_path: Path) -> None:
    # cron gives a job no login environment (PATH=/usr/bin:/bin, no NCBI_EMAIL) and logs/ is not
    # in git (make clean removes it): the line must still reach `make update` with a contact address.
    from livingreview.search import usable_email

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```cron\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    variables = dict(line.split("=", 1) for line in lines if "=" in line.split()[0])
    (job,) = [line for line in lines if "=" not in line.split()[0]]
    fields = job.split(None, 5)
    assert fields[:5] == _workflow_cron(), "the crontab runs when the GitHub workflow does"
    command = fields[5]
    assert command.startswith("cd /srv/review && ")
    work = tmp_path / "review"
    work.mkdir()
    stubs = tmp_path / "bin"
    _stub(stubs, "make", 'echo "make $* NCBI_EMAIL=$NCBI_EMAIL"\n')
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", "LOGNAME": "review", **variables}
    proc = subprocess.run(["/bin/sh", "-c", command.replace("/srv/review", str(work))], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    log = (work / "logs" / "monthly-update.log").read_text(encoding="utf-8").splitlines()
    assert log[0].startswith("make update NCBI_EMAIL=")
    assert usable_email(log[0].split("NCBI_EMAIL=", 1)[1])


def _workflow_cron() -> list[str]:
    wf = _workflow()
    triggers = wf[True] if True in wf else wf["on"]
    return triggers["schedule"][0]["cron"].split()


def _guard_step() -> tuple[int, dict]:
    steps = _workflow()["jobs"]["update"]["steps"]
    return next((i, s) for i, s in enumerate(steps) if "gh pr list" in str(s.get("run", "")))


@pytest.mark.parametrize(
    ("branches", "code", "says"),
    [
        ("living-update/111\nrenovate/lxml\n", 1, "::error::the pull request of an earlier monthly update is still open (branch living-update/111)"),
        ("living-update/111\nliving-update/222\n", 1, "(branch living-update/111, living-update/222)"),
        ("renovate/lxml\n", 0, ""),
        ("", 0, ""),
    ],
)
def test_an_open_update_pull_request_stops_the_job_before_searching(tmp_path: Path, branches: str, code: int, says: str) -> None:
    # Two update pull requests merged one after the other would archive the same records twice,
    # and the import stops on a record archived twice: the job must stop before `make update`.
    index, step = _guard_step()
    steps = _workflow()["jobs"]["update"]["steps"]
    make = next(i for i, s in enumerate(steps) if s.get("run", "").strip() == "make update")
    assert index < make
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}"}
    stubs = tmp_path / "bin"
    (tmp_path / "branches.txt").write_text(branches, encoding="utf-8")
    _stub(stubs, "gh", f'echo "$*" > {tmp_path}/args.txt\ncat {tmp_path}/branches.txt\n')
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "GITHUB_REPOSITORY": "owner/review"}
    # GitHub runs a step's script with `bash -e -o pipefail`
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == code, proc.stderr
    assert says in proc.stdout
    args = (tmp_path / "args.txt").read_text(encoding="utf-8")
    assert "pr list --repo owner/review --state open" in args


def test_the_job_stops_when_open_pull_requests_cannot_be_listed(tmp_path: Path) -> None:
    _, step = _guard_step()
    stubs = tmp_path / "bin"
    _stub(stubs, "gh", "echo 'HTTP 403: Resource not accessible by integration' >&2\nexit 1\n")
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "GITHUB_REPOSITORY": "owner/review"}
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "HTTP 403" in proc.stderr


def test_the_checkout_leaves_no_token_for_the_update_code() -> None:
    # `make update` runs code installed from PyPI; with the checkout's default persist-credentials the
    # job's contents: write token sits in .git/config, where that code could push to main with it.
    steps = _workflow()["jobs"]["update"]["steps"]
    (checkout,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout")]
    assert checkout.get("with", {}).get("persist-credentials") is False


def test_the_guard_ignores_pull_requests_from_forks(tmp_path: Path) -> None:
    # An open pull request from a fork whose branch is named living-update/... must not stop the update:
    # run the guard's gh query through jq on what `gh pr list --json headRefName,isCrossRepository` gives.
    import json
    import shutil

    jq = shutil.which("jq")
    assert jq, "jq is needed to run the guard's filter (GitHub's runners have it)"
    _, step = _guard_step()
    query = step["run"].split("--jq '", 1)[1].split("'", 1)[0]
    assert "--json headRefName,isCrossRepository" in step["run"]
    listed = [
        {"headRefName": "living-update/111", "isCrossRepository": True},
        {"headRefName": "renovate/lxml", "isCrossRepository": False},
        {"headRefName": "living-update/222", "isCrossRepository": False},
    ]
    proc = subprocess.run([jq, "-r", query], input=json.dumps(listed), capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["renovate/lxml", "living-update/222"]


def _descendants(pid: int) -> list[int]:
    """The ids of every process below ``pid`` (from /proc)."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        here = todo.pop()
        children = [p for p, pp in parent.items() if pp == here]
        found += children
        todo += children
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _makefile_snakemake_line(target: str) -> list[str]:
    """The snakemake command of a Makefile target's recipe, as argv ($(BIN) -> the venv's bin, $(CORES) -> 2)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    line = next(line.strip() for line in block.splitlines()[1:] if "snakemake" in line)
    return line.replace("$(BIN)/snakemake", SNAKEMAKE).replace("$(CORES)", "2").split()


@pytest.mark.e2e
@pytest.mark.parametrize("target", ["update", "review"])
def test_after_a_hard_kill_and_unlock_the_make_target_rebuilds(default_review: Path, tmp_path: Path, target: str) -> None:
    # A build killed hard (out-of-memory kill, power cut) mid-job leaves Snakemake's lock and the
    # running job's outputs marked incomplete. The README's recovery is `snakemake --unlock`; the
    # next `make update` (cron) or `make review` must then rebuild, not stop on IncompleteFilesException.
    work = tmp_path / "review"
    shutil.copytree(default_review, work, symlinks=True)
    report = work / "results/report/report.md"
    expected = report.read_bytes()
    report.unlink()  # render_report runs again; kill it while it runs
    incomplete = work / ".snakemake/incomplete"
    env = dict(os.environ, PATH=f"{Path(SNAKEMAKE).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--cores", "2", "--quiet", "all"],
                            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (job := [pid for pid in _descendants(proc.pid) if b"render_report" in _cmdline(pid)]):
        assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
        time.sleep(0.01)
    # Only Snakemake itself is killed (the out-of-memory killer picks one process): its job runs on,
    # writes its outputs and exits, and their incomplete marks stay.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    while any(Path(f"/proc/{pid}").exists() for pid in job):
        assert time.monotonic() < deadline, "the orphaned job never finished"
        time.sleep(0.05)
    assert report.exists() and any(incomplete.iterdir()), "killed while render_report ran"
    stuck = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--cores", "2", "--quiet", "all"],
                           cwd=work, env=env, capture_output=True, text=True)
    assert stuck.returncode != 0, "a killed build's lock stops the next one until a person unlocks"
    subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--unlock"], cwd=work, env=env, check=True, capture_output=True)

    argv = _makefile_snakemake_line(target)
    rebuilt = subprocess.run([*argv, "-s", str(ROOT / "Snakefile"), "-d", str(work)], cwd=work, env=env, capture_output=True, text=True)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert report.read_bytes() == expected
