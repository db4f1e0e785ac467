"""Dynamic dimensions: fixed input_shape or TensorRT min/opt/max profiles, with clear errors."""

from __future__ import annotations

from pathlib import Path

from engine_models import conv_model, make_config, two_input_model
from hypothesis import given
from hypothesis import strategies as st
import pytest

from edge_infer_ros.engine import create_engine, format_profile, parse_profile
from edge_infer_ros.engine.model import ValueInfo
from edge_infer_ros.engine.shapes import plan_shapes
from edge_infer_ros.errors import ConfigError

DYN = ValueInfo('images', 1, ('N', 3, 'H', 'W'))
SIZES = ValueInfo('orig_target_sizes', 7, ('N', 2))
STATIC = ValueInfo('images', 1, (1, 3, 8, 8))
PROFILE = ('images:1x3x16x16', 'images:1x3x32x32', 'images:4x3x64x64')

names = st.text(st.characters(categories=('L', 'N'), include_characters='_:./'), min_size=1,
                max_size=12).filter(lambda s: not s.startswith(':') and ',' not in s)
shapes = st.lists(st.integers(1, 4096), min_size=1, max_size=5).map(tuple)


@given(st.dictionaries(names, shapes, min_size=1, max_size=4))
def test_profile_strings_round_trip(profile: dict[str, tuple[int, ...]]) -> None:
    assert parse_profile(format_profile(profile)) == profile


def test_tensorflow_style_names_keep_their_colon() -> None:
    assert parse_profile('input_1:0:1x3x8x8') == {'input_1:0': (1, 3, 8, 8)}


@pytest.mark.parametrize('text', ['images', 'images:', 'images:1xAx3', ':1x3', 'images:0x3',
                                  'a:1,a:2'])
def test_malformed_profile_strings(text: str) -> None:
    with pytest.raises(ConfigError, match='profile'):
        parse_profile(text)


def test_fixed_shape_binds_symbols_of_other_inputs() -> None:
    plan = plan_shapes([DYN, SIZES], (2, 3, 32, 48))
    assert plan.shapes == {'images': (2, 3, 32, 48), 'orig_target_sizes': (2, 2)}
    assert plan.symbols == {'N': 2, 'H': 32, 'W': 48}
    assert plan.profile_min == plan.profile_max == (
        'images:2x3x32x48,orig_target_sizes:2x2')


def test_profiles_feed_tensorrt_and_opt_feeds_the_buffers() -> None:
    plan = plan_shapes([DYN], profiles=PROFILE)
    assert plan.shapes == {'images': (1, 3, 32, 32)}
    assert (plan.profile_min, plan.profile_opt, plan.profile_max) == PROFILE


def test_input_shape_must_lie_inside_the_profile() -> None:
    assert plan_shapes([DYN], (2, 3, 48, 48), PROFILE).shapes['images'] == (2, 3, 48, 48)
    with pytest.raises(ConfigError, match='outside the profile'):
        plan_shapes([DYN], (1, 3, 128, 128), PROFILE)


def test_static_model_needs_no_profile() -> None:
    plan = plan_shapes([STATIC])
    assert plan.shapes == {'images': (1, 3, 8, 8)} and plan.profile_min == ''


@pytest.mark.parametrize(('shape', 'profiles', 'match'), [
    ((), ('images:1x3x8x8', '', ''), r"\['profile_opt_shapes', 'profile_max_shapes'\] is empty"),
    ((), ('imgs:1x3x8x8',) * 3, "not a model input; did you mean 'images'"),
    ((), ('images:1x3x8',) * 3, 'rank 3'),
    ((), ('images:1x3x8x8', 'images:1x3x4x4', 'images:1x3x8x8'), 'min <= opt <= max'),
    ((), ('images:1x1x8x8',) * 3, 'model fixes it to 3'),
    ((1, 4, 8, 8), ('', '', ''), 'input_shape sets dim 1'),
    ((), ('images:1x3x8x8', 'images:1x3x8x8,orig_target_sizes:1x2', 'images:1x3x8x8'),
     'name different inputs'),
])
def test_invalid_shape_configuration(shape: tuple[int, ...], profiles: tuple[str, str, str],
                                     match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_shapes([DYN, SIZES], shape, profiles)


def test_shared_dimension_must_agree() -> None:
    profiles = ('images:1x3x8x8,orig_target_sizes:2x2',) * 3
    with pytest.raises(ConfigError, match="dimension 'N' is 1 .* and 2"):
        plan_shapes([DYN, SIZES], profiles=profiles)


def test_dynamic_model_without_shape_names_the_parameter(tmp_path: Path) -> None:
    model = conv_model(tmp_path / 'dyn.onnx', ('N', 3, 'H', 'W'))
    with pytest.raises(ConfigError, match=r"input 'images' has dynamic dims \['N', 'H', 'W'\]; "
                                          "set 'input_shape'"):
        create_engine(make_config(model, tmp_path))


def test_second_input_without_shared_symbol_needs_a_profile() -> None:
    other = ValueInfo('extra', 1, ('K', 4))
    with pytest.raises(ConfigError, match="input 'extra' .* set all three of profile_min"):
        plan_shapes([DYN, other], (1, 3, 8, 8))


def test_engine_uses_bound_shapes_on_cpu(tmp_path: Path) -> None:
    model = two_input_model(tmp_path / 'detr.onnx')
    with create_engine(make_config(model, tmp_path, input_shape=(1, 3, 24, 40))) as engine:
        assert [t.shape for t in engine.inputs] == [(1, 3, 24, 40), (1, 2)]
        assert [t.shape for t in engine.outputs] == [(1, 3), (1, 2)]


def test_dynamic_ultralytics_export_takes_its_size_from_imgsz_metadata(tmp_path) -> None:
    model = conv_model(tmp_path / 'dyn.onnx', ('batch', 3, 'height', 'width'),
                       metadata={'imgsz': '[32, 48]'})
    with create_engine(make_config(model, tmp_path)) as engine:
        assert engine.inputs[0].shape == (1, 3, 32, 48)
    with create_engine(make_config(model, tmp_path, input_shape=(1, 3, 16, 16))) as engine:
        assert engine.inputs[0].shape == (1, 3, 16, 16)
    bare = conv_model(tmp_path / 'bare.onnx', ('batch', 3, 'height', 'width'))
    with pytest.raises(ConfigError, match='input_shape'):
        create_engine(make_config(bare, tmp_path))
