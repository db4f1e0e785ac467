"""Parameters from the ``ros2 param`` CLI and from parameters files, good and bad.

Requests carry exactly the messages the CLI sends (ros2param 0.36): ``set`` builds its value with
``rclpy.parameter.get_parameter_value(text)`` (``"[]"`` becomes an empty *bool* array),
``delete`` sends type NOT_SET, ``load`` sends every entry of ``parameter_dict_from_yaml_file``
in one request (``[]`` again an empty bool array), ``dump`` lists and reads every parameter.
Bad start-up values come through ``--ros-args --params-file`` and ``-p`` as on a robot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node_fixtures import (
    collecting,
    image_msg,
    publisher,
    start_detector,
)
import pytest
from ros_helpers import LifecycleClient, wait_for
import yaml

pytestmark = pytest.mark.ros


def cli_set(name: str, text: str) -> Any:
    """The message ``ros2 param set NODE NAME TEXT`` sends."""
    from rcl_interfaces.msg import Parameter
    from rclpy.parameter import get_parameter_value

    return Parameter(name=name, value=get_parameter_value(string_value=text))


def cli_delete(name: str) -> Any:
    """The message ``ros2 param delete NODE NAME`` sends."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue

    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_NOT_SET))


def cli_load(path: Path, node: str) -> list[Any]:
    """The messages ``ros2 param load NODE PATH`` sends."""
    from rclpy.parameter import parameter_dict_from_yaml_file

    return list(parameter_dict_from_yaml_file(str(path), False, target_nodes=[node]).values())


def write_dump(client: LifecycleClient, node: str, path: Path, **changes: Any) -> Path:
    """``ros2 param dump NODE > PATH``, with ``changes`` edited in."""
    values = client.dump_parameters() | changes
    path.write_text(yaml.dump({node: {'ros__parameters': values}}, default_flow_style=False))
    return path


def params_file(path: Path, node: str, body: str) -> Path:
    """A parameters file with ``body`` (YAML lines) for ``node``."""
    path.write_text(f'{node}:\n  ros__parameters:\n{body}')
    return path


def detected_classes(ros_graph, pub, stamp: int) -> list[str]:
    from vision_msgs.msg import Detection2DArray

    with collecting(ros_graph, Detection2DArray, 'detections') as got:
        msg = image_msg(stamp=stamp)
        assert wait_for(lambda: (pub.publish(msg),
                                 any(m.header.stamp.sec == stamp for m in got))[1], timeout=15.0)
        last = [m for m in got if m.header.stamp.sec == stamp][-1]
    return [d.results[0].hypothesis.class_id for d in last.detections]


def test_empty_list_from_the_cli_clears_class_filter(ros_graph, tmp_path, model) -> None:
    node, client = start_detector(ros_graph, tmp_path, model, class_filter=[1])
    name = node.get_fully_qualified_name()
    assert client.transition('configure') and client.transition('activate')
    pub = publisher(ros_graph)
    assert detected_classes(ros_graph, pub, 1) == ['ball']

    (cleared,) = client.send_parameters([cli_set('class_filter', '[]')])
    assert cleared.successful, cleared.reason
    assert client.get_parameters('class_filter') == {'class_filter': []}
    assert detected_classes(ros_graph, pub, 2) == ['cone', 'ball']

    (only_cones,) = client.send_parameters([cli_set('class_filter', '[0]')])
    assert only_cones.successful, only_cones.reason
    assert detected_classes(ros_graph, pub, 3) == ['cone']
    (deleted,) = client.send_parameters([cli_delete('class_filter')])
    assert deleted.successful, deleted.reason
    assert client.get_parameters('class_filter') == {'class_filter': []}
    assert client.describe('class_filter').type == 7  # still an integer array
    assert detected_classes(ros_graph, pub, 4) == ['cone', 'ball']

    client.send_parameters([cli_set('class_filter', '[1]')])
    params = params_file(tmp_path / 'clear.yaml', name, '    class_filter: []\n')
    results = client.send_parameters(cli_load(params, name))
    assert [r.successful for r in results] == [True], [r.reason for r in results]
    assert detected_classes(ros_graph, pub, 5) == ['cone', 'ball']


