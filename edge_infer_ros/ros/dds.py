"""Which environment variable points Fast DDS at the shipped large-image profile.

Fast DDS 3 (ROS 2 Kilted and newer) reads ``FASTDDS_DEFAULT_PROFILES_FILE``; Fast DDS 2 (Humble,
Iron, Jazzy) reads ``FASTRTPS_DEFAULT_PROFILES_FILE``. Setting both makes Fast DDS 3 load the
file twice and reject the duplicate transports, so exactly one is set.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ['FAST_DDS_2_DISTROS', 'image_history_depth', 'profile_variable']

FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')


def profile_variable(environ: Mapping[str, str]) -> str:
    """Name of the profiles-file variable for the ROS distro described by ``environ``."""
    if environ.get('ROS_DISTRO', '').lower() in FAST_DDS_2_DISTROS:
        return 'FASTRTPS_DEFAULT_PROFILES_FILE'
    return 'FASTDDS_DEFAULT_PROFILES_FILE'


def image_history_depth(configured: int, environ: Mapping[str, str]) -> int:
    """The image subscription's KEEP_LAST depth: ``configured``, or chosen when it is 0 (auto).

    The node takes a frame only when its worker can use it, so the history holds the frames that
    arrive meanwhile. With a DDS profile file in force (the shipped large-image profile: whole
    frames through shared memory), a depth of 1 lets the middleware replace a stale frame at no
    cost to the node; a deeper history only adds frames the node must take to drop (each one a
    6 MB copy at 1080p). With the middleware's defaults the camera's shared-memory segment
    (about 0.5 MB) cannot hold a large frame, so it travels in 64 KB fragments; when the node's
    receive thread falls behind (inference fills the cores) fragments are lost (a best-effort
    subscription received almost no 1080p frame, with no UDP buffer errors counted) and the
    reliable protocol repairs them, while no newer frame is delivered: the worker waited up to
    100-270 ms for a frame. A short history starves the reassembly further. Measured on 2 cores
    with a 1080p camera at 30 Hz and a 38 ms model (single runs of bench/bench_stream.py,
    default transport): depth 2 gave 11.3-15.1 frames/s (median 12.1 of 8 runs, image age p99
    153-180 ms), depth 3 14.0 and 16.4 (p99 177-191 ms), depth 4 13.2-15.6 (median 14.3 of 8,
    p99 212-239 ms); 1080p JPEG the same at 2 and 4.
    Earlier, with a slower model, depth 1 gave 1.6-4.2 frames/s where depth 2 gave 4.5-5.0.
    """
    if configured > 0:
        return configured
    return 1 if environ.get(profile_variable(environ)) else 3
