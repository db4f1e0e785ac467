"""Reading messy bags and writing detection bags with rosbags, in both storages."""

from __future__ import annotations

from pathlib import Path

from bag_fixtures import LABELS, random_frames, write_bag
import numpy as np
import pytest

from edge_infer_ros.decoders.detections import Detections
from edge_infer_ros.errors import BagError
from edge_infer_ros.eval.bag_io import DETECTIONS_TYPE, BagReader, BagWriter
from edge_infer_ros.eval.bag_types import typestore
from edge_infer_ros.eval.messages import (
    ClassIndex,
    detection_array,
    frame_key,
    named_boxes_from_msg,
    ros2_header,
)
from edge_infer_ros.eval.run import plan_bag_cameras, plan_node_cameras

UPSTREAM_RIHS01 = 'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968'
STORAGES = ('mcap', 'sqlite3')


@pytest.mark.parametrize('storage', STORAGES)
def test_reads_images_and_ground_truth(tmp_path: Path, storage: str) -> None:
    frames = random_frames(3)
    bag = write_bag(tmp_path / 'bag', frames, storage=storage)
    with BagReader(bag) as reader:
        assert reader.topics_of_type('sensor_msgs/msg/Image') == ['/front/image_raw']
        assert reader.topics['/front/image_raw'].count == 3
        truth = [named_boxes_from_msg(reader.deserialize(t, raw))
                 for t, _, raw in reader.messages(['/ground_truth'])]
    index = ClassIndex(LABELS)
    for spec, named in zip(frames, truth, strict=True):
        dets = index.detections(named)
        np.testing.assert_allclose(dets.boxes, spec.truth.boxes, atol=1e-4)
        np.testing.assert_array_equal(dets.class_ids, spec.truth.class_ids)


@pytest.mark.parametrize('storage', STORAGES)
def test_storage_files_without_metadata(tmp_path: Path, storage: str) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(2), storage=storage)
    (bag / 'metadata.yaml').unlink()
    lone = next(p for p in bag.iterdir())
    for path in (bag, lone):  # the folder without metadata, and the storage file alone
        with BagReader(path) as reader:
            assert len(list(reader.messages(['/front/image_raw']))) == 2


def test_unknown_type_makes_only_its_topic_unreadable(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(2), unknown_topic=True)
    with BagReader(bag) as reader:
        assert 'other_msgs/msg/Missing' in reader.topics['/weird'].problem
        assert reader.topics_of_type('my_msgs/msg/Weird') == []
        assert reader.topics['/front/image_raw'].problem == ''


def test_corrupt_record_raises_bag_error_with_topic(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(1))
    with BagReader(bag) as reader:
        with pytest.raises(BagError, match=r"on '/front/image_raw' cannot be decoded"):
            reader.deserialize('/front/image_raw', b'\x00\x01\x00\x00\x07')


def test_unusable_inputs_are_one_sentence_errors(tmp_path: Path) -> None:
    with pytest.raises(BagError, match='does not exist'):
        BagReader(tmp_path / 'missing')
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(BagError, match='neither a rosbag2 folder'):
        BagReader(tmp_path / 'notes.txt')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match='neither a rosbag2 folder'):
        BagReader(tmp_path / 'empty')
    (tmp_path / 'broken.mcap').write_bytes(b'\x89MCAP0\r\n' + b'\x00' * 32)
    with pytest.raises(BagError, match='cannot open bag .*broken.mcap'):
        BagReader(tmp_path / 'broken.mcap').open()


def test_truncated_mcap_is_reported(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(4))
    data = next(bag.glob('*.mcap')).read_bytes()
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match='cannot open bag'):
        BagReader(cut).open()


