# Validation before any job runs, and the few helpers the rule files share.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from livingreview.workflow_support import (
    analysis_ids,
    final_targets_for,
    optional_input,
    package_digest,
    validate_at_start,
)

# Config files, human-edited tables and every run manifest checked (one-line error, exit 1, naming
# the file:line or the --config entry a bad value came from); the run layout (run ids, files, shard
# counts) comes back for the rule files.
RUNS = validate_at_start(
    config,
    workflow.configfiles,
    cli_configfiles=workflow.overwrite_configfiles,
    cli_config=workflow.config_settings.config,
    replace_workflow_config=workflow.config_settings.replace_workflow_config,
)

# Every rule's params include the package's digest: a job re-runs when the code behind it changed.
CODE = package_digest()

RUNS_ROOT = RUNS.root
RUN_IDS = RUNS.run_ids
ANALYSES = analysis_ids(config)
# Dedup and screening shard jobs per run (config scale.shard_size; 1 per run for the default review).
RUN_SHARDS = RUNS.shards
RUN_SHARD_PAIRS = [
    (run_id, shard) for run_id in RUN_IDS for shard in range(RUN_SHARDS[run_id])
]


def run_parts(run_id):
    """The per-file import tables of one run."""
    return [
        f"results/records/parts/{r}/{name}.tsv" for r, name in RUNS.files if r == run_id
    ]


def runs_up_to(run_id):
    """Ids of the runs archived before ``run_id``, and ``run_id``."""
    return RUN_IDS[: RUN_IDS.index(run_id) + 1]


def final_targets():
    return final_targets_for(config, RUN_IDS)
