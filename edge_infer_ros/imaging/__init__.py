"""Images in, model input out (ROS-free): decoding ``sensor_msgs`` payloads and letterboxing.

``decode`` turns raw ``Image`` fields and ``CompressedImage`` bytes into numpy views with the
same pixels cv_bridge gives; ``preprocess`` letterboxes them into the engine's preallocated input
and keeps the transform that maps boxes back to image pixels.
"""

__all__: list[str] = []