@pytest.mark.parametrize('storage', STORAGES)
def test_writer_round_trip_keeps_header_and_upstream_hash(tmp_path: Path, storage: str) -> None:
    dets = Detections(np.array([[1.5, 2.0, 30.0, 40.25]]), np.array([0.75]), np.array([2]))
    with BagWriter(tmp_path / 'out', storage) as writer:
        header = ros2_header(writer.store, (1_700_000_000_123_456_789, 'cam'))
        writer.write('/detections', DETECTIONS_TYPE, 42,
                     detection_array(writer.store, header, dets, LABELS))
    with BagReader(tmp_path / 'out') as reader:
        conn = reader.connections[0]
        assert conn.digest == UPSTREAM_RIHS01
        [(_, stamp, raw)] = list(reader.messages(['/detections']))
        msg = reader.deserialize('/detections', raw)
    assert stamp == 42
    assert frame_key(msg.header) == (1_700_000_000_123_456_789, 'cam')
    named = named_boxes_from_msg(msg)
    assert named.names == ('dog',)
    np.testing.assert_allclose(named.boxes, dets.boxes, atol=1e-6)
    assert msg.detections[0].results[0].pose.pose.orientation.w == 1.0


def test_class_id_mode_id_writes_numbers(tmp_path: Path) -> None:
    dets = Detections(np.array([[0, 0, 4, 4]]), np.array([0.5]), np.array([7]))
    msg = detection_array(typestore(), ros2_header(typestore(), (1, '')), dets, LABELS)
    assert msg.detections[0].results[0].hypothesis.class_id == '7'  # beyond the labels
    dets = Detections(np.array([[0, 0, 4, 4]]), np.array([0.5]), np.array([1]))
    msg = detection_array(typestore(), ros2_header(typestore(), (1, '')), dets, LABELS,
                          class_id_mode='id')
    assert msg.detections[0].results[0].hypothesis.class_id == '1'
    index = ClassIndex(LABELS)
    assert index.detections(named_boxes_from_msg(msg)).class_ids.tolist() == [1]


def test_writer_refuses_existing_path_and_unknown_storage(tmp_path: Path) -> None:
    with pytest.raises(BagError, match='exists already'):
        BagWriter(tmp_path)
    with pytest.raises(BagError, match="storage 'rosbag1' is not one of"):
        BagWriter(tmp_path / 'new', 'rosbag1')


def test_class_index_names_ids_and_extras() -> None:
    index = ClassIndex(LABELS)
    assert index.id_of('car') == 1
    assert index.id_of('5') == 5
    extra = index.id_of('bicycle')
    assert extra > 1000 and index.id_of('bicycle') == extra
    assert [index.name(i) for i in (0, 5, extra)] == ['person', '5', 'bicycle']


def test_ros1_bag_is_read(tmp_path: Path) -> None:
    from rosbags.rosbag1 import Writer as Ros1Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    t = store.types
    header = t['std_msgs/msg/Header'](seq=3, stamp=t['builtin_interfaces/msg/Time'](
        sec=5, nanosec=7), frame_id='cam')
    image = t['sensor_msgs/msg/Image'](header=header, height=2, width=2, encoding='rgb8',
                                       is_bigendian=0, step=6, data=np.arange(12, dtype=np.uint8))
    with Ros1Writer(tmp_path / 'old.bag') as writer:
        conn = writer.add_connection('/cam/image', 'sensor_msgs/msg/Image', typestore=store)
        writer.write(conn, 10, store.serialize_ros1(image, 'sensor_msgs/msg/Image'))
    with BagReader(tmp_path / 'old.bag') as reader:
        assert reader.kind == 'ros1'
        [(topic, _, raw)] = list(reader.messages(reader.topics_of_type('sensor_msgs/msg/Image')))
        msg = reader.deserialize(topic, raw)
    assert frame_key(msg.header) == (5_000_000_007, 'cam')
    assert bytes(msg.data) == bytes(range(12))



def test_cameras_discovered_by_type_and_named_like_the_node(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / 'bag', random_frames(1), compressed_twin=True)
    with BagReader(bag) as reader:
        [camera] = plan_bag_cameras(reader, [])  # the compressed twin is not a second camera
        assert (camera.image_topic, camera.detections_topic, camera.compressed) == (
            '/front/image_raw', '/front/detections', False)
        [camera] = plan_bag_cameras(reader, plan_node_cameras(
            {}, ['front/image_raw/compressed'], None))
        assert camera.compressed and camera.detections_topic == '/front/detections'
        with pytest.raises(BagError, match="has type 'vision_msgs/msg/Detection2DArray'"):
            plan_bag_cameras(reader, plan_node_cameras({}, ['/ground_truth'], None))
