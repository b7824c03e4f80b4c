# Validation before any job runs, and the few helpers the rule files share.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from livingreview.workflow_support import (
    analysis_ids,
    final_targets_for,
    optional_input,
    run_file_paths,
    run_files,
    run_ids,
    shard_count,
    validate_at_start,
)

validate_at_start(config)

RUNS_ROOT = config["searches"]["root"]
RUN_IDS = run_ids(RUNS_ROOT)
ANALYSES = analysis_ids(config)
# Dedup and screening shard jobs (config scale.shard_size; 1 for the default review).
N_SHARDS = shard_count(config, RUNS_ROOT)
SHARDS = list(range(N_SHARDS))


def final_targets():
    return final_targets_for(config, RUN_IDS)
