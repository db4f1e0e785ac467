"""Pick the decoder for a model, from the configured ``output_format`` or by looking at it.

``auto`` reads, in order: the input names (an ``orig_target_sizes`` input means the official
RT-DETR/D-FINE export), the output names (EfficientNMS and torchvision name their outputs; behind
an NHWC uint8 image input the same names are TensorFlow Object Detection API boxes), the
Ultralytics metadata (``description`` names RT-DETR; ``end2end``/``args.nms`` mark NMS-free
heads) and finally the main output's shape against the anchor counts the input size implies
(8400 for 640x640 on strides 8/16/32; three times that for anchor-based YOLOv5/v7), or two
outputs that pair boxes with scores of the same candidates. Rows over the anchor-free cells with
an objectness column (YOLOX, YOLOv6) are told from transposed YOLOv8 rows by the class count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from edge_infer_ros.config import OUTPUT_FORMATS
from edge_infer_ros.decoders.base import Decoder, Dims, TensorInfo, normalise_dims
from edge_infer_ros.decoders.boxes_scores import (
    BoxesScoresDecoder,
    RfDetrDecoder,
    find_boxes_scores,
)
from edge_infer_ros.decoders.dense import (
    End2EndDecoder,
    RtDetrUltralyticsDecoder,
    YoloV5Decoder,
    YoloV8Decoder,
    YoloxDecoder,
    anchor_free_strides,
    rtdetr_scored_layout,
)
from edge_infer_ros.decoders.labels import class_names_from_metadata
from edge_infer_ros.decoders.named import (
    EfficientNmsDecoder,
    RtDetrOfficialDecoder,
    TfObjectDetectionDecoder,
    TorchvisionDecoder,
    assign_roles,
)
from edge_infer_ros.errors import ConfigError, DecoderError
from edge_infer_ros.imaging.layout import channels_last

__all__ = ['select_decoder']

_MAX_QUERIES = 1000  # NMS-free heads emit at most this many rows (300 in practice).
_MAX_ROW_VALUES = 64  # x1 y1 x2 y2 score class + masks (32) or keypoints (51) at most.
_SINGLE: dict[str, Callable[[int, int | None], Decoder]] = {
    'yolov8': YoloV8Decoder,
    'yolov5': YoloV5Decoder,
    'yolox': YoloxDecoder,
    'end2end': End2EndDecoder,
    'rtdetr_ultralytics': RtDetrUltralyticsDecoder,
}
_NAMED_ROLES = {
    'rtdetr_official': ('boxes', 'scores', 'labels'),
    'efficient_nms': ('count', 'boxes', 'scores', 'labels'),
    'tf_object_detection': ('count', 'boxes', 'scores', 'labels'),
    'torchvision': ('boxes', 'scores', 'labels'),
}


def _fmt(tensors: Sequence[TensorInfo]) -> str:
    return ', '.join(
        f'{name!r} [{", ".join("?" if d is None else str(d) for d in dims)}]'
        for name, dims in tensors
    )


def _unknown(outputs: Sequence[TensorInfo], why: str) -> DecoderError:
    known = ', '.join(f for f in OUTPUT_FORMATS if f != 'auto')
    msg = (
        f'Cannot decode a model with outputs {_fmt(outputs)} ({why}); set output_format to one '
        f'of {known}.'
    )
    return DecoderError(msg)


def _image_size(inputs: Sequence[TensorInfo]) -> tuple[int | None, int | None]:
    for _, dims in inputs:
        if len(dims) == 4:
            return dims[2], dims[3]
    return None, None


def _anchor_counts(height: int | None, width: int | None) -> set[int]:
    """Anchor-free cell counts for P3-P5 and P3-P6 heads at this input size (empty if dynamic)."""
    if height is None or width is None:
        return set()
    return set(anchor_free_strides(height, width))


def _size_input(inputs: Sequence[TensorInfo]) -> str | None:
    for name, dims in inputs:
        lower = name.lower()
        if 'orig_target_sizes' in lower or (
            'size' in lower and len(dims) == 2 and dims[1] in (2, None)
        ):
            return name
    return None


def _channels_last_image(inputs: Sequence[TensorInfo]) -> bool:
    """Whether the image input is NHWC (TensorFlow's layout), ``[B, H, W, 3]``."""
    image = next((dims for _, dims in inputs if len(dims) == 4), ())
    return channels_last(image)


def _main_output(outputs: Sequence[TensorInfo]) -> int | None:
    return next((i for i, (_, dims) in enumerate(outputs) if len(dims) == 3), None)


def _named(fmt: str, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> Decoder:
    roles = assign_roles(outputs, _NAMED_ROLES[fmt])
    if roles is None:
        raise _unknown(outputs, f'{fmt} needs outputs named for {", ".join(_NAMED_ROLES[fmt])}')
    if fmt == 'rtdetr_official':
        size = _size_input(inputs)
        if size is None:
            raise _unknown(outputs, 'rtdetr_official needs an orig_target_sizes input')
        return RtDetrOfficialDecoder(roles, size)
    if fmt == 'tf_object_detection':
        return TfObjectDetectionDecoder(roles)
    return EfficientNmsDecoder(roles) if fmt == 'efficient_nms' else TorchvisionDecoder(roles)


def _rtdetr_layout(channels: int | None, num_classes: int | None) -> str:
    scored = rtdetr_scored_layout(channels, num_classes)
    if scored is None:
        return 'rows of cx cy w h score class or 4 + 2 class scores, told apart by the data'
    if scored:
        return 'rows of cx cy w h score class (Ultralytics >= 8.4)'
    return f'queries of cx cy w h + {channels - 4 if channels else "nc"} class scores'


def _class_channels(values: int, fixed: int, num_classes: int | None) -> str:
    """``'80 classes'`` or ``'80 classes + 32 extra channels'`` (segmentation, pose...)."""
    if num_classes is not None and 0 < num_classes < values - fixed:
        return f'{num_classes!r} classes + {values - fixed - num_classes!r} extra channels'
    return f'{values - fixed!r} classes'


def _guess_single(
    dims: Dims,
    inputs: Sequence[TensorInfo],
    metadata: Mapping[str, str],
    num_classes: int | None = None,
) -> tuple[str, str, bool]:
    """Return (format, reason, channels_last) for a 3-D output shape, or ('', why, False)."""
    _, a, c = dims
    description = metadata.get('description', '').lower()
    end2end_meta = metadata.get('end2end', '').lower() == 'true' or (
        "'nms': true" in metadata.get('args', '').lower()
    )
    rows_last = c is not None and (a is None or a > c)
    if rows_last and ('rtdetr' in description or 'rt-detr' in description):
        why = f'metadata description names RT-DETR; {_rtdetr_layout(c, num_classes)}'
        return 'rtdetr_ultralytics', why, False
    if rows_last and c is not None and c >= 6 and end2end_meta:
        extra = f', {c - 6!r} extra values per row ignored' if c > 6 else ''
        why = f'metadata marks an end-to-end (NMS-free or in-graph NMS) export{extra}'
        return 'end2end', why, False
    anchors = _anchor_counts(*_image_size(inputs))
    if a is not None and a >= 5 and (c is None or a < c):
        known = f'{c!r} anchors' if c is not None else 'dynamic anchors'
        why = f'channels-first [B, 4 + {_class_channels(a, 4, num_classes)}, {known}]'
        return 'yolov8', why, False
    if not rows_last or c is None:
        return '', 'unrecognised shape', False
    if a is None:
        return 'yolov5', f'dynamic candidates with {c!r} values each [B, N, 5 + nc]', False
    if a in {3 * n for n in anchors}:
        return 'yolov5', f'{a!r} rows = 3 anchors x cells of the input [B, N, 5 + nc]', False
    if a in anchors and c >= 5 and _objectness_rows(c, num_classes):
        why = (f'[B, {a!r} cells, 5 + {_class_channels(c, 5, num_classes)}]: box, objectness '
               'and class scores per cell, as YOLOX and YOLOv6 export')
        return 'yolox', why, False
    if a in anchors and c >= 5:
        why = f'channels-last [B, {a!r} anchors, 4 + {_class_channels(c, 4, num_classes)}]'
        return 'yolov8', why, True
    if a <= _MAX_QUERIES and c == 6:
        return 'end2end', f'{a!r} rows of x1 y1 x2 y2 score class [B, K, 6]', False
    if a <= _MAX_QUERIES and c >= 5:
        why = f'{a!r} queries of 4 + {c - 4!r} classes [B, Q, 4 + nc]'
        return 'rtdetr_ultralytics', why, False
    if c >= 6:
        return 'yolov5', f'{a!r} candidates of {c!r} values [B, N, 5 + nc]', False
    return '', 'unrecognised shape', False


def _objectness_rows(values: int, num_classes: int | None) -> bool:
    """Whether rows of ``values`` over the anchor-free cells carry an objectness column.

    The class count decides when the metadata names the classes; without it, 85 values are
    the COCO layout of YOLOX/YOLOv6 (4 + objectness + 80), which Ultralytics, whose exports
    always name their classes, never writes channels-last.
    """
    if num_classes is not None:
        return values == 5 + num_classes
    return values == 85


def select_decoder(
    output_format: str,
    inputs: Sequence[tuple[str, Sequence[object]]],
    outputs: Sequence[tuple[str, Sequence[object]]],
    metadata: Mapping[str, str] | None = None,
) -> tuple[Decoder, str]:
    """Build the decoder for a model and say why it was chosen.

    Args:
        output_format: one of ``config.OUTPUT_FORMATS``; ``'auto'`` inspects the model.
        inputs: (name, shape) of each model input; shapes may hold None/strings for dynamic dims.
        outputs: (name, shape) of each model output, in session order.
        metadata: the model's custom metadata (``onnxruntime`` ``custom_metadata_map``).

    Returns:
        The decoder and a short human-readable reason.

    Raises:
        ConfigError: ``output_format`` is not a known format.
        DecoderError: the outputs do not fit the format, or ``auto`` recognises none.
    """
    if output_format not in OUTPUT_FORMATS:
        msg = f'output_format {output_format!r} is not one of {", ".join(OUTPUT_FORMATS)}.'
        raise ConfigError(msg)
    ins = [(str(n), normalise_dims(s)) for n, s in inputs]
    outs = [(str(n), normalise_dims(s)) for n, s in outputs]
    meta = dict(metadata or {})
    names = class_names_from_metadata(meta)
    num_classes = len(names) if names is not None else None
    if output_format in ('boxes_scores', 'rfdetr'):
        decoder = _boxes_scores(outs, 'configured', output_format)
        return decoder, f'output_format {output_format!r} configured'
    if output_format in _NAMED_ROLES:
        return _named(output_format, ins, outs), f'output_format {output_format!r} configured'
    main = _main_output(outs)
    if output_format in _SINGLE:
        if main is None:
            raise _unknown(outs, f'{output_format} needs a 3-D output')
        misfit = _misfit(output_format, outs[main][1], ins, num_classes)
        if misfit:
            raise _wrong_format(output_format, outs[main], misfit,
                                _fitting(ins, outs, main, num_classes))
        layout = False
        if output_format == 'yolov8':
            _, a, c = outs[main][1]
            layout = a is not None and c is not None and a > c
        decoder = _build(output_format, main, num_classes, layout)
        return decoder, f'output_format {output_format!r} configured, reading {outs[main][0]!r}'
    if _size_input(ins) is not None and assign_roles(outs, _NAMED_ROLES['rtdetr_official']):
        return _named('rtdetr_official', ins, outs), (
            f'input {_size_input(ins)!r} and labels/boxes/scores outputs (official RT-DETR/D-FINE)'
        )
    if _channels_last_image(ins) and assign_roles(outs, _NAMED_ROLES['efficient_nms']):
        return _named('tf_object_detection', ins, outs), (
            'count/boxes/scores/classes outputs behind an NHWC image input (TensorFlow Object '
            'Detection API: normalised ymin xmin ymax xmax boxes)')
    for fmt, why in (
        ('efficient_nms', 'count/boxes/scores/classes outputs (TensorRT EfficientNMS)'),
        ('torchvision', 'boxes/labels/scores outputs (torchvision detection model)'),
    ):
        if assign_roles(outs, _NAMED_ROLES[fmt]) is not None:
            return _named(fmt, ins, outs), why
    pair = find_boxes_scores(outs)
    if pair is not None and {n.lower() for n, _ in outs} == {'dets', 'labels'}:
        return _boxes_scores(outs, 'auto', 'rfdetr'), (
            "'dets' [B, Q, 4] and 'labels' [B, Q, C] outputs (RF-DETR: normalised boxes, class "
            'logits)')
    if pair is not None and not _dense(outs[pair[0]][1][1], ins):
        raise _unknown(outs, 'boxes and scores of a few hundred queries, as DETR-style models '
                             'export; output_format rfdetr reads sigmoid-scored ones (RF-DETR, '
                             'LW-DETR, Deformable DETR) with normalised cx cy w h boxes')
    if pair is not None:
        boxes, scores, _ = pair
        return _boxes_scores(outs, 'auto'), (
            f'{outs[boxes][0]!r} [B, N, 4] boxes and {outs[scores][0]!r} scores of the same N '
            'candidates (YOLO-NAS, DAMO-YOLO without NMS)')
    if main is None:
        raise _unknown(outs, 'no 3-D output and no recognised output names')
    fmt, why, channels_last = _guess_single(outs[main][1], ins, meta, num_classes)
    if not fmt:
        raise _unknown(outs, why)
    return _build(fmt, main, num_classes, channels_last), f'output {outs[main][0]!r}: {why}'


def _misfit(fmt: str, dims: Dims, inputs: Sequence[TensorInfo], num_classes: int | None) -> str:
    """Why a 3-D output of shape ``dims`` cannot be read as ``fmt`` ('' when it can).

    Forcing a layout on the wrong head reads box coordinates as scores (up to thousands) and
    scores as class ids, so a forced ``output_format`` is checked against the shape first: the
    anchor counts the input size implies tell dense heads from query heads, the class count from
    the metadata tells how many values a row holds.
    """
    _, a, c = dims
    nc = num_classes or 1
    anchors = _anchor_counts(*_image_size(inputs))
    dense_rows = anchors | {3 * n for n in anchors}
    if fmt == 'yolov8':
        if a is not None and c is not None and a > c:  # channels-last [B, N, 4 + nc]
            if (a not in anchors) if anchors else a <= _MAX_QUERIES:
                return f'{a!r} rows are not the anchors of a YOLOv8 head at this input size'
            return '' if c >= 4 + nc else f'rows of 4 + nc need {4 + nc} values'
        return '' if a is None or a >= 4 + nc else f'[B, 4 + nc, N] needs {4 + nc} channels'
    if c is None:
        return 'the values per row are not fixed'
    if c in anchors:
        return f'{c!r} is the anchor count of a channels-first dense head [B, 4 + nc, N]'
    if fmt == 'yolox':
        if a is not None and ((a not in anchors) if anchors else a <= _MAX_QUERIES):
            return f'{a!r} rows are not the cells of an anchor-free head at this input size'
        return '' if c >= 5 + nc else f'rows of 5 + nc need {5 + nc} values'
    if fmt == 'yolov5':
        if a is not None and ((a not in {3 * n for n in anchors}) if anchors
                              else a <= _MAX_QUERIES):
            return f'{a!r} rows are not 3 anchors a cell of a YOLOv5 head at this input size'
        return '' if c >= 5 + nc else f'rows of 5 + nc need {5 + nc} values'
    if a is not None and (a > _MAX_QUERIES or a in dense_rows):
        return f'{a!r} rows are the candidates of a dense head, not queries'
    if fmt == 'end2end':
        if c < 6:
            return 'rows of x1 y1 x2 y2 score class need 6 values'
        if num_classes is not None and c == 4 + num_classes != 6:
            return f'{c!r} values a row are 4 box values + {num_classes!r} class scores'
        return '' if c <= _MAX_ROW_VALUES or (a is not None and c <= a) else (
            f'{c!r} values a row are more than an end-to-end head emits')
    if num_classes is not None:
        return '' if c in (6, 4 + num_classes) else (
            f'rows need 6 or 4 + {num_classes!r} values, not {c!r}')
    if a is not None and c > a:
        return 'the larger dimension comes first, as in a channels-first dense head'
    return '' if c >= 5 else 'rows need 4 box values and class scores'


def _fitting(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], main: int,
             num_classes: int | None) -> list[str]:
    """The formats whose layout this model's outputs fit."""
    named = [f for f, roles in _NAMED_ROLES.items() if assign_roles(outputs, roles) is not None]
    dense = [f for f in _SINGLE if not _misfit(f, outputs[main][1], inputs, num_classes)]
    return dense + named


def _wrong_format(fmt: str, output: TensorInfo, why: str, fitting: Sequence[str]) -> DecoderError:
    fits = f'formats that fit: {", ".join(fitting)} (or auto)' if fitting else (
        'no format fits it')
    msg = (f'output_format {fmt!r} does not fit this model: output {_fmt([output])} '
           f'({why}); {fits}.')
    return DecoderError(msg)


def _boxes_scores(outputs: Sequence[TensorInfo], how: str, fmt: str = 'boxes_scores') -> Decoder:
    pair = find_boxes_scores(outputs)
    if pair is None:
        raise _unknown(outputs, f'{fmt} {how}, but it needs two 3-D outputs: boxes '
                                '[B, N, 4] and scores [B, N, nc] or [B, nc, N]')
    kind = RfDetrDecoder if fmt == 'rfdetr' else BoxesScoresDecoder
    return kind(pair[0], pair[1], channels_first=pair[2])


def _dense(n: int | None, inputs: Sequence[TensorInfo]) -> bool:
    """Whether ``n`` candidates are a dense head's (the anchor-free cells), not queries."""
    anchors = _anchor_counts(*_image_size(inputs))
    return n in anchors if anchors else (n is None or n > _MAX_QUERIES)


def _build(fmt: str, index: int, num_classes: int | None, channels_last: bool) -> Decoder:
    if fmt == 'yolov8':
        return YoloV8Decoder(index, num_classes, channels_last=channels_last)
    return _SINGLE[fmt](index, num_classes)
