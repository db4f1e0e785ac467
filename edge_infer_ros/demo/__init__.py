"""The demo: procedurally generated scenes, a synthetic camera node and the ``demo`` command.

``scene`` renders images with ground truth (also the training data of the shipped demo
detector); ``synthetic_camera`` publishes them; ``run`` drives camera and detector the way the
launch file does and scores the detections. Nothing outside this package imports it.
"""

__all__: list[str] = []
