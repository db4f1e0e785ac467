"""A robot's launch file as users write it: the detector in a namespace, its camera remapped.

Its own arguments are not called ``namespace``: an included launch file sees its includer's
launch configurations, and the detector's ``namespace`` argument would pick that up.

Includes the package's launch file by package name under ``PushRosNamespace`` and ``SetRemap``,
and hands it the robot's params file.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import PushRosNamespace, SetRemap
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """The detector under /<namespace>, reading the robot's camera topic."""
    detector = PathJoinSubstitution(
        [FindPackageShare('edge_infer_ros'), 'launch', 'detector.launch.py'])
    return LaunchDescription([
        DeclareLaunchArgument('params_file'),
        DeclareLaunchArgument('robot', default_value='robot'),
        DeclareLaunchArgument('camera', default_value='/cam/image_raw'),
        GroupAction([
            PushRosNamespace(LaunchConfiguration('robot')),
            SetRemap(src='image_raw', dst=LaunchConfiguration('camera')),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(detector),
                launch_arguments={'params_file': LaunchConfiguration('params_file')}.items()),
        ]),
    ])
