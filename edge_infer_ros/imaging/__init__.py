"""Images in, model input out (ROS-free): decoding ``sensor_msgs`` payloads and letterboxing.

``decode`` turns raw ``Image`` fields and ``CompressedImage`` bytes into numpy views with the
same pixels cv_bridge gives (``image_header`` recognises a compressed image's codec and reads
its declared size before anything decodes it); ``preprocess`` letterboxes them into the
engine's preallocated input and keeps the transform that maps boxes back to image pixels;
``layout`` tells an NHWC image input from an NCHW one by its dims.
"""

__all__: list[str] = []
