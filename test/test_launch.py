"""launch/detector.launch.py: declared arguments, DDS profile, autostart, and a real `ros2 launch`.

Needs ``launch`` and ``launch_ros`` (a sourced ROS 2 distro); skipped where they are missing, as
on the pip-wheel CI. The end-to-end test also needs the ``ros2`` CLI (ros2launch) and the package
installed with its ``lib/edge_infer_ros`` executables (``scripts/setup_env.sh`` or colcon).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import signal
import subprocess
import time
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
LAUNCH_FILE = REPO / 'launch' / 'detector.launch.py'
ARGUMENTS = {
    'namespace', 'node_name', 'params_file', 'model_path', 'precision', 'engine_cache_path',
    'image_topic', 'autostart', 'log_level', 'dds_profile',
}

launch = pytest.importorskip('launch', reason='launch (ROS 2) is not installed')
if not hasattr(launch, 'LaunchDescription'):  # the unrelated PyPI project named `launch`
    pytest.skip('launch (ROS 2) is not installed', allow_module_level=True)
pytest.importorskip('launch_ros', reason='launch_ros (ROS 2) is not installed')


@pytest.fixture(scope='module')
def launch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location('detector_launch', LAUNCH_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arguments(launch_module: ModuleType) -> dict[str, launch.actions.DeclareLaunchArgument]:
    description = launch_module.generate_launch_description()
    return {a.name: a for a in description.get_launch_arguments()}


def _context(**configurations: str) -> launch.LaunchContext:
    context = launch.LaunchContext()
    context.launch_configurations.update(configurations)
    return context


def _default(argument: launch.actions.DeclareLaunchArgument) -> str:
    return ''.join(s.perform(launch.LaunchContext()) for s in argument.default_value)


def test_every_argument_is_declared_at_top_level_with_a_description(launch_module) -> None:
    arguments = _arguments(launch_module)
    assert set(arguments) == ARGUMENTS
    for name, argument in arguments.items():
        assert argument.description.strip(), name
        assert argument.description != 'no description given', name


def test_enumerated_arguments_list_their_choices(launch_module) -> None:
    arguments = _arguments(launch_module)
    assert arguments['autostart'].choices == ['true', 'false']
    assert arguments['log_level'].choices == ['debug', 'info', 'warn', 'error', 'fatal']


def test_precision_lists_no_empty_choice_that_the_command_line_cannot_pass(launch_module) -> None:
    """`precision:=` is rejected by ros2 launch, so '' must not show as a valid choice."""
    from edge_infer_ros.config import PRECISIONS

    precision = _arguments(launch_module)['precision']
    assert precision.choices is None
    assert all(p in precision.description for p in PRECISIONS)


def test_given_overrides_hold_only_the_arguments_that_were_given(launch_module) -> None:
    import yaml

    from edge_infer_ros.ros.launch_actions import GivenOverrides

    overrides = GivenOverrides(launch_module.OVERRIDES)
    path = overrides.perform(_context(model_path='/m.onnx', precision='', engine_cache_path=''))
    assert yaml.safe_load(Path(path).read_text()) == {
        '/**': {'ros__parameters': {'model_path': '/m.onnx'}}}
    path = overrides.perform(_context(model_path='', precision='', engine_cache_path=''))
    assert yaml.safe_load(Path(path).read_text()) == {'/**': {'ros__parameters': {}}}


def test_parameter_overrides_default_to_the_params_file(launch_module) -> None:
    arguments = _arguments(launch_module)
    for name in launch_module.OVERRIDES:
        assert _default(arguments[name]) == '', name


@pytest.mark.parametrize(('distro', 'variable'), [
    ('humble', 'FASTRTPS_DEFAULT_PROFILES_FILE'),
    ('jazzy', 'FASTRTPS_DEFAULT_PROFILES_FILE'),
    ('kilted', 'FASTDDS_DEFAULT_PROFILES_FILE'),
    ('rolling', 'FASTDDS_DEFAULT_PROFILES_FILE'),
    (None, 'FASTDDS_DEFAULT_PROFILES_FILE'),
])
def test_dds_profile_sets_the_one_variable_of_the_fast_dds_version(
        launch_module, monkeypatch, distro, variable) -> None:
    from launch.utilities import perform_substitutions

    from edge_infer_ros.ros.dds import profile_variable

    if distro is None:
        monkeypatch.delenv('ROS_DISTRO', raising=False)
    else:
        monkeypatch.setenv('ROS_DISTRO', distro)
    assert profile_variable(os.environ) == variable
    context = _context(dds_profile='/profiles/large.xml')
    (action,) = launch_module._dds_profile(context)
    assert perform_substitutions(context, action.name) == variable
    assert perform_substitutions(context, action.value) == '/profiles/large.xml'


@pytest.mark.parametrize('value', ['', 'none', 'None'])
def test_dds_profile_none_sets_nothing(launch_module, value) -> None:
    assert launch_module._dds_profile(_context(dds_profile=value)) == []


def _detector_actions(launch_module: ModuleType) -> list:
    """The node, the activate handler and the configure request, declared at top level."""
    from launch_ros.actions import LifecycleNode

    from edge_infer_ros.ros.launch_actions import ChangeStateWhenReady

    entities = launch_module.generate_launch_description().entities
    (node,) = [e for e in entities if isinstance(e, LifecycleNode)]
    (activate,) = [e for e in entities if isinstance(e, launch.actions.RegisterEventHandler)]
    (configure,) = [e for e in entities if isinstance(e, ChangeStateWhenReady)]
    return [node, activate, configure]


def _transition(node, start: str, goal: str):
    from launch_ros.events.lifecycle import StateTransition
    from lifecycle_msgs.msg import TransitionEvent

    msg = TransitionEvent()
    msg.start_state.label = start
    msg.goal_state.label = goal
    return StateTransition(action=node, msg=msg)


def test_autostart_activates_after_the_first_successful_configure_only(launch_module) -> None:
    node, activate, _ = _detector_actions(launch_module)
    handler = activate.event_handler
    assert handler.handle_once
    assert handler.matches(_transition(node, 'configuring', 'inactive'))
    assert not handler.matches(_transition(node, 'configuring', 'unconfigured'))
    assert not handler.matches(_transition(node, 'deactivating', 'inactive'))


@pytest.mark.parametrize('autostart', ['true', 'false'])
def test_autostart_gates_configure_and_activate(launch_module, autostart) -> None:
    _, activate, configure = _detector_actions(launch_module)
    context = _context(autostart=autostart)
    assert configure.condition.evaluate(context) is (autostart == 'true')
    assert activate.condition.evaluate(context) is (autostart == 'true')


# --- end to end: the real `ros2 launch`, as a robotics engineer runs it -----------------------

def _ros2_cli() -> str:
    from ros2_cli import ros2_executable

    return ros2_executable()


@pytest.mark.ros
@pytest.mark.slow
def test_ros2_launch_autostarts_and_respects_manual_transitions(ros_graph, tmp_path) -> None:
    from node_fixtures import write_constant_model
    from ros_helpers import LifecycleClient, wait_for

    ros2 = _ros2_cli()
    model = write_constant_model(tmp_path / 'const.onnx')
    log = tmp_path / 'launch.log'
    command = [
        ros2, 'launch', str(LAUNCH_FILE), f'model_path:={model}',
        f'engine_cache_path:={tmp_path / "cache"}', 'namespace:=launch_test',
        'image_topic:=/launch_test/camera/image_raw',
    ]
    with log.open('w') as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        client = LifecycleClient(ros_graph, '/launch_test/detector')

        def state_is(label: str) -> bool:
            try:
                return client.state(timeout=2.0) == label
            except TimeoutError:
                return False

        assert wait_for(lambda: state_is('active'), timeout=60.0), log.read_text()
        # An empty-list default must still be typed, as `ros2 param set ... '[0]'` sends it.
        (result,) = client.set_parameters(class_filter=[0])
        assert result.successful, result.reason
        assert client.transition('deactivate')
        assert client.transition('cleanup')
        assert client.transition('configure')
        time.sleep(2.0)  # time for a wrongly registered autostart handler to activate again
        assert client.state() == 'inactive'
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30.0)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert 'detecting on /launch_test/camera/image_raw' in text
    assert process.returncode == 0, text
    assert 'process has finished cleanly' in text, text


def test_autostart_activates_even_when_the_transition_event_is_lost(launch_module) -> None:
    """A node may publish its transition event before it has discovered launch's subscription.

    Seen in a fresh-clone run: configure succeeded, the event never reached launch, and the node
    stayed inactive. The configure now asks for the activate itself, sharing a once-only token
    with the event handler's activate, so exactly one of them asks.
    """
    _, activate, configure = _detector_actions(launch_module)
    _, entities = activate.event_handler.describe()
    (handler_activate,) = entities
    follow_up = configure._then
    assert follow_up is not None and follow_up._transition_id == 3
    assert follow_up._once is not None and follow_up._once is handler_activate._once
    assert follow_up._once.take() and not handler_activate._once.take()
