"""Which layout a 4-D image tensor declares, read from its dims alone.

Why one place: the engine (fitting ``input_shape: HxW`` to the model's own input) and the
decoder choice (TensorFlow Object Detection API exports sit behind an NHWC image input) must
agree on what an NHWC image input is.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ['channels_last']


def channels_last(dims: Sequence[object]) -> bool:
    """Whether ``dims`` are an ``[N, H, W, C]`` image: 1 or 3 channels last, and not second.

    Dims may be symbols or None (dynamic); a fixed channel count is what tells the layouts apart.
    """
    return len(dims) == 4 and dims[3] in (1, 3) and dims[1] not in (1, 3)
