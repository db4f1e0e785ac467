"""Which environment variable points Fast DDS at the shipped large-image profile.

Fast DDS 3 (ROS 2 Kilted and newer) reads ``FASTDDS_DEFAULT_PROFILES_FILE``; Fast DDS 2 (Humble,
Iron, Jazzy) reads ``FASTRTPS_DEFAULT_PROFILES_FILE``. Setting both makes Fast DDS 3 load the
file twice and reject the duplicate transports, so exactly one is set.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ['FAST_DDS_2_DISTROS', 'profile_variable']

FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')


def profile_variable(environ: Mapping[str, str]) -> str:
    """Name of the profiles-file variable for the ROS distro described by ``environ``."""
    if environ.get('ROS_DISTRO', '').lower() in FAST_DDS_2_DISTROS:
        return 'FASTRTPS_DEFAULT_PROFILES_FILE'
    return 'FASTDDS_DEFAULT_PROFILES_FILE'

