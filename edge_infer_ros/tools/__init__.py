"""Command-line tools that need no ROS graph (``build_engine``)."""

__all__: list[str] = []
