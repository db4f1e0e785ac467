"""``build_engine`` end to end on a tiny model, from a ROS 2 parameters YAML file."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

from engine_models import conv_model
import onnxruntime as ort
import pytest

from edge_infer_ros.tools.build_engine import main

REPO = Path(__file__).resolve().parent.parent


def _params(tmp_path: Path, model: Path, **extra: str) -> Path:
    lines = [
        '/**:',
        '  ros__parameters:',
        f'    model_path: {model}',
        '    providers: [tensorrt, cuda, cpu]',
        f'    engine_cache_path: {tmp_path / "engines"}',
        '    warmup_iterations: 2',
        *(f'    {k}: {v}' for k, v in extra.items()),
    ]
    path = tmp_path / 'detector.yaml'
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


def test_builds_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    assert main(['--params-file', str(_params(tmp_path, model)), '--precision', 'fp32']) == 0
    out = capsys.readouterr().out
    assert 'cache key        : m-fp32-' in out
    assert 'provider used' in out and 'elapsed' in out
    assert str(tmp_path / 'engines') in out


def test_overrides_beat_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_model(tmp_path / 'real.onnx')
    params = _params(tmp_path, tmp_path / 'missing.onnx')
    other = tmp_path / 'other-cache'
    argv = ['--params-file', str(params), '--model-path', str(model),
            '--engine-cache-path', str(other)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'real-fp16-' in out and str(other) in out


def test_failure_exits_non_zero_with_a_message(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    params = _params(tmp_path, tmp_path / 'missing.onnx')
    assert main(['--params-file', str(params)]) == 1
    assert "build_engine: error: model_path '" in capsys.readouterr().err


def test_typo_in_extra_options_fails_before_building(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    params = _params(tmp_path, model, trt_extra_options='["trt_optimization_level=3"]')
    assert main(['--params-file', str(params)]) == 1
    assert "did you mean 'trt_builder_optimization_level'" in capsys.readouterr().err


def test_policy_error_without_tensorrt_exits_non_zero(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    params = _params(tmp_path, model)
    code = main(['--params-file', str(params), '--fallback-policy', 'error'])
    captured = capsys.readouterr()
    if code == 0:  # a machine where TensorRT and CUDA really run
        assert 'provider used    : TensorrtExecutionProvider' in captured.out
    else:
        assert code == 1
        assert 'build_engine: error: requested provider' in captured.err


def test_bad_usage_exits_2() -> None:
    with pytest.raises(SystemExit) as stop:
        main(['--precision', 'int4'])
    assert stop.value.code == 2


def test_runs_as_a_command(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    result = subprocess.run(
        [sys.executable, '-m', 'edge_infer_ros.tools.build_engine', '--params-file',
         str(_params(tmp_path, model)), '--fallback-policy', 'allow'],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert 'cache key' in result.stdout
    assert ort.__version__  # the child used the same onnxruntime
