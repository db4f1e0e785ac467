#!/usr/bin/env bash
# Set up (or update) the environment, then run the demo: synthetic camera -> detector node
# (configure, activate) -> detections checked against ground truth, recorded to a rosbag.
# Extra arguments go to the demo command (see `demo --help`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EDGE_INFER_VENV:-$REPO/.venv}"
bash "$REPO/scripts/setup_env.sh"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
cd "$REPO"
exec "$VENV/bin/demo" "$@"