def test_empty_list_clears_trt_extra_options(ros_graph, tmp_path, model) -> None:
    node, client = start_detector(ros_graph, tmp_path, model,
                                  trt_extra_options=['trt_build_heuristics_enable=1'])
    name = node.get_fully_qualified_name()
    (cleared,) = client.send_parameters([cli_set('trt_extra_options', '[]')])
    assert cleared.successful, cleared.reason
    assert client.get_parameters('trt_extra_options') == {'trt_extra_options': []}
    client.send_parameters([cli_set('trt_extra_options', "['trt_dla_enable=0']")])
    (deleted,) = client.send_parameters([cli_delete('trt_extra_options')])
    assert deleted.successful, deleted.reason
    params = params_file(tmp_path / 'clear.yaml', name, '    trt_extra_options: []\n')
    assert all(r.successful for r in client.send_parameters(cli_load(params, name)))
    assert client.get_parameters('trt_extra_options') == {'trt_extra_options': []}
    assert client.transition('configure')
    # Deleting what has no empty meaning is refused, with what to do instead.
    (kept,) = client.send_parameters([cli_delete('precision')])
    assert not kept.successful and "'precision' cannot be deleted; set it to" in kept.reason


def test_loading_a_dump_onto_a_configured_node(ros_graph, tmp_path, model) -> None:
    node, client = start_detector(ros_graph, tmp_path, model)
    name = node.get_fully_qualified_name()
    assert client.transition('configure') and client.transition('activate')
    dump = write_dump(client, name, tmp_path / 'dump.yaml', confidence_threshold=0.5)
    messages = cli_load(dump, name)
    results = dict(zip((m.name for m in messages), client.send_parameters(messages), strict=True))
    refused = {n: r.reason for n, r in results.items() if not r.successful}
    # Configure-time values unchanged: no-ops that succeed. rclpy's own read-only parameter is
    # refused by rclpy before the node sees it, as on any node.
    assert refused == {'start_type_description_service': 'Trying to set a read-only parameter: '
                                                         'start_type_description_service.'}
    assert client.get_parameters('confidence_threshold')['confidence_threshold'] == 0.5
    (same,) = client.send_parameters([cli_set('precision', 'fp32')])
    assert same.successful, same.reason

    changed = write_dump(client, name, tmp_path / 'changed.yaml', precision='fp16',
                         iou_threshold=0.3)
    messages = cli_load(changed, name)
    results = dict(zip((m.name for m in messages), client.send_parameters(messages), strict=True))
    assert [n for n, r in results.items() if not r.successful] == [
        'precision', 'start_type_description_service']
    assert "'precision' is read at configure" in results['precision'].reason
    assert client.get_parameters('iou_threshold', 'precision') == {
        'iou_threshold': 0.3, 'precision': 'fp32'}


def test_integers_are_doubles_and_type_errors_are_in_words(ros_graph, tmp_path, model) -> None:
    _node, client = start_detector(ros_graph, tmp_path, model)
    results = client.send_parameters([
        cli_set('confidence_threshold', '1'), cli_set('mean', '[0, 0, 0]'),
        cli_set('std', '[1, 1.0, 1]'), cli_set('workspace', '2147483648'),
    ])
    assert all(r.successful for r in results), [r.reason for r in results]
    values = client.get_parameters('confidence_threshold', 'mean', 'std', 'workspace')
    assert values == {'confidence_threshold': 1.0, 'mean': [0.0, 0.0, 0.0],
                      'std': [1.0, 1.0, 1.0], 'workspace': '2147483648'}
    assert isinstance(values['confidence_threshold'], float)
    assert client.transition('configure')

    cases = {
        'max_detections': ('many', "'max_detections' must be an integer, got a string 'many'"),
        'letterbox': ('3', "'letterbox' must be true or false, got an integer 3"),
        'confidence_threshold': ('high', "'confidence_threshold' must be a number, got a string"),
        'class_filter': ('[a, b]', "'class_filter' must be a list of integers, got a list of "
                                   "strings ['a', 'b']"),
        'image_topics': ('5', "'image_topics' must be a list of strings, got an integer 5"),
        'iou_threshold': ('[0.5]', "'iou_threshold' must be a number, got a list of numbers"),
    }
    for name, (text, reason) in cases.items():
        (result,) = client.send_parameters([cli_set(name, text)])
        assert not result.successful, name
        assert reason in result.reason, result.reason
        assert "expected '" not in result.reason
    assert client.describe('confidence_threshold').type == 3  # a refusal leaves it a double
    (out_of_range,) = client.send_parameters([cli_set('confidence_threshold', '2')])
    assert not out_of_range.successful and 'confidence_threshold' in out_of_range.reason


