"""Tiny ONNX models that emit hand-made detector outputs, run through the real ONNX Runtime.

Each model takes the usual ``images`` input and returns fixed tensors shaped like one detector
head, so decoder tests exercise the exact shapes, dtypes, names and metadata an
``onnxruntime.InferenceSession`` reports, without any trained weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort

__all__ = ['constant_model', 'rtdetr_official_model', 'run', 'session', 'session_io']

_OPSET = 17


def _value_info(name: str, array_or_shape: np.ndarray | Sequence[int | str], dtype: int) -> object:
    shape = array_or_shape.shape if isinstance(array_or_shape, np.ndarray) else array_or_shape
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _finish(graph: onnx.GraphProto, metadata: Mapping[str, str] | None) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', _OPSET)])
    model.ir_version = 10  # ORT 1.31 refuses the IR version onnx >= 1.20 writes by default.
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _image_signal() -> list[onnx.NodeProto]:
    """Nodes computing ``signal`` [1]: sum over c of (c + 1) * mean of channel c of ``images``.

    Weighting the channels differently makes a channel swap or a wrong normalisation visible.
    """
    weights = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), 'signal_weights')
    return [
        helper.make_node('Cast', ['images'], ['signal_images'], to=TensorProto.FLOAT),
        helper.make_node('ReduceMean', ['signal_images'], ['signal_means'], axes=[0, 2, 3],
                         keepdims=0),
        helper.make_node('Constant', [], ['signal_weights'], value=weights),
        helper.make_node('Mul', ['signal_means', 'signal_weights'], ['signal_weighted']),
        helper.make_node('ReduceSum', ['signal_weighted'], ['signal'], keepdims=1),
    ]


def constant_model(
    outputs: Mapping[str, np.ndarray],
    *,
    input_shape: Sequence[int | str] = (1, 3, 320, 320),
    output_shapes: Mapping[str, Sequence[int | str]] | None = None,
    metadata: Mapping[str, str] | None = None,
    image_terms: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """Return a model with input ``images`` whose outputs are the given constant arrays.

    ``output_shapes`` may declare symbolic dims (e.g. ``['N', 4]``) as exporters do for dynamic
    outputs; by default each output declares the array's own shape. ``image_terms`` makes an
    output depend on the pixels: it becomes ``constant + term * signal`` (see
    ``_image_signal``), so two ways of preparing the same image must agree to the last digit.
    """
    nodes, outs = [], []
    terms = image_terms or {}
    if terms:
        nodes.extend(_image_signal())
    for name, array in outputs.items():
        const = f'{name}_value'
        nodes.append(helper.make_node(
            'Constant', [], [const], value=numpy_helper.from_array(np.asarray(array), const)
        ))
        if name in terms:
            term = f'{name}_term'
            nodes.append(helper.make_node('Constant', [], [term], value=numpy_helper.from_array(
                np.asarray(terms[name], np.float32), term)))
            nodes.append(helper.make_node('Mul', [term, 'signal'], [f'{name}_shift']))
            nodes.append(helper.make_node('Add', [const, f'{name}_shift'], [name]))
            dtype = helper.np_dtype_to_tensor_dtype(np.asarray(array).dtype)
            shape = (output_shapes or {}).get(name, np.asarray(array).shape)
            outs.append(_value_info(name, shape, dtype))
            continue
        nodes.append(helper.make_node('Identity', [const], [name]))
        dtype = helper.np_dtype_to_tensor_dtype(np.asarray(array).dtype)
        shape = (output_shapes or {}).get(name, np.asarray(array).shape)
        outs.append(_value_info(name, shape, dtype))
    graph = helper.make_graph(
        nodes, 'heads', [_value_info('images', input_shape, TensorProto.FLOAT)], outs
    )
    return _finish(graph, metadata)


def rtdetr_official_model(
    normalised_xyxy: np.ndarray, scores: np.ndarray, labels: np.ndarray, input_size: int = 320,
    score_term: np.ndarray | None = None,
) -> bytes:
    """Return an official-RT-DETR-style model: boxes = normalised xyxy * orig_target_sizes.

    Like the real postprocessor, the box scaling happens inside the model from the
    ``orig_target_sizes`` [B, 2] int64 (W, H) input, so the decoder's extra input is exercised.
    ``score_term`` adds ``score_term * signal`` of the pixels to the scores (``constant_model``).
    """
    k = normalised_xyxy.shape[1]
    nodes = [
        helper.make_node('Constant', [], ['norm'], value=numpy_helper.from_array(
            normalised_xyxy.astype(np.float32), 'norm')),
        helper.make_node('Cast', ['orig_target_sizes'], ['sizes_f'], to=TensorProto.FLOAT),
        helper.make_node('Concat', ['sizes_f', 'sizes_f'], ['whwh'], axis=1),
        helper.make_node('Unsqueeze', ['whwh', 'axis1'], ['whwh3']),
        helper.make_node('Constant', [], ['axis1'], value=numpy_helper.from_array(
            np.array([1], np.int64), 'axis1')),
        helper.make_node('Mul', ['norm', 'whwh3'], ['boxes']),
        helper.make_node('Constant', [], ['scores_value'], value=numpy_helper.from_array(
            scores.astype(np.float32), 'scores_value')),
        helper.make_node('Constant', [], ['labels'], value=numpy_helper.from_array(
            labels.astype(np.int64), 'labels')),
    ]
    nodes.insert(3, nodes.pop(4))  # The axes constant must precede its Unsqueeze.
    if score_term is None:
        nodes.append(helper.make_node('Identity', ['scores_value'], ['scores']))
    else:
        nodes += _image_signal()
        nodes += [
            helper.make_node('Constant', [], ['score_term'], value=numpy_helper.from_array(
                score_term.astype(np.float32), 'score_term')),
            helper.make_node('Mul', ['score_term', 'signal'], ['score_shift']),
            helper.make_node('Add', ['scores_value', 'score_shift'], ['scores']),
        ]
    graph = helper.make_graph(
        nodes,
        'rtdetr_official',
        [
            _value_info('images', ['N', 3, input_size, input_size], TensorProto.FLOAT),
            _value_info('orig_target_sizes', ['N', 2], TensorProto.INT64),
        ],
        [
            _value_info('labels', ['N', k], TensorProto.INT64),
            _value_info('boxes', ['N', k, 4], TensorProto.FLOAT),
            _value_info('scores', ['N', k], TensorProto.FLOAT),
        ],
    )
    return _finish(graph, None)


def session(model: bytes) -> ort.InferenceSession:
    """Open ``model`` on the CPU provider."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


def session_io(
    sess: ort.InferenceSession,
) -> tuple[list[tuple[str, list[object]]], list[tuple[str, list[object]]], dict[str, str]]:
    """Return (inputs, outputs, metadata) as ``select_decoder`` takes them."""
    inputs = [(i.name, list(i.shape)) for i in sess.get_inputs()]
    outputs = [(o.name, list(o.shape)) for o in sess.get_outputs()]
    return inputs, outputs, dict(sess.get_modelmeta().custom_metadata_map)


def run(
    sess: ort.InferenceSession, extra: Mapping[str, np.ndarray] | None = None
) -> list[np.ndarray]:
    """Run ``sess`` on a blank image (plus ``extra`` inputs) and return all outputs."""
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    feeds = {sess.get_inputs()[0].name: np.zeros(shape, np.float32), **(extra or {})}
    return sess.run(None, feeds)
