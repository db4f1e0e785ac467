"""``calibrate_int8``: ORT calibrators on recorded frames, a table the engine's int8 path takes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bag_fixtures import encoded_image, pixel_detector, random_frames, write_bag, write_params
import cv2
from engine_models import make_config, qdq_model
import numpy as np
from onnxruntime.quantization.CalTableFlatBuffers import TrtTable
import pytest

from edge_infer_ros.engine import create_engine
from edge_infer_ros.eval.calibrate_int8 import TABLE_NAME, main, sample_indices


@pytest.fixture(scope='module')
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pixel_detector(tmp_path_factory.mktemp('model') / 'pixel.onnx')


def _table(path: Path) -> dict[str, float]:
    table = TrtTable.TrtTable.GetRootAsTrtTable(path.read_bytes(), 0)
    return {table.Dict(i).Key().decode(): float(table.Dict(i).Value())
            for i in range(table.DictLength())}


def _printed_table(out: str) -> Path:
    line = next(x for x in out.splitlines() if x.strip().startswith('int8_calibration_table:'))
    return Path(line.split(':', 1)[1].strip())


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_minmax_table_is_written_and_taken_by_the_int8_engine(
    model: Path, tmp_path: Path, storage: str, capsys: pytest.CaptureFixture[str],
) -> None:
    frames = random_frames(10)
    frames[4] = replace(frames[4], corrupt='cdr')
    bag = write_bag(tmp_path / 'bag', frames, storage=storage)
    params = write_params(tmp_path / 'p.yaml', model, tmp_path / 'engines')
    assert main([str(bag), '--params-file', str(params), '--frames', '10', '--method',
                 'minmax']) == 0
    out = capsys.readouterr().out
    assert '    precision: int8' in out
    table = _printed_table(out)
    assert table.name == TABLE_NAME
    assert table.parent.parent == tmp_path / 'engines' / 'calibration'
    ranges = _table(table)
    assert {'images', 'output0'} <= set(ranges)
    # The input's range is the largest preprocessed pixel of the frames used (scale 1/255).
    used = [f for f in frames if not f.corrupt]
    assert ranges['images'] == pytest.approx(max(encoded_image(f.truth).max() for f in used)
                                             / 255.0, rel=1e-6)
    assert 'from 9 of 10 frames (1 unreadable)' in out
    config = make_config(model, tmp_path, providers=('tensorrt', 'cpu'), precision='int8',
                         int8_calibration_table=str(table), fallback_policy='allow')
    with create_engine(config) as engine:  # TensorRT absent here: CPU runs, table validated
        assert engine.status.int8_mode == 'table'
        assert (Path(engine.status.cache_dir) / TABLE_NAME).read_bytes() == table.read_bytes()


@pytest.mark.parametrize('method', ['entropy', 'percentile'])
def test_histogram_methods_on_an_image_folder(model: Path, tmp_path: Path, method: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, spec in enumerate(random_frames(6)):
        cv2.imwrite(str(folder / f'{i:03d}.png'), encoded_image(spec.truth))
    (folder / 'broken.png').write_bytes(b'no png')
    out_dir = tmp_path / 'table'
    assert main([str(folder), '-p', f'model_path:={model}', '-p', 'output_format:=end2end',
                 '-p', 'providers:=[cpu]', '--method', method, '--frames', '20',
                 '--output', str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert _printed_table(out) == (out_dir / TABLE_NAME).resolve()
    assert '(1 unreadable)' in out
    ranges = _table(out_dir / TABLE_NAME)
    assert all(np.isfinite(v) and v > 0 for v in ranges.values())
    assert (out_dir / 'calibration_info.json').exists()


def test_qdq_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = qdq_model(tmp_path / 'qdq.onnx')
    bag = write_bag(tmp_path / 'bag', random_frames(2))
    assert main([str(bag), '-p', f'model_path:={model}']) == 1
    err = capsys.readouterr().err
    assert 'Q/DQ-quantised' in err and 'needs no calibration table' in err


def test_no_frames_and_bad_sources_fail_with_a_message(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert main([str(empty), '-p', f'model_path:={model}']) == 1
    assert 'no image frames found' in capsys.readouterr().err
    assert main([str(tmp_path / 'nope.mcap'), '-p', f'model_path:={model}']) == 1
    assert 'does not exist' in capsys.readouterr().err
    assert main([str(empty), '--frames', '0']) == 1
    assert '--frames is 0' in capsys.readouterr().err


def test_sampling_is_even_or_seeded_random() -> None:
    assert sample_indices(10, 4, 'even', 0).tolist() == [0, 3, 6, 9]
    assert sample_indices(3, 10, 'even', 0).tolist() == [0, 1, 2]
    first = sample_indices(1000, 20, 'random', 7)
    assert first.tolist() == sample_indices(1000, 20, 'random', 7).tolist()
    assert first.tolist() != sample_indices(1000, 20, 'random', 8).tolist()
    assert len(set(first.tolist())) == 20 and first.tolist() == sorted(first.tolist())
