"""The Python, XML and YAML robot launch files side by side: three detectors, one launch."""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import AnyLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

HERE = Path(__file__).resolve().parent


def generate_launch_description():
    """Include each robot launch file with the same params file."""
    params = {'params_file': LaunchConfiguration('params_file')}.items()
    return LaunchDescription([
        DeclareLaunchArgument('params_file'),
        # Scoped groups: each robot's arguments stay its own.
        *[GroupAction([IncludeLaunchDescription(AnyLaunchDescriptionSource(str(HERE / name)),
                                                launch_arguments=params)])
          for name in ('robot.launch.py', 'robot.launch.xml', 'robot.launch.yaml')],
    ])
