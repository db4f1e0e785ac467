"""Two detectors from the package's launch file: /idle (autostart false) and /busy."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """/idle stays unconfigured; /busy configures with busy_params."""
    def detector(**arguments):  # a source per include: each loads its own actions
        source = PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare('edge_infer_ros'), 'launch', 'detector.launch.py']))
        return GroupAction([IncludeLaunchDescription(source,
                                                     launch_arguments=arguments.items())])

    return LaunchDescription([
        DeclareLaunchArgument('idle_params'),
        DeclareLaunchArgument('busy_params'),
        detector(namespace='idle', autostart='false',
                 params_file=LaunchConfiguration('idle_params')),
        detector(namespace='busy', params_file=LaunchConfiguration('busy_params')),
    ])
