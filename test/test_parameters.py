"""The parameter table, the shipped YAML and the typed configuration built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.parameters import (
    PARAMETERS,
    load_params_file,
    load_pipeline_config,
    node_config_from_params,
    parse_workspace,
    pipeline_config_from_params,
    validate_params,
)

YAML = Path(__file__).resolve().parent.parent / 'config' / 'detector.yaml'


def test_shipped_yaml_lists_every_parameter_with_its_default() -> None:
    values = load_params_file(YAML)
    empty_lists = {s.name for s in PARAMETERS if s.default == []}
    assert set(values) == {s.name for s in PARAMETERS} - empty_lists
    for spec in PARAMETERS:
        if spec.name in values:
            assert values[spec.name] == pytest.approx(spec.default), spec.name


def test_shipped_yaml_is_accepted_by_rcl_and_declares_on_the_node(ros_graph, tmp_path) -> None:
    from edge_infer_ros.ros.node import DetectorNode

    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file', str(YAML),
                                      '-p', 'confidence_threshold:=0.4'])
    try:
        node = DetectorNode(context=context)
        assert node.get_parameter('precision').value == 'fp16'
        assert node.get_parameter('confidence_threshold').value == pytest.approx(0.4)
        assert node.get_parameter('class_filter').value == []
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_empty_lists_from_a_dumped_params_file_configure(tmp_path) -> None:
    from node_fixtures import write_constant_model
    from rclpy.lifecycle import TransitionCallbackReturn

    from edge_infer_ros.ros.node import DetectorNode

    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context

    model = write_constant_model(tmp_path / 'm.onnx')
    params = tmp_path / 'dump.yaml'
    params.write_text(
        '/detector:\n  ros__parameters:\n    class_filter: []\n    trt_extra_options: []\n'
        f'    model_path: {model}\n    providers: [cpu]\n    engine_cache_path: {tmp_path}\n')
    context = Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file', str(params)])
    try:
        node = DetectorNode(context=context)
        assert node.get_parameter('class_filter').value == []
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_unknown_name_suggests_the_closest_parameter() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter 'confidence_treshold'; did you mean "
                                          r"'confidence_threshold'"):
        validate_params({'confidence_treshold': 0.3})


@pytest.mark.parametrize(('name', 'value', 'pattern'), [
    ('precision', 'fp8', r"'precision' is 'fp8'; use one of"),
    ('confidence_threshold', 1.5, r'within \[0.0, 1.0\]'),
    ('max_detections', 0, r'within \[1, 10000\]'),
    ('providers', ['tensorrt', 'gpu'], r"'providers' is 'gpu'"),
    ('letterbox', 'yes', r"'letterbox' must be true or false, got 'yes'"),
    ('image_topics', 'image_raw', r"'image_topics' must be a list of strings, got 'image_raw'"),
    ('max_detections', 'many', r"'max_detections' must be an integer, got 'many'"),
    ('mean', [0, 'a', 0], r"'mean' must be a list of numbers, got \[0, 'a', 0\]"),
])
def test_bad_values_are_refused_with_the_parameter_named(name, value, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        validate_params({name: value})


def test_integers_are_taken_where_numbers_and_text_are_expected() -> None:
    values = validate_params({'confidence_threshold': 1, 'mean': [0, 0, 0], 'workspace': 1 << 30},
                             partial=True)
    assert values == {'confidence_threshold': 1.0, 'mean': [0.0, 0.0, 0.0],
                      'workspace': str(1 << 30)}
    assert isinstance(values['confidence_threshold'], float)
    with pytest.raises(ConfigError, match="'workspace' must be a string, got True"):
        validate_params({'workspace': True})


def test_workspace_sizes() -> None:
    assert parse_workspace('auto') == 0
    assert parse_workspace('2GiB') == 2 << 30
    assert parse_workspace('512MB') == 512 * 10**6
    assert parse_workspace('1073741824') == 1 << 30
    with pytest.raises(ConfigError, match='workspace'):
        parse_workspace('lots')


def test_config_objects_from_parameters(tmp_path) -> None:
    cfg = pipeline_config_from_params({
        'model_path': '~/m.onnx', 'input_shape': '480x640', 'providers': ['cuda', 'cpu'],
        'trt_extra_options': ['trt_build_heuristics_enable=1'], 'class_filter': [0, 2],
    })
    assert cfg.engine.model_path == str(Path('~/m.onnx').expanduser())
    assert cfg.engine.input_shape == (1, 3, 480, 640)
    assert cfg.engine.providers == ('cuda', 'cpu')
    assert cfg.engine.trt_extra_options == (('trt_build_heuristics_enable', '1'),)
    assert cfg.decoder.class_filter == (0, 2)
    with pytest.raises(ConfigError, match='key=value'):
        pipeline_config_from_params({'trt_extra_options': ['novalue']})
    with pytest.raises(ConfigError, match='input_shape'):
        pipeline_config_from_params({'input_shape': '1x3x640'})
    with pytest.raises(ConfigError, match='image_topics'):
        node_config_from_params({'image_topics': ['a', 'a']})


def test_params_file_selects_node_section(tmp_path) -> None:
    path = tmp_path / 'p.yaml'
    path.write_text(
        '/**:\n  ros__parameters:\n    precision: fp32\n'
        'detector:\n  ros__parameters:\n    confidence_threshold: 0.5\n'
        '/robot/other:\n  ros__parameters:\n    confidence_threshold: 0.9\n')
    assert load_params_file(path, 'detector') == {'precision': 'fp32',
                                                  'confidence_threshold': 0.5}
    with pytest.raises(ConfigError, match='choose one by name'):
        load_params_file(path)
    cfg = load_pipeline_config(path, 'other', {'precision': 'int8'})
    assert cfg.engine.precision == 'int8'
    assert cfg.decoder.confidence_threshold == 0.9
    with pytest.raises(ConfigError, match='cannot read parameters file'):
        load_params_file(tmp_path / 'missing.yaml')
    (tmp_path / 'bad.yaml').write_text('just text')
    with pytest.raises(ConfigError, match='ros__parameters'):
        load_params_file(tmp_path / 'bad.yaml')
