"""Launch the edge_infer_ros detector as a lifecycle node, optionally taking it to active.

Include it from a robot launch file; every argument is listed by
``ros2 launch edge_infer_ros detector.launch.py --show-args`` and the node itself by ``--print``.
Arguments left empty keep the value from ``params_file``, so defaults live only in
config/detector.yaml.
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from edge_infer_ros.ros.launch_actions import (
    ChangeStateWhenReady,
    GivenOverrides,
    TransitionOnce,
)

PACKAGE = 'edge_infer_ros'
FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')
# Launch arguments that, when given, override the same-named parameter of params_file.
OVERRIDES = ('model_path', 'precision', 'engine_cache_path')
# `ros2 launch` rejects an empty value (`name:=`), so the profile is skipped with `none` too.
NO_PROFILE = ('', 'none')


def generate_launch_description():
    """Declare the arguments, the DDS profile, the detector and its autostart."""
    share = FindPackageShare(PACKAGE)
    args = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the detector and its topics.'),
        DeclareLaunchArgument('node_name', default_value='detector',
                              description='Name of the detector node.'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([share, 'config', 'detector.yaml']),
            description='ROS parameters YAML for the detector.'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='ONNX model; empty keeps params_file (or the demo).'),
        # No `choices`: they would have to list the empty default, which `precision:=` cannot
        # pass; the node checks the value at configure.
        DeclareLaunchArgument('precision', default_value='',
                              description='TensorRT precision, fp32, fp16 or int8; empty keeps '
                                          'params_file.'),
        DeclareLaunchArgument('engine_cache_path', default_value='',
                              description='Engine cache folder; empty keeps params_file.'),
        DeclareLaunchArgument('image_topic', default_value='image_raw',
                              description='Camera topic remapped onto image_raw.'),
        DeclareLaunchArgument(
            'autostart', default_value='true', choices=['true', 'false'],
            description='Configure at start, then activate once that configure succeeded.'),
        DeclareLaunchArgument('log_level', default_value='info',
                              choices=['debug', 'info', 'warn', 'error', 'fatal'],
                              description='Logging level of the detector.'),
        DeclareLaunchArgument(
            'dds_profile',
            default_value=PathJoinSubstitution([share, 'config', 'fastdds_large_images.xml']),
            description='Fast DDS profile for large images (shared memory); none to skip.'),
    ]
    node = LifecycleNode(
        package=PACKAGE,
        executable='detector_node',
        name=LaunchConfiguration('node_name'),
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), GivenOverrides(OVERRIDES)],
        remappings=[('image_raw', LaunchConfiguration('image_topic'))],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen',
    )
    autostart = IfCondition(LaunchConfiguration('autostart'))
    # Each transition is asked for once the node's change_state service is up (see
    # ChangeStateWhenReady): a Ctrl-C in the node's first seconds then ends launch cleanly.
    # The configure asks for the activate itself once it is done, and so does the handler below
    # on the node's transition event: whichever comes first (either can be lost to discovery on
    # a busy machine; see launch_actions), the other then does nothing.
    activate_once = TransitionOnce()
    configure = ChangeStateWhenReady(
        node, Transition.TRANSITION_CONFIGURE, condition=autostart,
        then=ChangeStateWhenReady(node, Transition.TRANSITION_ACTIVATE, once=activate_once))
    # Activate on the first configuring -> inactive edge only: after it, a manual deactivate or a
    # manual cleanup + configure (e.g. to change precision) leaves the node inactive. If the
    # launch's own configure failed, the first manual configure that succeeds activates. Not
    # once launch is shutting down (a Ctrl-C while configuring).
    activate = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
            entities=[ChangeStateWhenReady(node, Transition.TRANSITION_ACTIVATE,
                                           once=activate_once)],
            handle_once=True),
        condition=autostart)
    return LaunchDescription([
        *args,
        OpaqueFunction(function=_dds_profile),
        node,
        activate,
        configure,
    ])


def _dds_profile(context):
    """Point Fast DDS at the profile, under the variable name its version reads."""
    profile = LaunchConfiguration('dds_profile').perform(context)
    if profile.strip().lower() in NO_PROFILE:
        return []
    distro = EnvironmentVariable('ROS_DISTRO', default_value='').perform(context)
    # Fast DDS 2 (Humble/Iron/Jazzy) reads the FASTRTPS_ name, Fast DDS 3 the FASTDDS_ one;
    # setting both makes Fast DDS 3 load the profile twice and reject it.
    if distro.lower() in FAST_DDS_2_DISTROS:
        return [SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile)]
    return [SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile)]