@pytest.mark.parametrize(('name', 'text', 'reason'), [
    ('precision', 'fp8', "'precision' is 'fp8'; use one of"),
    ('providers', '[tensorrt, gpu]', "'providers' is 'gpu'; use one of"),
    ('max_detections', '0', 'max_detections'),
    ('pad_value', '300', 'pad_value'),
    ('diagnostics_period', '0', 'diagnostics_period'),
    ('compressed_codecs', '[jpeg, gif]', "'compressed_codecs' is 'gif'; use one of"),
    ('channel_order', 'rgba', "'channel_order' is 'rgba'"),
    ('model_path', '[a]', "'model_path' must be a string"),
    ('qos_depth', '2.5', "'qos_depth' must be an integer, got a number 2.5"),
    ('image_topics', '[]', None),
    ('input_shape', '64xbad', None),
    ('image_topics', '[cam/image_raw, /cam/image_raw]', None),
])
def test_bad_values_through_the_service_never_break_the_node(
    ros_graph, tmp_path, model, name: str, text: str, reason: str | None,
) -> None:
    """Refused when set, or (values only configure can judge) configure fails: then recovers."""
    _node, client = start_detector(ros_graph, tmp_path, model)
    (result,) = client.send_parameters([cli_set(name, text)])
    if reason is not None:
        assert not result.successful and reason in result.reason, result.reason
    else:
        assert result.successful, result.reason
        assert not client.transition('configure')
        assert client.state() == 'unconfigured'
        default = {'image_topics': '[image_raw]', 'input_shape': "''"}[name]
        (fixed,) = client.send_parameters([cli_set(name, default)])
        assert fixed.successful, fixed.reason
    assert client.transition('configure') and client.transition('activate')


def _start_from_args(args: list[str]) -> Any:
    import rclpy
    from rclpy.context import Context

    from edge_infer_ros.ros.node import DetectorNode

    context = Context()
    rclpy.init(context=context, args=['--ros-args', *args])
    return context, DetectorNode(context=context)


def test_bad_values_in_a_params_file_start_the_node_and_fail_configure(
    tmp_path: Path, model: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    params = tmp_path / 'bad.yaml'
    params.write_text(
        '/detector:\n  ros__parameters:\n'
        f'    model_path: {model}\n    providers: [cpu]\n    engine_cache_path: {tmp_path}\n'
        '    confidence_threshold: 1.5\n    max_detections: "many"\n    iou_threshold: 1\n'
        '    precision: fp8\n    class_filter: []\n    mean: [0, 0, 0]\n'
        '    workspace: 2147483648\n')
    context, node = _start_from_args(['--params-file', str(params), '-p', 'qos_depth:=-1'])
    try:
        lines = [line for line in capfd.readouterr().err.splitlines() if 'refused' in line]
        assert len(lines) == 1, lines
        for expected in ('confidence_threshold=1.5 (a number within [0.0, 1.0])',
                         "max_detections='many' (an integer within [1, 10000])",
                         "precision='fp8' (a string one of fp32, fp16, int8)",
                         'qos_depth=-1 (an integer within [0, 100])'):
            assert expected in lines[0]
        values = node._params.values()
        assert values['iou_threshold'] == 1.0 and values['mean'] == [0.0, 0.0, 0.0]
        assert values['class_filter'] == [] and values['confidence_threshold'] == 0.25
        assert values['workspace'] == '2147483648' and 'workspace' not in lines[0]
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert 'configure failed: start-up parameter values refused' in capfd.readouterr().err
        fixes = [Parameter('confidence_threshold', value=0.5),
                 Parameter('max_detections', value=10), Parameter('precision', value='fp32')]
        assert all(r.successful for r in node.set_parameters(fixes))
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # qos_depth left
        assert node.set_parameters([Parameter('qos_depth', value=2)])[0].successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        node.trigger_cleanup()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
