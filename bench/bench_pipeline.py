"""Benchmark: image message -> model input, and YOLOv8 output -> detections, ours vs tutorial.

Run from the repository root: ``PYTHONPATH=. python bench/bench_pipeline.py [--runs 300]``. Not a
test: it prints medians of many runs for each stage, the conventional tutorial pipeline for the
same work and the speed-up, plus the alternatives measured when choosing the fused float
conversion and the NMS implementation, and the host side of ``preprocess_in_model``: time per
1080p frame and bytes handed to the engine with the float NCHW input (host normalises) and the
uint8 NHWC input (the engine normalises), measured in alternating rounds on the same frames,
and what tracking (``tracker: bytetrack``) adds to the decode step of a 50-object scene.
"""

from __future__ import annotations

import argparse
import array
from collections.abc import Callable
from dataclasses import replace
import time

import cv2
import numpy as np

from edge_infer_ros.config import DecoderConfig, PreprocessConfig, TrackerConfig
from edge_infer_ros.decoders import select_decoder
from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.decoders.nms import nms
from edge_infer_ros.engine.preprocess_graph import (
    HOST_CHANNEL_ORDER,
    PreprocessGraph,
    prefix_model,
)
from edge_infer_ros.imaging.decode import decode_compressed, decode_image, preferred_channel_order
from edge_infer_ros.imaging.preprocess import LetterboxTransform, Preprocessor
from edge_infer_ros.tracking import Tracking

FRAME_H, FRAME_W = 1080, 1920
INPUT = 640
ANCHORS = 8400
NUM_CLASSES = 80


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after a few warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def make_message(encoding: str, rng: np.random.Generator) -> dict[str, object]:
    """A 1080p frame as rclpy hands it over: fields plus ``array.array('B')`` data."""
    pixels = rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8)
    return {
        'encoding': encoding, 'height': FRAME_H, 'width': FRAME_W, 'step': FRAME_W * 3,
        'is_bigendian': 0, 'data': array.array('B', pixels.tobytes()),
    }


def make_yolov8_output(rng: np.random.Generator) -> np.ndarray:
    """A YOLOv8n-shaped [1, 84, 8400] output: low scores, ~330 candidates around 25 objects."""
    out = np.empty((1, 4 + NUM_CLASSES, ANCHORS), np.float32)
    out[0, :2] = rng.uniform(0, INPUT, (2, ANCHORS))
    out[0, 2:4] = rng.uniform(8, 200, (2, ANCHORS))
    logits = rng.normal(-7.0, 1.5, (NUM_CLASSES, ANCHORS))
    out[0, 4:] = 1.0 / (1.0 + np.exp(-logits))
    centres = rng.uniform(60, INPUT - 60, (25, 2))
    sizes = rng.uniform(20, 180, (25, 2))
    classes = rng.integers(0, NUM_CLASSES, 25)
    cols = rng.choice(ANCHORS, 25 * 12, replace=False).reshape(25, 12)
    for obj in range(25):  # Each object fires on ~12 neighbouring anchors.
        c = cols[obj]
        out[0, :2, c] = centres[obj] + rng.normal(0, 3, (12, 2))  # Indexed (12, 2).
        out[0, 2:4, c] = sizes[obj] * rng.uniform(0.9, 1.1, (12, 2))
        out[0, 4 + classes[obj], c] = rng.uniform(0.3, 0.95, 12)
    return out


# --- conventional tutorial pipeline ------------------------------------------------------------

def tutorial_imgmsg_to_cv2(msg: dict[str, object], desired: str) -> np.ndarray:
    """What cv_bridge's Python path does: view, contiguous copy, then colour conversion."""
    h, w, step = msg['height'], msg['width'], msg['step']
    view = np.ndarray((h, step // 3, 3), np.uint8, buffer=msg['data'])[:, :w]
    im = np.ascontiguousarray(view)
    if msg['encoding'] != desired:
        im = cv2.cvtColor(im, cv2.COLOR_RGB2BGR)
    return im


def tutorial_preprocess(msg: dict[str, object]) -> tuple[np.ndarray, float, int, int]:
    image = tutorial_imgmsg_to_cv2(msg, 'bgr8')
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    r = min(INPUT / h, INPUT / w)
    nw, nh = round(w * r), round(h * r)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (INPUT - nh) // 2, (INPUT - nw) // 2
    padded = cv2.copyMakeBorder(resized, top, INPUT - nh - top, left, INPUT - nw - left,
                                cv2.BORDER_CONSTANT, value=(114, 114, 114))
    blob = padded.transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(blob[None]), r, left, top


def tutorial_postprocess(output: np.ndarray, r: float, left: int, top: int) -> tuple:
    pred = output[0].T  # (8400, 84)
    scores = pred[:, 4:]
    class_ids = np.argmax(scores, axis=1)
    confidences = scores[np.arange(scores.shape[0]), class_ids]
    mask = confidences > 0.25
    boxes, confidences, class_ids = pred[mask, :4], confidences[mask], class_ids[mask]
    xywh = np.empty_like(boxes)
    xywh[:, 0] = (boxes[:, 0] - boxes[:, 2] / 2 - left) / r
    xywh[:, 1] = (boxes[:, 1] - boxes[:, 3] / 2 - top) / r
    xywh[:, 2] = boxes[:, 2] / r
    xywh[:, 3] = boxes[:, 3] / r
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), confidences.tolist(), 0.25, 0.45)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)[:100]
    return xywh[keep], confidences[keep], class_ids[keep]


