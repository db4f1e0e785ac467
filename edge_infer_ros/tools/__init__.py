"""Command-line tools that need no ROS graph.

``build_engine``; ``cli_params``: the ``-p name:=value`` options every offline tool shares;
``outputs``: the rules every offline tool's output folders follow (never an input, replaced only
when marked as the tool's own).
"""

__all__: list[str] = []
