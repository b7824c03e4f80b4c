"""Small helpers the Snakemake rule files call at parse time (no Snakemake imports here)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArchiveError
from .runs import Manifest, check_run_folder_name, list_runs, load_manifest
from .tables import workdir_relative


@dataclass(frozen=True)
class RunLayout:
    """The archived runs as the rule files see them, read once when Snakemake starts."""

    root: str  # config searches.root
    run_ids: list[str]  # oldest first
    files: list[tuple[str, str]]  # (run_id, file name) of every archived file, in import order
    shards: dict[str, int]  # dedup/screening shard jobs per run


def run_layout(config: dict[str, Any]) -> RunLayout:
    """Read every run's manifest once (raises ArchiveError naming the manifest and field)."""
    root = config["searches"]["root"]
    manifests = {run_dir.name: load_manifest(run_dir) for run_dir in list_runs(root)}
    for name, manifest in manifests.items():
        # Checked again by the import job; here so that `livingreview validate` and Snakemake's start
        # catch a copied or renamed folder ("2025-09-30 copy") before any job runs.
        if manifest.run_id != name:
            raise ArchiveError(
                f"manifest run_id {manifest.run_id!r} differs from the folder name {name!r}",
                where=f"{Path(root).as_posix()}/{name}/manifest.json",
                fix=f"run folders are named by their run_id: restore the folder's name from git, or delete the folder if it is a copy of run {manifest.run_id}",
            )
        check_run_folder_name(name, f"{Path(root).as_posix()}/{name}/manifest.json")
    size = shard_size(config)
    return RunLayout(
        root=root,
        run_ids=list(manifests),
        files=[(run_id, f.name) for run_id, m in manifests.items() for f in sorted(m.files, key=lambda x: x.name)],
        shards={run_id: _shards(m, size) for run_id, m in manifests.items()},
    )


