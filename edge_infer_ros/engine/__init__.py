"""ROS-free inference engine: ONNX Runtime with TensorRT, CUDA or CPU, verified and cached.

``create_engine(config)`` validates every setting (TensorRT option names included) before ONNX
Runtime sees it, creates the session without ORT's silent provider fallback, checks which
providers really run (``fallback_policy`` error/warn/allow), keeps TensorRT engines in a cache
folder per key (model bytes, precision, shapes, versions, GPU), binds preallocated buffers and
warms up. With ``preprocess_in_model`` it first wraps the model in a graph that turns uint8
NHWC pixels into the model's input (``preprocess_graph``). ``Engine.status`` reports all of it.

Typical use::

    engine = create_engine(config)
    preprocess(image, out=engine.input_buffer())   # writes into the bound buffer
    outputs = engine.run()                          # views: copy what you keep
"""

from edge_infer_ros.engine.engine import (
    LOGGER_NAME,
    Engine,
    EngineStatus,
    TensorSpec,
    cache_key,
    create_engine,
)
from edge_infer_ros.engine.memory import DEFAULT_WORKSPACE_BYTES, Workspace, auto_workspace
from edge_infer_ros.engine.plan import preprocess_on_device
from edge_infer_ros.engine.shapes import format_profile, parse_profile
from edge_infer_ros.engine.trt_options import TRT_OPTION_NAMES, check_trt_options
from edge_infer_ros.engine.warmup import WarmupReport

__all__ = [
    'DEFAULT_WORKSPACE_BYTES',
    'Engine',
    'EngineStatus',
    'LOGGER_NAME',
    'TRT_OPTION_NAMES',
    'TensorSpec',
    'WarmupReport',
    'Workspace',
    'auto_workspace',
    'cache_key',
    'check_trt_options',
    'create_engine',
    'format_profile',
    'parse_profile',
    'preprocess_on_device',
]
