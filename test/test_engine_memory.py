"""Workspace: configured bytes, or half of what the GPU can use (system RAM on Jetson)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_infer_ros.engine import DEFAULT_WORKSPACE_BYTES, auto_workspace
from edge_infer_ros.engine.gpu import is_jetson
from edge_infer_ros.engine.memory import resolve_workspace
from edge_infer_ros.errors import ConfigError

MIB = 1 << 20


def _no_cuda(_device: int) -> None:
    return None


def test_configured_workspace_is_used_as_is() -> None:
    assert resolve_workspace(3 << 30, 0).bytes == 3 << 30
    assert resolve_workspace(3 << 30, 0).source == 'configured'


def test_negative_workspace_is_rejected() -> None:
    with pytest.raises(ConfigError, match='workspace_bytes is -1'):
        resolve_workspace(-1, 0)


def test_jetson_uses_half_of_available_system_memory(tmp_path: Path) -> None:
    meminfo = tmp_path / 'meminfo'
    meminfo.write_text('MemTotal: 8000000 kB\nMemAvailable: 6291456 kB\n', encoding='ascii')
    workspace = auto_workspace(0, jetson=True, meminfo=meminfo, cuda_free=_no_cuda)
    assert workspace.bytes == 3 << 30
    assert 'Jetson' in workspace.source


def test_discrete_gpu_uses_half_of_free_memory() -> None:
    def cuda_free(_device: int) -> tuple[int, int]:
        return (10 << 30) + 12345, 80 << 30

    workspace = auto_workspace(0, jetson=False, cuda_free=cuda_free)
    assert workspace.bytes == 5 << 30 and workspace.bytes % MIB == 0
    assert 'free GPU memory' in workspace.source


def test_nothing_measurable_falls_back_to_documented_default(tmp_path: Path) -> None:
    workspace = auto_workspace(0, jetson=True, meminfo=tmp_path / 'missing',
                               cuda_free=_no_cuda)
    assert workspace.bytes == DEFAULT_WORKSPACE_BYTES
    assert workspace.source.startswith('default')


def test_auto_on_this_machine_gives_a_usable_size() -> None:
    workspace = resolve_workspace(0, 0)
    assert workspace.bytes >= 64 * MIB
    assert workspace.source.startswith(('auto', 'default'))


def test_jetson_detection_files(tmp_path: Path) -> None:
    release, model = tmp_path / 'nv_tegra_release', tmp_path / 'model'
    assert not is_jetson(release, model)
    model.write_bytes(b'NVIDIA Jetson AGX Orin Developer Kit\0')
    assert is_jetson(release, model)
    model.write_bytes(b'Raspberry Pi 5\0')
    assert not is_jetson(release, model)
    release.write_text('# R36 (release), REVISION: 3.0\n', encoding='ascii')
    assert is_jetson(release, model)
