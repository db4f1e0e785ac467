#!/usr/bin/env bash
# Set up (or update) the environment with the test tools, then run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k engine -x
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EDGE_INFER_VENV:-$REPO/.venv}"
bash "$REPO/scripts/setup_env.sh" --test
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
cd "$REPO"
exec "$VENV/bin/python" -m pytest "$@"
