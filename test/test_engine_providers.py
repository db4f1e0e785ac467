"""Requested vs active providers under each fallback policy, with real ONNX Runtime sessions.

On a machine without a usable TensorRT (like CI), asking for it is the real fallback case. Where
TensorRT does become active those tests skip, and the ``gpu`` tests run instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine_models import conv_model, make_config
import numpy as np
import pytest

from edge_infer_ros.engine import cache_key, create_engine
from edge_infer_ros.engine.cache import MANIFEST_NAME
from edge_infer_ros.errors import ProviderFallbackError

TRT = 'TensorrtExecutionProvider'
ENGINE_LOGGER = 'edge_infer_ros.engine'


@pytest.fixture(scope='module')
def trt_active(tmp_path_factory: pytest.TempPathFactory) -> bool:
    root = tmp_path_factory.mktemp('probe')
    model = conv_model(root / 'probe.onnx')
    config = make_config(model, root, providers=('tensorrt',), fallback_policy='allow')
    with create_engine(config) as engine:
        return TRT in engine.status.active_providers


@pytest.fixture
def no_trt(trt_active: bool) -> None:
    if trt_active:
        pytest.skip('TensorRT is active here; the fallback cases cannot happen')


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_model(tmp_path / 'm.onnx')


@pytest.mark.usefixtures('no_trt')
def test_policy_error_names_missing_provider_and_cause(model: Path, tmp_path: Path) -> None:
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'), fallback_policy='error')
    with pytest.raises(ProviderFallbackError, match=f'{TRT}.*(load|found|GPU|mismatch)'):
        create_engine(config)


@pytest.mark.usefixtures('no_trt')
def test_policy_warn_logs_loudly_and_reports(model: Path, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'), fallback_policy='warn')
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOGGER):
        engine = create_engine(config)
    with engine:
        status = engine.status
        assert status.fallback and TRT in status.fallback_reason
        assert status.requested_providers == (TRT, 'CPUExecutionProvider')
        assert status.active_providers == ('CPUExecutionProvider',)
        assert status.cache_hit is None and status.effective_precision == 'fp32'
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and 'PROVIDER FALLBACK' in warnings[0].getMessage()
        # ORT's own silent retry (which drops every TensorRT option) never ran.
        assert 'Falling back' not in capsys.readouterr().out
        assert np.isfinite(engine.run()[0]).all()


@pytest.mark.usefixtures('no_trt')
def test_policy_warn_goes_to_the_given_log_callable(model: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    config = make_config(model, tmp_path, providers=('tensorrt', 'cuda', 'cpu'))
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOGGER):
        create_engine(config, log=seen.append).close()
    assert len(seen) == 1 and TRT in seen[0]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.usefixtures('no_trt')
def test_policy_allow_is_quiet_but_still_reports(model: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(model, tmp_path, providers=('tensorrt',), fallback_policy='allow')
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOGGER):
        engine = create_engine(config)
    with engine:
        assert engine.status.fallback and engine.status.fallback_reason
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_cpu_only_request_is_not_a_fallback(model: Path, tmp_path: Path) -> None:
    config = make_config(model, tmp_path, providers=('cpu',), fallback_policy='error')
    with create_engine(config) as engine:
        assert not engine.status.fallback and engine.status.fallback_reason == ''
        assert engine.status.cache_dir == '' and engine.status.workspace_source == 'not used'
    assert not (tmp_path / 'engines').exists()


@pytest.mark.gpu
def test_tensorrt_cache_is_built_then_reused(trt_active: bool, tmp_path: Path) -> None:
    if not trt_active:
        pytest.skip('TensorRT is not active on this machine')
    model = conv_model(tmp_path / 'gpu.onnx', (1, 3, 64, 64))
    config = make_config(model, tmp_path, providers=('tensorrt', 'cuda', 'cpu'),
                         fallback_policy='error', warmup_iterations=3)
    with create_engine(config) as first:
        assert first.status.cache_hit is False and first.status.active_providers[0] == TRT
        reference = [a.copy() for a in first.run()]
    folder = tmp_path / 'engines' / cache_key(config)
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding='utf-8'))
    assert any(name.endswith('.engine') for name in manifest['files'])
    with create_engine(config) as second:
        assert second.status.cache_hit is True
        assert second.status.build_seconds < first.status.build_seconds
        for got, want in zip(second.run(), reference, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)
    conv_model(tmp_path / 'gpu.onnx', (1, 3, 64, 64), seed=5)  # retrained, same name
    with create_engine(config) as third:
        assert third.status.cache_key != second.status.cache_key
        assert third.status.cache_hit is False
