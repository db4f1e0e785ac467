"""TensorRT builder workspace: a configured size, or at most half of what the GPU can use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_infer_ros.engine import gpu
from edge_infer_ros.errors import ConfigError

__all__ = ['DEFAULT_WORKSPACE_BYTES', 'Workspace', 'auto_workspace', 'resolve_workspace']

#: Used when nothing can be measured (no CUDA runtime, not a Jetson): 1 GiB suits every
#: TensorRT-capable GPU, including the 4 GB Jetson Nano class.
DEFAULT_WORKSPACE_BYTES = 1 << 30
_MIB = 1 << 20


@dataclass(frozen=True)
class Workspace:
    """Chosen workspace size (bytes) and where the figure came from, for the status report."""

    bytes: int
    source: str


def _meminfo_available(path: Path) -> int | None:
    try:
        for line in path.read_text(encoding='ascii').splitlines():
            key, _, value = line.partition(':')
            if key == 'MemAvailable':
                return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def auto_workspace(
    device_id: int,
    *,
    jetson: bool | None = None,
    meminfo: Path = Path('/proc/meminfo'),
    cuda_free: Callable[[int], tuple[int, int] | None] = gpu.cuda_mem_info,
) -> Workspace:
    """Half of the memory available to the GPU, rounded down to MiB.

    On Jetson the GPU shares system RAM, and ``MemAvailable`` (which counts reclaimable page
    cache) is a truer figure than CUDA's free memory; elsewhere ``cudaMemGetInfo`` answers.
    Without either, ``DEFAULT_WORKSPACE_BYTES``.
    """
    if jetson if jetson is not None else gpu.is_jetson():
        available = _meminfo_available(meminfo)
        if available:
            return Workspace(available // 2 // _MIB * _MIB, 'auto: half of MemAvailable (Jetson)')
    info = cuda_free(device_id)
    if info is not None and info[0] > 0:
        return Workspace(info[0] // 2 // _MIB * _MIB, 'auto: half of free GPU memory')
    return Workspace(DEFAULT_WORKSPACE_BYTES, 'default: GPU memory could not be measured')


def resolve_workspace(workspace_bytes: int, device_id: int) -> Workspace:
    """Apply the configured value: positive bytes as given, 0 for automatic.

    Raises:
        ConfigError: a negative size.
    """
    if workspace_bytes < 0:
        msg = f'workspace_bytes is {workspace_bytes!r}; use a positive byte count or 0 for auto'
        raise ConfigError(msg)
    if workspace_bytes > 0:
        return Workspace(workspace_bytes, 'configured')
    return auto_workspace(device_id)
