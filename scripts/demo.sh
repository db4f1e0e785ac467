#!/usr/bin/env bash
# Set up (or update) the environment, then run the demo: synthetic camera -> detector node
# (configure, activate) -> detections checked against ground truth, recorded to a rosbag.
# Extra arguments go to the demo command (see `demo --help`); a leading --distro jazzy (or
# EDGE_INFER_ROS_DISTRO=jazzy) runs it on the ROS 2 Jazzy wheels in .venv-jazzy.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=venv_path.sh
source "$REPO/scripts/venv_path.sh"  # takes a leading --distro NAME off the arguments
export EDGE_INFER_ROS_DISTRO
bash "$REPO/scripts/setup_env.sh"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# What a sourced distro's setup.bash sets; Fast DDS's profile variable depends on it (ros/dds.py).
export ROS_DISTRO="${ROS_DISTRO:-$EDGE_INFER_ROS_DISTRO}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
cd "$REPO"
exec "$VENV/bin/demo" "$@"