# --- tracking cost ---------------------------------------------------------------------------

def make_moving_outputs(rng: np.random.Generator, objects: int = 50,
                        frames: int = 60) -> list[np.ndarray]:
    """YOLOv8 outputs of ``objects`` boxes that sway a few pixels per frame, ``frames`` long.

    The objects sit on a grid inside the letterboxed 1920x1080 frame (input rows 140..500) and
    the motion is periodic, so cycling through the outputs is a smooth, endless video.
    """
    rows = max(-(-objects // 10), 2)
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(rows)), -1).reshape(-1, 2)[:objects]
    centres = np.array([40.0, 170.0]) + grid * [(INPUT - 80) / 9, 300 / (rows - 1)]
    sizes = rng.uniform(24, 44, (objects, 2))
    classes = rng.integers(0, NUM_CLASSES, objects)
    phase = rng.uniform(0, 2 * np.pi, (objects, 2))
    cols = rng.choice(ANCHORS, objects * 12, replace=False).reshape(objects, 12)
    outputs = []
    for t in range(frames):
        out = np.zeros((1, 4 + NUM_CLASSES, ANCHORS), np.float32)
        out[0, :2] = rng.uniform(0, INPUT, (2, ANCHORS))
        out[0, 2:4] = 8.0
        at = centres + 12 * np.sin(2 * np.pi * t / frames + phase)
        for obj in range(objects):  # Each object fires on ~12 neighbouring anchors.
            c = cols[obj]
            out[0, :2, c] = at[obj] + rng.normal(0, 1.0, (12, 2))  # Indexed (12, 2).
            out[0, 2:4, c] = sizes[obj] * rng.uniform(0.95, 1.05, (12, 2))
            out[0, 4 + classes[obj], c] = rng.uniform(0.5, 0.95, 12)
        outputs.append(out)
    return outputs


