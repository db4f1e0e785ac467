"""The offline tools never delete or modify an input, and replace only what they wrote.

Part of the reliability suite (README "Bad input"): ``evaluate_bag``, ``calibrate_int8`` and
``build_engine`` on bags, image folders and models written into the test's tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

from bag_fixtures import encoded_image, pixel_detector, random_frames, write_bag, write_params
import cv2
from engine_models import conv_model
from node_fixtures import write_slow_model
import pytest
from ros_helpers import wait_for

from edge_infer_ros.eval.bag_io import BagReader
from edge_infer_ros.eval.calibrate_int8 import main as calibrate
from edge_infer_ros.eval.evaluate_bag import main as evaluate
from edge_infer_ros.tools.build_engine import main as build_engine
from edge_infer_ros.tools.outputs import MARKER, marker_of


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under ``path`` (or ``path`` itself) and the SHA-256 of its bytes."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob('*') if p.is_file())
    return {str(f.relative_to(path.parent)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in files}


@pytest.fixture(scope='module')
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('model')
    return write_params(root / 'params.yaml', pixel_detector(root / 'pixel.onnx'), root / 'cache')


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    return write_bag(tmp_path / 'recording', random_frames(3))


def run(params: Path, *args: str) -> int:
    return evaluate([*args, '--params-file', str(params), '--no-progress'])


def test_an_input_is_never_an_output(params, bag, tmp_path, capsys) -> None:
    before = tree_digest(bag)
    report = str(tmp_path / 'report')
    for args in (['--output-bag', str(bag), '--overwrite'],
                 ['--output-bag', str(bag / 'inner'), '--overwrite'],
                 ['--output-bag', str(tmp_path), '--overwrite'],
                 ['--report', str(bag), '--overwrite']):
        argv = [str(bag), '--report', report, *args] if '--report' not in args else [
            str(bag), *args]
        assert run(params, *argv) == 1
        err = capsys.readouterr().err
        assert f"overlaps the input '{bag}'" in err and 'never writes over an input' in err
        assert tree_digest(bag) == before
    # An earlier run's output bag read back as an input: its own report cannot overwrite it.
    assert run(params, str(bag), '--report', report) == 0
    first = Path(report) / 'bags' / 'recording'
    assert run(params, str(first), '--report', report, '--overwrite') == 1
    assert 'overlaps the input' in capsys.readouterr().err and first.is_dir()


def test_only_what_evaluate_bag_wrote_is_replaced(params, bag, tmp_path, capsys) -> None:
    other = write_bag(tmp_path / 'other_recording', random_frames(2, seed=3))
    other_digest = tree_digest(other)
    assert run(params, str(bag), '--output-bag', str(other), '--overwrite',
               '--report', str(tmp_path / 'r0')) == 1
    assert 'was not written by evaluate_bag; it is never replaced' in capsys.readouterr().err
    assert tree_digest(other) == other_digest

    notes = tmp_path / 'notes'
    notes.mkdir()
    (notes / 'todo.md').write_text('mine')
    assert run(params, str(bag), '--report', str(notes), '--overwrite') == 1
    assert "--report '" in capsys.readouterr().err
    assert [p.name for p in notes.iterdir()] == ['todo.md']

    report = tmp_path / 'report'
    assert run(params, str(bag), '--report', str(report)) == 0
    summary = (report / 'summary.md').read_text()
    assert marker_of(report)['state'] == 'complete'
    assert marker_of(report / 'bags' / 'recording')['state'] == 'complete'
    assert {'summary.md', 'metrics.json', 'bags/recording'} <= set(marker_of(report)['files'])
    assert run(params, str(bag), '--report', str(report)) == 1
    assert 'holds the output of an earlier evaluate_bag run; pass --overwrite' in (
        capsys.readouterr().err)
    assert (report / 'summary.md').read_text() == summary
    (report / 'my_notes.txt').write_text('kept')
    assert run(params, str(bag), '--report', str(report), '--overwrite', '-p',
               'confidence_threshold:=0.99') == 0
    assert (report / 'my_notes.txt').read_text() == 'kept'
    assert json.loads((report / 'metrics.json').read_text())['params'][
        'confidence_threshold'] == 0.99


def test_an_interrupted_run_leaves_a_readable_bag_marked_partial(tmp_path) -> None:
    slow = write_slow_model(tmp_path / 'slow.onnx')
    params = write_params(tmp_path / 'slow.yaml', slow, tmp_path / 'cache', output_format='auto',
                          cpu_threads=1)
    bag = write_bag(tmp_path / 'long', random_frames(200))
    report = tmp_path / 'report'
    process = subprocess.Popen(
        [sys.executable, '-m', 'edge_infer_ros.eval.evaluate_bag', str(bag), '--params-file',
         str(params), '--report', str(report), '--no-progress'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out_bag = report / 'bags' / 'long'
        assert wait_for(lambda: (out_bag / MARKER).exists(), timeout=120)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, output
    assert f'partial output bag kept: {out_bag}' in output
    assert marker_of(report)['state'] == 'partial'
    assert marker_of(out_bag)['state'] == 'partial'
    assert 'interrupted' in (report / 'summary.md').read_text()
    with BagReader(out_bag) as reader:
        written = list(reader.messages(['/front/detections']))
    assert 0 < len(written) < 200


def test_calibrate_int8_output_rules(tmp_path, capsys) -> None:
    model = pixel_detector(tmp_path / 'pixel.onnx')
    images = tmp_path / 'images'
    images.mkdir()
    for i, spec in enumerate(random_frames(4)):
        cv2.imwrite(str(images / f'{i}.png'), encoded_image(spec.truth))
    before = tree_digest(images)
    base = [str(images), '-p', f'model_path:={model}', '-p', 'output_format:=end2end',
            '-p', 'providers:=[cpu]', '--method', 'minmax', '--frames', '4']
    assert calibrate([*base, '--output', str(images), '--overwrite']) == 1
    assert 'overlaps the input' in capsys.readouterr().err and tree_digest(images) == before

    table = tmp_path / 'table'
    assert calibrate([*base, '--output', str(table)]) == 0
    assert marker_of(table)['state'] == 'complete'
    assert 'calibration.flatbuffers' in marker_of(table)['files']
    assert calibrate([*base, '--output', str(table)]) == 1
    assert 'pass --overwrite' in capsys.readouterr().err
    (table / 'keep.txt').write_text('mine')
    assert calibrate([*base, '--output', str(table), '--overwrite']) == 0
    assert (table / 'keep.txt').read_text() == 'mine'
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'calibration.flatbuffers').write_bytes(b'someone else')
    assert calibrate([*base, '--output', str(foreign), '--overwrite']) == 1
    assert (foreign / 'calibration.flatbuffers').read_bytes() == b'someone else'


def test_build_engine_never_deletes_a_model_kept_in_its_engine_folder(tmp_path, capsys) -> None:
    model = conv_model(tmp_path / 'm.onnx')
    cache = tmp_path / 'engines'
    argv = ['--model-path', str(model), '--engine-cache-path', str(cache), '-p',
            'providers:=[tensorrt, cpu]', '-p', 'fallback_policy:=allow']
    assert build_engine(argv) == 0
    key = next(line.split(':', 1)[1].strip() for line in capsys.readouterr().out.splitlines()
               if line.startswith('cache key'))
    inside = cache / key / 'm.onnx'
    shutil.copyfile(model, inside)
    (cache / key / 'manifest.json').unlink(missing_ok=True)
    digest = tree_digest(inside)
    assert build_engine([*argv[:1], str(inside), *argv[2:]]) == 1
    assert 'lies in the engine folder' in capsys.readouterr().err
    assert tree_digest(inside) == digest


def test_outputs_overlapping_inputs_in_any_direction_are_refused(tmp_path) -> None:
    from edge_infer_ros.errors import ConfigError
    from edge_infer_ros.tools.outputs import claim

    data = tmp_path / 'data'
    (data / 'bag').mkdir(parents=True)
    for out in (data, data / 'bag', data / 'bag' / 'x'):
        with pytest.raises(ConfigError, match='overlaps the input'):
            claim(out, 'evaluate_bag', [str(data / 'bag')], overwrite=True, option='--report')
    assert claim(tmp_path / 'new', 'evaluate_bag', [str(data)], overwrite=False,
                 option='--report').apply() == tmp_path / 'new'
    assert os.listdir(data) == ['bag']
