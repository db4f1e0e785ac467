"""Engine cache keys and manifests: never reuse an engine across keys, never crash on a bad one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine_models import conv_model, make_config
import numpy as np
import onnx
import pytest

from edge_infer_ros.engine import cache_key, create_engine
from edge_infer_ros.engine.cache import (
    MANIFEST_NAME,
    prepare_cache_dir,
    read_manifest,
    snapshot,
    write_manifest,
)
from edge_infer_ros.engine.model import read_model_info


def test_key_is_stable_and_readable(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'yolo v8.onnx')
    key = cache_key(make_config(model, tmp_path))
    assert key == cache_key(make_config(model, tmp_path))
    assert key.startswith('yolo_v8-fp16-')


def test_retrained_model_with_same_file_name_gets_a_new_key(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'detector.onnx', seed=0)
    before = cache_key(make_config(model, tmp_path))
    conv_model(tmp_path / 'detector.onnx', seed=1)  # same name, same graph, new weights
    assert cache_key(make_config(model, tmp_path)) != before


def test_precision_shapes_and_builder_settings_change_the_key(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'dyn.onnx', ('N', 3, 'H', 'W'))
    base = make_config(model, tmp_path, input_shape=(1, 3, 32, 32))
    variants = [
        make_config(model, tmp_path, input_shape=(1, 3, 32, 32), precision='fp32'),
        make_config(model, tmp_path, input_shape=(1, 3, 64, 32)),
        make_config(model, tmp_path, input_shape=(1, 3, 32, 32),
                    profile_min_shapes='images:1x3x16x16', profile_opt_shapes='images:1x3x32x32',
                    profile_max_shapes='images:1x3x64x64'),
        make_config(model, tmp_path, input_shape=(1, 3, 32, 32), builder_optimization_level=5),
        make_config(model, tmp_path, input_shape=(1, 3, 32, 32),
                    trt_extra_options=(('trt_layer_norm_fp32_fallback', 'true'),)),
    ]
    keys = {cache_key(base), *(cache_key(c) for c in variants)}
    assert len(keys) == 1 + len(variants)
    # Runtime-only settings leave the engine, and so the key, alone.
    same = make_config(model, tmp_path, input_shape=(1, 3, 32, 32), cuda_graph=True,
                       workspace_bytes=1 << 30, warmup_iterations=7)
    assert cache_key(same) == cache_key(base)


def test_external_weights_are_part_of_the_key(tmp_path: Path) -> None:
    model_path = conv_model(tmp_path / 'ext.onnx')
    model = onnx.load(str(model_path))
    onnx.save(model, str(model_path), save_as_external_data=True, all_tensors_to_one_file=True,
              location='ext.onnx.data', size_threshold=0)
    info, _ = read_model_info(model_path)
    assert info.external_files == ('ext.onnx.data',)
    before = cache_key(make_config(model_path, tmp_path))
    data = tmp_path / 'ext.onnx.data'
    raw = bytearray(data.read_bytes())
    raw[0] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert cache_key(make_config(model_path, tmp_path)) != before


def test_manifest_round_trip_is_atomic(tmp_path: Path) -> None:
    folder = tmp_path / 'k'
    folder.mkdir()
    (folder / 'k_1.engine').write_bytes(b'x')
    write_manifest(folder, {'key': 'k', 'files': ['k_1.engine']})
    assert [p.name for p in folder.iterdir() if p.name.startswith('.manifest')] == []
    manifest, reason = read_manifest(folder, 'k')
    assert manifest is not None and reason == ''
    state = prepare_cache_dir(tmp_path, 'k')
    assert state.manifest is not None
    assert state.hit_after(snapshot(folder))
    (folder / 'k_1.engine').write_bytes(b'rebuilt')
    assert not state.hit_after(snapshot(folder))


@pytest.mark.parametrize(('content', 'reason'), [
    ('{"key": "k", "files": [', 'unreadable'),
    ('\udcff', 'unreadable'),
    ('{"key": "other", "files": ["k_1.engine"]}', "does not describe key 'k'"),
    ('{"key": "k", "files": ["gone.engine"]}', 'missing'),
    ('[1, 2]', "does not describe key 'k'"),
])
def test_untrusted_manifest_means_rebuild(tmp_path: Path, content: str, reason: str) -> None:
    folder = tmp_path / 'k'
    folder.mkdir()
    (folder / 'k_1.engine').write_bytes(b'stale')
    (folder / 'k_1.profile').write_bytes(b'stale')
    (folder / MANIFEST_NAME).write_text(content, encoding='utf-8', errors='surrogateescape')
    state = prepare_cache_dir(tmp_path, 'k')
    assert state.manifest is None and reason in state.reason
    assert state.before == {} and not (folder / MANIFEST_NAME).exists()
    assert not (folder / 'k_1.engine').exists()  # TensorRT will build afresh
    assert not state.hit_after({})


def test_corrupt_manifest_does_not_crash_the_engine(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'), fallback_policy='allow')
    folder = tmp_path / 'engines' / cache_key(config)
    folder.mkdir(parents=True)
    (folder / MANIFEST_NAME).write_text('not json', encoding='utf-8')
    (folder / 'stale.engine').write_bytes(b'?')
    with caplog.at_level(logging.WARNING, logger='edge_infer_ros.engine'):
        engine = create_engine(config)
    with engine:
        assert 'not trusted' in caplog.text and 'rebuilding' in caplog.text
        assert not (folder / 'stale.engine').exists()
        assert engine.status.cache_dir == str(folder)
        assert np.isfinite(engine.run()[0]).all()
        if 'TensorrtExecutionProvider' in engine.status.active_providers:  # GPU machine
            manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding='utf-8'))
            assert manifest['key'] == engine.status.cache_key
        else:
            assert engine.status.cache_hit is None
