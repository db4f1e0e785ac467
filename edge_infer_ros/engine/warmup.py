"""Warm-up on realistic inputs, timing the first run apart from the steady state.

All-zero inputs can take kernel shortcuts (and make TensorRT calibrate nothing useful); smooth
image-like values in [0, 1] behave like camera frames. The first run includes any lazy engine
build or cache load, so it is reported separately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import statistics
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ['WarmupReport', 'fill_realistic', 'warm_up']


@dataclass(frozen=True)
class WarmupReport:
    """Timings (seconds) of the warm-up inferences; steady values are None with one run."""

    iterations: int
    first_run_s: float
    steady_mean_s: float | None
    steady_min_s: float | None
    steady_max_s: float | None


def _smooth_plane(rng: np.random.Generator, height: int, width: int) -> NDArray[Any]:
    """A few low-frequency waves plus mild noise, scaled to [0, 1]."""
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    plane = np.zeros((height, width))
    for _ in range(3):
        fy, fx = rng.uniform(0.5, 4.0, size=2)
        plane += np.sin(2 * np.pi * (fy * y + fx * x) + rng.uniform(0, 2 * np.pi))
    plane += rng.normal(0.0, 0.1, size=plane.shape)
    low, high = plane.min(), plane.max()
    return (plane - low) / (high - low) if high > low else np.full_like(plane, 0.5)


def _image_like(shape: tuple[int, ...], rng: np.random.Generator) -> NDArray[Any]:
    if len(shape) == 4 and shape[1] in (1, 3, 4) and min(shape[2:]) >= 2:  # NCHW
        planes = [_smooth_plane(rng, shape[2], shape[3]) for _ in range(shape[0] * shape[1])]
        return np.stack(planes).reshape(shape)
    if len(shape) == 4 and shape[3] in (1, 3, 4) and min(shape[1:3]) >= 2:  # NHWC
        planes = [_smooth_plane(rng, shape[1], shape[2]) for _ in range(shape[0] * shape[3])]
        return np.stack(planes).reshape(shape[0], shape[3], shape[1], shape[2]).transpose(
            0, 2, 3, 1)
    return rng.uniform(0.05, 1.0, size=shape)


def fill_realistic(buffers: Mapping[str, NDArray[Any]], seed: int = 0) -> None:
    """Write realistic values into the input buffers in place.

    Float inputs get image-like values in [0, 1] (uint8 inputs 0..255). Other integer inputs,
    such as RT-DETR's ``orig_target_sizes``, get the image's size; booleans get True.
    """
    rng = np.random.default_rng(seed)
    size = 640
    for buffer in buffers.values():
        if buffer.ndim == 4:
            size = int(max(buffer.shape[1:]))
            break
    for buffer in buffers.values():
        if np.issubdtype(buffer.dtype, np.floating):
            buffer[...] = _image_like(buffer.shape, rng)
        elif buffer.dtype == np.uint8:
            buffer[...] = np.round(_image_like(buffer.shape, rng) * 255.0)
        elif buffer.dtype == np.bool_:
            buffer[...] = True
        else:
            buffer[...] = size


def warm_up(run: Callable[[], object], iterations: int) -> WarmupReport | None:
    """Run ``iterations`` inferences; None when warm-up is disabled (0)."""
    if iterations <= 0:
        return None
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    steady = times[1:]
    return WarmupReport(
        iterations=iterations,
        first_run_s=times[0],
        steady_mean_s=statistics.fmean(steady) if steady else None,
        steady_min_s=min(steady) if steady else None,
        steady_max_s=max(steady) if steady else None,
    )