def tracking_cost(runs: int, rounds: int = 6) -> tuple[float, float, float, int]:
    """Median ms of decode + NMS without and with tracking, tracking alone, detections per frame.

    50 objects sway through a 1920x1080 frame at 30 Hz; each variant has its own tracker and
    clock, so each sees a continuous video. The variants alternate in ``rounds`` so that load
    from other processes hits all of them alike.
    """
    rng = np.random.default_rng(3)
    outputs = make_moving_outputs(rng)
    transform = Preprocessor(PreprocessConfig(), INPUT, INPUT, np.float32).transform_for(
        FRAME_W, FRAME_H)
    decoder, _ = select_decoder('auto', [('images', [1, 3, INPUT, INPUT])],
                                [('output0', list(outputs[0].shape))])
    dcfg = DecoderConfig()
    decoded = [decoder.decode([out], transform, dcfg) for out in outputs]
    config = TrackerConfig(tracker='bytetrack')
    tracking, tracking_alone = Tracking(config), Tracking(config)
    clocks = [iter(range(10**9)) for _ in range(3)]

    def decode_only() -> Detections:
        return decoder.decode([outputs[next(clocks[0]) % len(outputs)]], transform, dcfg)

    def decode_and_track() -> Detections:
        t = next(clocks[1])
        dets = decoder.decode([outputs[t % len(outputs)]], transform, dcfg)
        return tracking.update('camera', dets, t * 33_333_333)

    def track_only() -> Detections:
        t = next(clocks[2])
        return tracking_alone.update('camera', decoded[t % len(decoded)], t * 33_333_333)

    samples: list[list[float]] = [[], [], []]
    for _ in range(rounds):
        for i, fn in enumerate((decode_only, decode_and_track, track_only)):
            samples[i].append(median_ms(fn, max(runs // rounds, 10)))
    plain, tracked, alone = (float(np.median(s)) for s in samples)
    return plain, tracked, alone, len(decoded[0])


# --- alternatives measured for the design ------------------------------------------------------

def conversion_alternatives(runs: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    canvas = rng.integers(0, 256, (INPUT, INPUT, 3), dtype=np.uint8)
    region = canvas[140:500]
    buf = np.empty((3, INPUT, INPUT), np.float32)
    planes = [np.empty(region.shape[:2], np.uint8) for _ in range(3)]
    lut = (np.arange(256, dtype=np.float32) / 255.0).reshape(1, 256)

    def blob_copy() -> None:
        buf[...] = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)[0]

    def numpy_transposed() -> None:
        np.multiply(canvas.transpose(2, 0, 1)[::-1], np.float32(1 / 255.0), out=buf,
                    casting='unsafe')

    def split_add_weighted() -> None:
        cv2.split(region, planes)
        for c in range(3):
            cv2.addWeighted(planes[2 - c], 1 / 255.0, planes[2 - c], 0.0, 0.0,
                            dst=buf[c, 140:500], dtype=cv2.CV_32F)

    def split_lut() -> None:
        cv2.split(region, planes)
        for c in range(3):
            cv2.LUT(planes[2 - c], lut, dst=buf[c, 140:500])

    return {
        'blobFromImage + copy into buffer (full canvas)': median_ms(blob_copy, runs),
        'numpy multiply via transposed view (full canvas)': median_ms(numpy_transposed, runs),
        'split + addWeighted per plane (resized region; chosen fp32)': median_ms(
            split_add_weighted, runs),
        'split + LUT per plane (resized region; chosen fp16)': median_ms(split_lut, runs),
    }


def alternating_medians(
    fns: dict[str, Callable[[], object]], rounds: int, per_round: int,
) -> dict[str, float]:
    """Median ms per call of each function, timed in rounds that alternate their order.

    The machine is shared, so load drifts; alternating (A B, then B A) gives both the same share
    of it, and the median of the rounds drops the rounds a neighbour disturbed.
    """
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(per_round):
                fns[name]()
            times[name].append((time.perf_counter() - start) / per_round * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def preprocess_in_model_host(runs: int) -> list[tuple[str, float, float, int, int]]:
    """(input, host ms float path, host ms uint8 path, bytes float, bytes uint8) per encoding."""
    rng = np.random.default_rng(4)
    cfg = PreprocessConfig()
    as_float = Preprocessor(cfg, INPUT, INPUT, np.float32)
    as_pixels = Preprocessor(replace(cfg, channel_order=HOST_CHANNEL_ORDER), INPUT, INPUT,
                             np.uint8, layout='NHWC')
    scene = cv2.GaussianBlur(rng.integers(0, 256, (FRAME_H, FRAME_W, 3), np.uint8), (0, 0), 2)
    rows = []
    for encoding in ('bgr8', 'rgb8', 'mono8', 'jpeg'):
        if encoding == 'jpeg':
            data = cv2.imencode('.jpg', scene, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            msg: dict[str, object] = {'format': 'jpeg', 'data': data}
        else:
            pixels = {'bgr8': scene, 'rgb8': scene[..., ::-1],
                      'mono8': cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY)}[encoding]
            channels = 1 if pixels.ndim == 2 else 3
            msg = {'encoding': encoding, 'height': FRAME_H, 'width': FRAME_W,
                   'step': FRAME_W * channels, 'is_bigendian': 0,
                   'data': array.array('B', np.ascontiguousarray(pixels).tobytes())}

        def frame(pre: Preprocessor, msg: dict[str, object] = msg) -> LetterboxTransform:
            """Exactly the pipeline's per-frame host work: decode, then preprocess."""
            if 'format' in msg:
                return pre(decode_compressed(**msg, channel_order='bgr'), 'bgr')
            order = preferred_channel_order(str(msg['encoding']), pre.config.channel_order)
            return pre(decode_image(**msg, channel_order=order), order)

        medians = alternating_medians(
            {'float': lambda: frame(as_float), 'uint8': lambda: frame(as_pixels)},
            rounds=max(runs // 10, 5), per_round=10)
        rows.append((encoding, medians['float'], medians['uint8'], as_float.buffer.nbytes,
                     as_pixels.buffer.nbytes))
    return rows


def preprocess_in_model_on_cpu(runs: int, threads: int) -> dict[str, float]:
    """What ``preprocess_in_model: auto`` weighs on the CPU provider, 1080p bgr8 -> 640x640.

    The host's fused float conversion against the uint8 letterbox plus the wrapper's nodes run
    by ONNX Runtime's CPU provider (the preprocessing graph alone, bound to preallocated buffers:
    the same kernels the wrapped model runs before its first layer).
    """
    import onnxruntime as ort

    cfg = PreprocessConfig()
    spec = PreprocessGraph('images', {'images': (1, 3, INPUT, INPUT)}, 'float32', cfg)
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(prefix_model(spec, 17, 10).SerializeToString(), options,
                                   providers=['CPUExecutionProvider'])
    as_float = Preprocessor(cfg, INPUT, INPUT, np.float32)
    as_pixels = Preprocessor(replace(cfg, channel_order=HOST_CHANNEL_ORDER), INPUT, INPUT,
                             np.uint8, layout='NHWC')
    result = np.empty((1, 3, INPUT, INPUT), np.float32)
    binding = session.io_binding()
    binding.bind_input(spec.input_name, 'cpu', 0, np.uint8, as_pixels.buffer.shape,
                       as_pixels.buffer.ctypes.data)
    binding.bind_output('images', 'cpu', 0, np.float32, result.shape, result.ctypes.data)
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, (FRAME_H, FRAME_W, 3), np.uint8), (0, 0), 2)

    def in_model() -> None:
        as_pixels(image, 'bgr')
        session.run_with_iobinding(binding)

    in_model()
    as_float(image, 'bgr')
    assert np.allclose(result, as_float.buffer, atol=1e-6)  # the same model input
    return alternating_medians(
        {'host: letterbox + float32 NCHW conversion': lambda: as_float(image, 'bgr'),
         'host: uint8 letterbox; ORT CPU: cast, swap, scale, transpose': in_model},
        rounds=max(runs // 10, 5), per_round=10)


def nms_alternatives(runs: int) -> dict[str, float]:
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 600, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 120, (300, 2))], axis=1)
    scores = rng.uniform(0.25, 1, 300).astype(np.float32)

    def numpy_greedy() -> list[int]:
        x1, y1, x2, y2 = boxes.T
        area = (x2 - x1) * (y2 - y1)
        order, keep = np.argsort(-scores, kind='stable'), []
        while order.size:
            i, rest = order[0], order[1:]
            keep.append(int(i))
            iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
            ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
            inter = iw * ih
            order = rest[inter / (area[i] + area[rest] - inter) <= 0.45]
        return keep

    return {
        'edge_infer_ros.decoders.nms (OpenCV), 300 random boxes': median_ms(
            lambda: nms(boxes, scores, 0.45), runs),
        'numpy greedy loop, 300 random boxes': median_ms(numpy_greedy, max(runs // 5, 10)),
    }


def jpeg_reduced_decode(runs: int) -> tuple[float, float, tuple[int, ...]]:
    """A 1080p JPEG for a 640 model: full decode vs the pipeline's reduced (libjpeg-scaled) one."""
    from edge_infer_ros.demo.scene import generate_scene
    from edge_infer_ros.imaging.decode import decode_compressed_reduced

    scene = generate_scene(np.random.default_rng(4), FRAME_W, FRAME_H).image
    data = cv2.imencode('.jpg', scene, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    pre = Preprocessor(PreprocessConfig(), INPUT, INPUT, np.float32)

    def full() -> object:
        return decode_compressed_reduced('jpeg', data, channel_order='bgr')

    def reduced() -> tuple[np.ndarray, tuple[int, int]]:
        return decode_compressed_reduced('jpeg', data, channel_order='bgr',
                                         min_size=pre.resized_size)

    return median_ms(full, runs), median_ms(reduced, runs), reduced()[0].shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--runs', type=int, default=300, help='timed runs per measurement')
    parser.add_argument('--threads', type=int, default=-1, help='cv2.setNumThreads (-1: keep)')
    args = parser.parse_args()
    if args.threads >= 0:
        cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(0)
    cfg = PreprocessConfig()
    engine_input = np.empty((1, 3, INPUT, INPUT), np.float32)  # Stands in for the IO binding.
    pre = Preprocessor(cfg, INPUT, INPUT, np.float32, out=engine_input)
    print(f'OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; numpy {np.__version__}')
    print(f'median of {args.runs} runs, milliseconds\n')
    rows = []
    for encoding in ('bgr8', 'rgb8'):
        msg = make_message(encoding, rng)
        order = preferred_channel_order(encoding, cfg.channel_order)

        def ours(msg=msg, order=order) -> LetterboxTransform:
            image = decode_image(**msg, channel_order=order)
            return pre(image, order)

        rows.append((f'{encoding} 1920x1080 decode + preprocess to 640x640',
                     median_ms(ours, args.runs),
                     median_ms(lambda msg=msg: tutorial_preprocess(msg), args.runs)))
    output = make_yolov8_output(rng)
    transform = pre.transform_for(FRAME_W, FRAME_H)
    decoder, _ = select_decoder('auto', [('images', [1, 3, INPUT, INPUT])],
                                [('output0', list(output.shape))])
    dcfg = DecoderConfig()
    rows.append(('YOLOv8n output 1x84x8400 decode + NMS',
                 median_ms(lambda: decoder.decode([output], transform, dcfg), args.runs),
                 median_ms(lambda: tutorial_postprocess(output, 1 / 3, 0, 140), args.runs)))
    ours_n = len(decoder.decode([output], transform, dcfg))
    tut_boxes, tut_scores, _ = tutorial_postprocess(output, 1 / 3, 0, 140)
    agnostic = decoder.decode([output], transform, replace(dcfg, class_agnostic_nms=True))
    tut_xyxy = np.concatenate([tut_boxes[:, :2], tut_boxes[:, :2] + tut_boxes[:, 2:]], axis=1)
    same = len(agnostic) == len(tut_scores) and np.allclose(
        np.clip(tut_xyxy, 0, [FRAME_W, FRAME_H] * 2), agnostic.boxes, atol=1e-2)
    width = max(len(r[0]) for r in rows)
    print(f'{"stage":<{width}}  {"ours":>7}  {"tutorial":>8}  speed-up')
    for name, ours_ms, tut_ms in rows:
        print(f'{name:<{width}}  {ours_ms:7.3f}  {tut_ms:8.3f}  {tut_ms / ours_ms:6.2f}x')
    total_ours = rows[0][1] + rows[2][1]
    total_tut = rows[0][2] + rows[2][2]
    print(f'{"bgr8 frame end to end (without inference)":<{width}}  {total_ours:7.3f}  '
          f'{total_tut:8.3f}  {total_tut / total_ours:6.2f}x')
    print(f'\ndetections: ours {ours_n} (class-aware NMS), tutorial {len(tut_scores)} '
          f'(class-agnostic); ours class-agnostic gives the same boxes: {same}')
    plain, tracked, alone, count = tracking_cost(args.runs)
    print(f'\ntracking, {count} detections per frame (YOLOv8 output decode + NMS, then '
          'tracker: bytetrack; alternating rounds, medians):')
    print(f'  {"decode + NMS (tracker: none)":<62} {plain:7.3f}')
    print(f'  {"decode + NMS + tracking (tracker: bytetrack)":<62} {tracked:7.3f}')
    print(f'  {"tracking adds (difference)":<62} {tracked - plain:7.3f}')
    print(f'  {"tracking alone (Tracking.update, IDs included)":<62} {alone:7.3f}')
    print('\nfloat conversion alternatives (640x640, 1920x1080 letterboxed):')
    for name, ms in conversion_alternatives(args.runs).items():
        print(f'  {name:<62} {ms:7.3f}')
    print('NMS alternatives:')
    for name, ms in nms_alternatives(args.runs).items():
        print(f'  {name:<62} {ms:7.3f}')
    print('\npreprocess_in_model, host side: 1920x1080 message -> 640x640 engine input, '
          'median ms per frame (alternating rounds)')
    print(f'  {"input":<6} {"host float32 NCHW":>17} {"host uint8 NHWC":>16} {"time ratio":>10} '
          f'{"bytes float32":>13} {"bytes uint8":>11} {"bytes ratio":>11}')
    for encoding, t_float, t_u8, b_float, b_u8 in preprocess_in_model_host(args.runs):
        print(f'  {encoding:<6} {t_float:17.3f} {t_u8:16.3f} {t_float / t_u8:9.2f}x '
              f'{b_float:13d} {b_u8:11d} {b_float / b_u8:10.1f}x')
    print('preprocess_in_model on the CPU provider (what auto weighs there), 1920x1080 bgr8, '
          'median ms per frame:')
    cpu = preprocess_in_model_on_cpu(args.runs, args.threads)
    for name, ms in cpu.items():
        print(f'  {name:<62} {ms:7.3f}')
    host, model = cpu.values()
    print(f'  in the model / on the host: {model / host:.2f}x')
    full_ms, reduced_ms, shape = jpeg_reduced_decode(max(args.runs // 5, 20))
    print(f'\nJPEG 1920x1080 (quality 90) for a {INPUT}x{INPUT} model: full decode '
          f'{full_ms:.2f} ms, reduced decode to {shape[1]}x{shape[0]} {reduced_ms:.2f} ms '
          f'({full_ms / reduced_ms:.2f}x)')


if __name__ == '__main__':
    main()
