"""Preprocessing as a few ONNX nodes in front of the user's model (``preprocess_in_model``).

The host's letterbox already produces uint8 pixels at the model's size; converting them to float,
normalising and transposing them to NCHW on the host quadruples what crosses to the accelerator
(640x640x3 float32 is 4.9 MB, uint8 1.2 MB) and costs host time the GPU would spend in a fused
elementwise kernel. So the engine can take the letterboxed uint8 image instead: this module
composes, with ``onnx.helper`` and ``onnx.compose``, a graph

    <image>_uint8 [N, H, W, 3] uint8 (``HOST_CHANNEL_ORDER``)
      -> Cast float32 -> Transpose to NCHW -> [channel swap] -> [Mul scale/std] -> [Add -mean/std]
      -> [Cast float16] -> <image>

whose output carries the original input's name and feeds the original model unchanged: its
tensor names (so INT8 calibration ranges), output names and metadata (so decoders and labels
auto-detect) stay as they were. The first node on the uint8 tensor is a Cast, as TensorRT wants
of a uint8 network input.

Every input of the wrapped model gets the one fixed shape the engine plan resolved (the host
only ever feeds that shape): dynamic exports become static models, and TensorRT builds one
static engine instead of a profile.

``onnx`` is imported only here, and only when a model is wrapped, so the node starts without it
when the option is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import re
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_infer_ros.config import PreprocessConfig
from edge_infer_ros.engine.model import ModelInfo
from edge_infer_ros.errors import ConfigError

if TYPE_CHECKING:
    import onnx

__all__ = [
    'HOST_CHANNEL_ORDER',
    'METADATA_KEY',
    'PreprocessGraph',
    'WrapError',
    'prefix_model',
    'store_wrapped',
    'wrap_model',
    'wrap_refusal',
]

#: Channel order of the wrapped input: OpenCV's, which compressed images and ``bgr8`` cameras
#: decode to without a copy; ``rgb8`` images are swapped on the host after the resize.
HOST_CHANNEL_ORDER = 'bgr'
#: Metadata entry a wrapped model carries: the host side of the contract, as JSON.
METADATA_KEY = 'edge_infer_ros.preprocess_in_model'
INPUT_SUFFIX = '_uint8'
_PREFIX = 'edge_infer_ros_preprocess/'
_FLOAT_TYPES = {1: 'float32', 10: 'float16'}  # ONNX TensorProto.FLOAT, FLOAT16
_MIN_OPSET = 7  # numpy-style broadcasting of Mul/Add
_MAX_BYTES = 2_000_000_000  # one protobuf message; larger models keep host preprocessing


class WrapError(ConfigError):
    """onnx could not compose the wrapped model; ``detail`` is onnx's reason in one line."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class PreprocessGraph:
    """What the prefix graph does, and the shapes the wrapped model's inputs are fixed to.

    Attributes:
        image_input: name of the original model's image input (the prefix's output).
        shapes: the bound shape of every original input, image first (NCHW).
        dtype: the image input's element type, ``'float32'`` or ``'float16'``.
        preprocess: scale, mean, std and the model's channel order.
    """

    image_input: str
    shapes: Mapping[str, tuple[int, ...]]
    dtype: str
    preprocess: PreprocessConfig

    @property
    def input_name(self) -> str:
        """Name of the wrapped model's uint8 NHWC input."""
        return f'{self.image_input}{INPUT_SUFFIX}'

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(N, H, W, 3)`` of the uint8 input."""
        n, _, h, w = self.shapes[self.image_input]
        return (n, h, w, 3)

    def describe(self) -> dict[str, Any]:
        """The contract with the host (JSON-ready): input, layout, channel order, normalisation."""
        cfg = self.preprocess
        return {
            'input': self.input_name, 'layout': 'NHWC', 'dtype': 'uint8',
            'channel_order': HOST_CHANNEL_ORDER, 'model_input': self.image_input,
            'model_channel_order': cfg.channel_order, 'model_dtype': self.dtype,
            'scale': cfg.scale, 'mean': list(cfg.mean), 'std': list(cfg.std),
        }


def wrap_refusal(model: ModelInfo, shapes: Mapping[str, tuple[int, ...]]) -> str:
    """Why the model's first input cannot take in-model preprocessing ('' when it can).

    Only a float32/float16 NCHW input with 3 channels is an image the prefix can produce.
    """
    if not model.inputs:
        return 'the model has no inputs'
    image = model.inputs[0]
    shape = shapes.get(image.name, ())
    if image.elem_type not in _FLOAT_TYPES:
        return (f'its image input {image.name!r} is {image.dtype_name}, not a float32/float16 '
                'image')
    if len(shape) != 4 or shape[1] != 3:
        return f'its image input {image.name!r} of shape {shape!r} is not NCHW with 3 channels'
    return ''


def prefix_model(spec: PreprocessGraph, opset: int, ir_version: int) -> onnx.ModelProto:
    """The preprocessing graph alone: uint8 NHWC in, the model's image input out.

    Public for the benchmark that times these nodes on the CPU provider.
    """
    from onnx import TensorProto, helper, numpy_helper

    alpha, beta = spec.preprocess.affine()
    nodes = [
        helper.make_node('Cast', [spec.input_name], ['pixels'], 'pixels', to=TensorProto.FLOAT),
        helper.make_node('Transpose', ['pixels'], ['planes'], 'planes', perm=[0, 3, 1, 2]),
    ]
    inits = []
    last = 'planes'

    def add(op: str, name: str, constant: Any) -> None:
        nonlocal last
        inits.append(numpy_helper.from_array(constant, f'{name}_value'))
        nodes.append(helper.make_node(op, [last, f'{name}_value'], [name], name))
        if op == 'Gather':  # picks planes of the NCHW tensor
            nodes[-1].attribute.append(helper.make_attribute('axis', 1))
        last = name

    if spec.preprocess.channel_order != HOST_CHANNEL_ORDER:
        add('Gather', 'ordered', np.array([2, 1, 0], np.int64))
    per_channel = (1, 3, 1, 1)
    if any(a != 1.0 for a in alpha):
        add('Mul', 'scaled', np.array(alpha, np.float32).reshape(per_channel))
    if any(b != 0.0 for b in beta):
        add('Add', 'normalised', np.array(beta, np.float32).reshape(per_channel))
    if spec.dtype == 'float16':
        nodes.append(helper.make_node('Cast', [last], ['half'], 'half', to=TensorProto.FLOAT16))
        last = 'half'
    nodes[-1].output[0] = spec.image_input
    elem = TensorProto.FLOAT16 if spec.dtype == 'float16' else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, 'edge_infer_ros_preprocess',
        [helper.make_tensor_value_info(spec.input_name, TensorProto.UINT8,
                                       list(spec.input_shape))],
        [helper.make_tensor_value_info(spec.image_input, elem,
                                       list(spec.shapes[spec.image_input]))],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              ir_version=ir_version)
    return model


def _compose(source: onnx.ModelProto, spec: PreprocessGraph) -> onnx.ModelProto:
    """Prefix graph + ``source``, joined on the image tensor; every input fixed to its shape.

    ``merge_graphs`` rather than ``merge_models``: the latter runs the checker, which rejects
    models ONNX Runtime and TensorRT load (graph outputs without a shape, TensorRT plugin ops in
    the default domain). The model fields, metadata and local functions are the source's.
    """
    from onnx import compose, helper

    opset = next((o.version for o in source.opset_import if o.domain in ('', 'ai.onnx')), 0)
    if opset < _MIN_OPSET:
        msg = f'its default-domain opset is {opset}; the preprocessing graph needs {_MIN_OPSET}+'
        raise ValueError(msg)
    prefix = compose.add_prefix(prefix_model(spec, opset, source.ir_version), _PREFIX,
                                rename_inputs=False, rename_outputs=False)
    graph = compose.merge_graphs(prefix.graph, source.graph,
                                 io_map=[(spec.image_input, spec.image_input)],
                                 name=source.graph.name, doc_string=source.graph.doc_string)
    for index, value in enumerate(graph.input):  # e.g. RT-DETR's orig_target_sizes [N, 2]
        if value.name in spec.shapes and value.name != spec.image_input:
            graph.input[index].CopyFrom(helper.make_tensor_value_info(
                value.name, value.type.tensor_type.elem_type, list(spec.shapes[value.name])))
    merged = helper.make_model(
        graph, opset_imports=list(source.opset_import), ir_version=source.ir_version,
        producer_name=source.producer_name, producer_version=source.producer_version,
        domain=source.domain, model_version=source.model_version, doc_string=source.doc_string)
    merged.functions.extend(source.functions)
    merged.metadata_props.extend(source.metadata_props)
    entry = merged.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(spec.describe(), sort_keys=True)
    return merged


def wrap_model(model_path: str, spec: PreprocessGraph) -> bytes:
    """Serialised wrapped model of ``model_path`` (external weights are inlined).

    Raises:
        WrapError: onnx cannot compose the two graphs (e.g. an opset below 7, names that
            collide, a model over 2 GB); the message names the parameter.
    """
    try:
        import onnx
    except ImportError as err:
        msg = ("preprocess_in_model needs the 'onnx' package (pip install -r "
               "requirements/runtime.txt), or set preprocess_in_model to 'false'")
        raise WrapError(msg, 'the onnx package is not installed') from err
    try:
        source = onnx.load(model_path)  # with its external weights, which the result inlines
        if source.ByteSize() > _MAX_BYTES:
            msg = f'the model is {source.ByteSize()} bytes, more than one protobuf can hold'
            raise ValueError(msg)
        return bytes(_compose(source, spec).SerializeToString())
    except Exception as err:  # noqa: BLE001 - onnx raises ValueError and protobuf errors
        lines = str(err).strip().splitlines() or [type(err).__name__]
        detail = re.sub(r'\s+', ' ', lines[0])[:300]  # onnx adds advice for its own API users
        msg = (f'preprocess_in_model cannot wrap {model_path!r} with the preprocessing graph '
               f"({detail}); set preprocess_in_model to 'false'")
        raise WrapError(msg, detail) from err


def store_wrapped(data: bytes, folder: Path, stem: str) -> Path:
    """Write ``data`` once under a content-addressed name in ``folder``; return its path.

    An existing file with the same bytes is reused (the engine cache hashes the content, so a
    rewrite would only churn); anything else is replaced atomically.

    Raises:
        ConfigError: the folder cannot be written.
    """
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = folder / f'{stem}-preprocess-{digest}.onnx'
    try:
        if path.is_file() and path.read_bytes() == data:
            return path
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.wrapped-', suffix='.tmp', dir=folder)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        msg = (f'cannot write the wrapped model into {str(folder)!r} ({err.strerror or err}); '
               "make engine_cache_path writable or set preprocess_in_model to 'false'")
        raise ConfigError(msg) from err
    return path
