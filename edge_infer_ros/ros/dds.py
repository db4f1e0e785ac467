"""Fast DDS and large images: which variable loads the shipped profile, and the hint that says so.

Fast DDS 3 (ROS 2 Kilted and newer) reads ``FASTDDS_DEFAULT_PROFILES_FILE``; Fast DDS 2 (Humble,
Iron, Jazzy) reads ``FASTRTPS_DEFAULT_PROFILES_FILE``. Setting both makes Fast DDS 3 load the
file twice and reject the duplicate transports, so exactly one is set.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ['FAST_DDS_2_DISTROS', 'profile_variable', 'stall_hint']

FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')


def profile_variable(environ: Mapping[str, str]) -> str:
    """Name of the profiles-file variable for the ROS distro described by ``environ``."""
    if environ.get('ROS_DISTRO', '').lower() in FAST_DDS_2_DISTROS:
        return 'FASTRTPS_DEFAULT_PROFILES_FILE'
    return 'FASTDDS_DEFAULT_PROFILES_FILE'


def stall_hint(topic: str, stalls: int, longest_s: float, window_s: float, rmw: str,
               environ: Mapping[str, str]) -> str:
    """The warning for a camera whose frames keep arriving late (``streams.DeliveryWatch``).

    It names the cause and the fix on the camera's side, since the node cannot repair it.
    """
    head = (f'{topic}: {stalls} times in the last {window_s:.0f} s the node waited up to '
            f'{longest_s * 1e3:.0f} ms while frames the camera had published never reached it '
            '(delivery_stalls in /diagnostics): the node idles while they are lost. ')
    if 'fastrtps' in rmw or 'fastdds' in rmw:
        variable = profile_variable(environ)
        return head + (
            "Fast DDS's default transport cannot carry images this large without losing and "
            "repairing fragments: start the camera driver's process (and ros2 bag play) with "
            f'{variable}=$(ros2 pkg prefix edge_infer_ros)/share/edge_infer_ros/config/'
            'fastdds_large_images.xml (README: Troubleshooting).')
    return head + (f"Configure {rmw or 'the middleware'} for large messages in the camera's "
                   'process as well as in this one, and between machines the network '
                   '(README: Troubleshooting).')
