"""Helpers for tests that drive the installed package through the real ``ros2`` command line.

Every command runs as a subprocess of the venv's ``ros2`` with the test process's environment
(same ``ROS_DOMAIN_ID`` and discovery range), and without the ROS 2 daemon, which would outlive
the test.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import pytest

# Discovery in a CLI process that has just started: generous on a loaded machine.
SPIN_TIME = '2'


def ros2_executable() -> str:
    """The ``ros2`` of this venv with ros2launch, and the package in the ament index; or skip."""
    exe = shutil.which('ros2', path=str(Path(sys.executable).parent)) or shutil.which('ros2')
    if exe is None or importlib.util.find_spec('ros2launch') is None:
        pytest.skip('the ros2 CLI with ros2launch is not installed')
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = Path(get_package_prefix('edge_infer_ros'))
    except PackageNotFoundError:
        pytest.skip('edge_infer_ros is not in the ament index (run scripts/setup_env.sh)')
    if not (prefix / 'lib' / 'edge_infer_ros' / 'detector_node').exists():
        pytest.skip(f'no lib/edge_infer_ros/detector_node under {prefix}')
    return exe


def ros2(exe: str, *args: str, timeout: float = 60.0, attempts: int = 8,
         retry_on: tuple[str, ...] = ('Node not found', 'not available'),
         stderr: bool = False) -> str:
    """Run ``ros2 ARGS --no-daemon --spin-time N``; retry while the node is not discovered yet.

    Returns stdout (and stderr after it with ``stderr``); fails the test with the command's
    output when it exits non-zero. Each call starts a new DDS participant that must discover the
    node within the spin time; on a loaded machine four tries (about 12 s) were once not enough.
    """
    command = [exe, *args, '--no-daemon', '--spin-time', SPIN_TIME]
    for attempt in range(attempts):
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
        output = done.stdout + done.stderr
        if done.returncode == 0 and not any(text in output for text in retry_on):
            return output if stderr else done.stdout
        if attempt + 1 < attempts and any(text in output for text in retry_on):
            time.sleep(1.0)
            continue
        break
    pytest.fail(f'{" ".join(command[1:])} exited {done.returncode}: {output}')


class Launched:
    """A ``ros2 launch`` in its own process group, as a terminal runs it; output to a file."""

    def __init__(self, exe: str, args: list[str], log: Path) -> None:
        self.log = log
        # faulthandler: a launch that hangs shows every thread's stack on SIGABRT (see kill)
        env = {**os.environ, 'PYTHONFAULTHANDLER': '1'}
        with log.open('w') as out:
            self.process = subprocess.Popen([exe, 'launch', *args], stdout=out, env=env,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        """Everything printed so far."""
        return self.log.read_text(errors='replace')

    def wait_for(self, *texts: str, timeout: float = 90.0) -> None:
        """Wait until every one of ``texts`` was printed; fail with the output if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.text()
            if all(t in output for t in texts):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        missing = [t for t in texts if t not in self.text()]
        pytest.fail(f'ros2 launch never printed {missing!r}:\n{self.text()}')

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C in the terminal: SIGINT to the whole process group; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # stacks into the log, for the report
            time.sleep(1.0)
            self.kill()
            pytest.fail(f'ros2 launch did not end {timeout} s after Ctrl-C:\n{self.text()}')

    def kill(self) -> None:
        """End whatever is left of the process group, even after launch itself has exited.

        A launch that died of an exception can leave its nodes running; they share its group.
        """
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
