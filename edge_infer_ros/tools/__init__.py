"""Command-line tools that need no ROS graph.

``build_engine``, and ``cli_params``: the ``-p name:=value`` options every offline tool shares.
"""

__all__: list[str] = []
