# Sourced by the scripts (needs REPO): which ROS 2 wheels and which venv they use.
# EDGE_INFER_ROS_DISTRO: kilted (default) or jazzy, the PyPI wheels used where no distro is
# sourced; each gets its own venv (.venv, .venv-jazzy) unless EDGE_INFER_VENV names one.
# A leading `--distro NAME` (or `--distro=NAME`) in the sourcing script's arguments sets it and
# is taken off them (sourced without arguments, this shares and shifts the script's own
# positional parameters).
case "${1:-}" in
  --distro)
    EDGE_INFER_ROS_DISTRO="${2:-}"
    shift 2 || { echo "--distro needs kilted or jazzy" >&2; exit 2; } ;;
  --distro=*) EDGE_INFER_ROS_DISTRO="${1#--distro=}"; shift ;;
esac
EDGE_INFER_ROS_DISTRO="${EDGE_INFER_ROS_DISTRO:-kilted}"
case "$EDGE_INFER_ROS_DISTRO" in
  kilted) VENV="${EDGE_INFER_VENV:-$REPO/.venv}" ;;
  jazzy) VENV="${EDGE_INFER_VENV:-$REPO/.venv-jazzy}" ;;
  *) echo "EDGE_INFER_ROS_DISTRO must be kilted or jazzy, not '$EDGE_INFER_ROS_DISTRO'" >&2
     exit 2 ;;
esac