def package_digest(package_dir: str | os.PathLike[str] | None = None) -> str:
    """sha256 (first 16 hex digits) of the package's code and schemas (``workflow/livingreview/**/*.py``
    and ``workflow/schemas/*``, by relative path). Every rule takes it as a param, so Snakemake re-runs
    a job when the code that computes it changed (its own code trigger sees only the glue script)."""
    import hashlib

    root = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parent
    files = sorted(root.rglob("*.py")) + sorted((root.parent / "schemas").glob("*.yaml"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root.parent).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@contextmanager
def _stop_snakemake_on_error() -> Iterator[None]:
    """A LivingReviewError in the block: print its one line and stop Snakemake with exit 1 (no traceback)."""
    import sys

    from .errors import LivingReviewError

    try:
        yield
    except LivingReviewError as err:
        print(f"livingreview: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


def check_job_python(executable: str, *, conda: bool = False) -> None:
    """Stop before any job when the Python that runs the jobs has whitespace in its path.

    Snakemake starts every ``script:`` job as ``<python> <script>`` with the Python path unquoted
    (snakemake issue 2645), so from a venv in, say, "/home/me/My Reviews/livingreview/.venv" each job
    died with "bash: /home/me/My: No such file or directory". Under ``--use-conda`` (``conda``) the
    jobs run the environment's ``python`` instead, which has no such problem. On error print the line
    and exit 1."""
    from .errors import LivingReviewError

    with _stop_snakemake_on_error():
        if not conda and any(c.isspace() for c in executable):
            raise LivingReviewError(
                "the path of the Python that runs the jobs has a space in it, and Snakemake starts script jobs "
                "with that path unquoted (snakemake issue 2645), so every job would fail",
                where=executable,
                fix="put the project (with its .venv) in a folder whose path has no space, or run snakemake from "
                "a Python environment installed at such a path (the review folder itself may have spaces)",
            )


def check_configfile(path: str | os.PathLike[str], *, others_given: bool = False) -> None:
    """Read the workflow's config file with our YAML loader before Snakemake's ``configfile:`` does,
    so a syntax error, a byte that is not UTF-8 or a file that is not a mapping is one line naming
    file:line (Snakemake's own message names neither). A missing file is an error unless config
    files were given on the command line (``others_given``). On error print the line and exit 1."""
    from .config import load_yaml
    from .errors import ConfigError

    with _stop_snakemake_on_error():
        if not Path(path).exists():
            if others_given:
                return
            raise ConfigError("file not found", where=str(path), fix="run snakemake in the review folder (or -d REVIEW), or pass --configfile")
        if not isinstance(load_yaml(path), dict):
            raise ConfigError("the config is not a mapping of keys to values", where=f"{path}:1", fix="start from the shipped config/config.yaml")


def validate_at_start(
    config: dict[str, Any],
    configfiles: Sequence[str | os.PathLike[str]] = (),
    *,
    cli_configfiles: Sequence[str | os.PathLike[str]] = (),
    cli_config: Mapping[str, Any] | None = None,
    replace_workflow_config: bool = False,
) -> RunLayout:
    """Validate the config (filling defaults), every human-edited table and every run manifest before any job runs.

    ``configfiles`` (Snakemake's ``workflow.configfiles``) are read again with our YAML loader,
    which refuses a key repeated in one mapping (Snakemake's loader keeps the last one silently).
    ``cli_configfiles`` (``workflow.overwrite_configfiles``, the ``--configfile`` ones, which Snakemake
    applies after the workflow's own config file) and ``cli_config`` (``workflow.config_settings.config``,
    the ``--config`` values, applied last) say where each value came from: a message names the
    ``--config`` entry or the file and line that set the bad value (under ``--replace-workflow-config``
    the workflow's own config file sets none). Returns the runs' layout for the
    rule files. On error print the one-line message and stop Snakemake with a non-zero exit (no traceback).
    """
    from .config import ConfigSources, load_yaml
    from .validate import check_inputs

    with _stop_snakemake_on_error():
        for path in configfiles:
            load_yaml(path)
        given = {workdir_relative(path) for path in cli_configfiles}
        names = [workdir_relative(path) for path in configfiles]
        own = [] if replace_workflow_config else [n for n in names if n not in given]
        ordered = own + [workdir_relative(path) for path in cli_configfiles]
        files = tuple(ordered) if ordered or replace_workflow_config else ("config/config.yaml",)
        sources = ConfigSources(files=files, overrides=dict(cli_config or {}))
        return check_inputs(config, where=sources)[1]


def record_total(root: str) -> int:
    """Records the import gives, from the manifests (count_in_file less those already archived), read without parsing any file."""
    return sum(f.records_kept for run_dir in list_runs(root) for f in load_manifest(run_dir).files)


DEFAULT_SHARD_SIZE = 200_000  # the schema's default for scale.shard_size


def shard_size(config: dict[str, Any]) -> int:
    """scale.shard_size (records per shard job)."""
    return int((config.get("scale") or {}).get("shard_size") or DEFAULT_SHARD_SIZE)


def _shards(manifest: Manifest, size: int) -> int:
    return max(1, -(-sum(f.records_kept for f in manifest.files) // size))


def optional_input(path: str) -> list[str]:
    """``[path]`` when the file exists, otherwise ``[]`` (for optional human-edited tables)."""
    return [path] if path and Path(path).exists() else []


def analysis_ids(config: dict[str, Any]) -> list[str]:
    """Ids of the analyses declared under synthesis.analyses."""
    return [a["id"] for a in config.get("synthesis", {}).get("analyses", [])]


def final_targets_for(config: dict[str, Any], runs: list[str]) -> list[str]:
    """The files `snakemake` builds by default."""
    targets = [
        "results/records/records.tsv",
        "results/dedup/clusters.tsv",
        "results/dedup/maybe_pairs.tsv",
        "results/screening/screening.tsv",
        "results/screening/rule_performance.tsv",
        "results/studies/included_studies.tsv",
        "results/audit/ledger.tsv",
        "results/synthesis/effects.tsv",
        "results/synthesis/effect_direction.svg",
        "results/prisma/counts.json",
        "results/prisma/PRISMA.csv",
        "results/prisma/prisma.svg",
        "results/prisma/prisma.png",
        "results/report/index.html",
        "results/report/report.md",
    ]
    for a in analysis_ids(config):
        targets += [f"results/synthesis/{a}.json", f"results/synthesis/{a}_forest.svg"]
    for r in runs:
        targets += [f"results/update/{r}/{name}" for name in ("new_records.tsv", "todo.tsv", "summary.json")]
    return targets
