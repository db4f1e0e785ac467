"""TensorRT option names and values are checked before ONNX Runtime sees them."""

from __future__ import annotations

from pathlib import Path

from engine_models import conv_model, make_config
import pytest

from edge_infer_ros.engine import TRT_OPTION_NAMES, check_trt_options, create_engine
from edge_infer_ros.engine.engine import _trt_options
from edge_infer_ros.engine.memory import Workspace
from edge_infer_ros.engine.plan import make_plan
from edge_infer_ros.engine.trt_options import MANAGED_OPTIONS, normalize_extra_options
from edge_infer_ros.errors import ConfigError


def test_popular_typo_names_the_real_option(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'),
                         trt_extra_options=(('trt_optimization_level', '3'),))
    with pytest.raises(ConfigError, match="'trt_optimization_level'.*did you mean "
                                          "'trt_builder_optimization_level'"):
        create_engine(config)
    assert not (tmp_path / 'engines').exists()  # rejected before any session or cache folder


def test_unknown_option_without_close_match_has_no_hint() -> None:
    with pytest.raises(ConfigError, match=r"unknown TensorRT provider option 'banana'$"):
        normalize_extra_options([('banana', '1')])


def test_complete_option_dict_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="did you mean 'trt_fp16_enable'"):
        check_trt_options({'device_id': 0, 'trt_fp16_enabled': True})


@pytest.mark.parametrize('key', sorted(MANAGED_OPTIONS))
def test_managed_options_must_use_their_parameter(key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}' is set through the "
                                          f"'{MANAGED_OPTIONS[key]}' parameter"):
        normalize_extra_options([(key, '1')])


def test_values_are_normalised_to_ort_strings() -> None:
    options = normalize_extra_options([
        ('trt_layer_norm_fp32_fallback', 'yes'), ('trt_detailed_build_log', 'OFF'),
        ('trt_min_subgraph_size', ' 5 '), ('trt_tactic_sources', '-CUDNN,+CUBLAS'),
    ])
    assert options == {
        'trt_layer_norm_fp32_fallback': 'True', 'trt_detailed_build_log': 'False',
        'trt_min_subgraph_size': '5', 'trt_tactic_sources': '-CUDNN,+CUBLAS',
    }


@pytest.mark.parametrize(('key', 'value', 'match'), [
    ('trt_sparsity_enable', 'maybe', 'use true or false'),
    ('trt_auxiliary_streams', 'two', 'must be an integer'),
    ('trt_min_subgraph_size', '-1', 'must not be negative'),
])
def test_malformed_values_are_rejected(key: str, value: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        normalize_extra_options([(key, value)])


def test_duplicate_extra_option_is_rejected() -> None:
    with pytest.raises(ConfigError, match='appears twice'):
        normalize_extra_options([('trt_dump_subgraphs', '1'), ('trt_dump_subgraphs', '0')])


@pytest.mark.parametrize('key', sorted(TRT_OPTION_NAMES))
def test_every_real_name_is_accepted_with_a_value_of_its_kind(key: str) -> None:
    accepted = []
    for value in ('true', '3', 'images:1x3x8x8'):
        try:
            accepted.append(check_trt_options({key: value})[key])
        except ConfigError as err:
            assert 'must be an integer' in str(err) or 'true or false' in str(err)
    assert accepted  # a bool, an int or a text option


def test_options_handed_to_ort(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'dyn.onnx', ('N', 3, 'H', 'W'))
    config = make_config(
        model, tmp_path, providers=('tensorrt',), precision='fp16', dla_core=1,
        input_shape=(1, 3, 32, 32), profile_min_shapes='images:1x3x16x16',
        profile_opt_shapes='images:1x3x32x32', profile_max_shapes='images:2x3x64x64',
        trt_extra_options=(('trt_auxiliary_streams', '2'),), export_ep_context=True,
    )
    plan = make_plan(config)
    folder = tmp_path / 'engines' / plan.key
    options = _trt_options(plan, Workspace(123 << 20, 'test'), folder)
    assert options['trt_max_workspace_size'] == str(123 << 20)
    assert options['trt_fp16_enable'] == 'True' and options['trt_int8_enable'] == 'False'
    assert options['trt_engine_cache_enable'] == 'True'
    assert options['trt_engine_cache_prefix'] == plan.key.replace('-', '_')
    assert options['trt_profile_min_shapes'] == 'images:1x3x16x16'
    assert options['trt_profile_max_shapes'] == 'images:2x3x64x64'
    assert options['trt_dla_enable'] == 'True' and options['trt_dla_core'] == '1'
    assert options['trt_auxiliary_streams'] == '2'
    # With an EP-context dump, ORT wants the cache path relative to the context model.
    assert options['trt_dump_ep_context_model'] == 'True'
    assert Path(options['trt_ep_context_file_path']).parent == folder
    assert options['trt_engine_cache_path'] == '.'
    assert set(options) <= TRT_OPTION_NAMES
