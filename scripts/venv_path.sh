# Sourced by the scripts (needs REPO): which ROS 2 wheels and which venv they use.
# EDGE_INFER_ROS_DISTRO: kilted (default) or jazzy, the PyPI wheels used where no distro is
# sourced; each gets its own venv (.venv, .venv-jazzy) unless EDGE_INFER_VENV names one.
EDGE_INFER_ROS_DISTRO="${EDGE_INFER_ROS_DISTRO:-kilted}"
case "$EDGE_INFER_ROS_DISTRO" in
  kilted) VENV="${EDGE_INFER_VENV:-$REPO/.venv}" ;;
  jazzy) VENV="${EDGE_INFER_VENV:-$REPO/.venv-jazzy}" ;;
  *) echo "EDGE_INFER_ROS_DISTRO must be kilted or jazzy, not '$EDGE_INFER_ROS_DISTRO'" >&2
     exit 2 ;;
esac
