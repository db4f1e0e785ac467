"""Read rosbags of any kind and write detection bags, with ``rosbags`` (no ROS installation).

Recorded bags are messy: split files without ``metadata.yaml``, topics of types nobody here
knows, definitions that do not parse, truncated files. ``rosbags.highlevel.AnyReader`` gives up on
the whole bag for any one of those; this reader registers each connection's type on its own, so a
bad topic only makes *that* topic unreadable (reported in ``BagReader.topics``), and a bag that
ends mid-chunk yields what it has and says why it stopped (``BagReader.read_error``).

Written bags use ``bag_types.typestore()`` (ROS 2 plus vision_msgs from its ``.msg`` files), so
they carry the upstream definitions and type hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import heapq
import os
from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.rosbag1 import Reader as Ros1Reader
from rosbags.rosbag2 import Reader as Ros2Reader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from edge_infer_ros.errors import BagError
from edge_infer_ros.eval.bag_types import typestore
from edge_infer_ros.tools.outputs import MARKER, mark

__all__ = [
    'BagReader',
    'BagTopic',
    'BagWriter',
    'DETECTIONS_TYPE',
    'IMAGE_TYPES',
    'STORAGES',
]

IMAGE_TYPES = {'sensor_msgs/msg/Image': False, 'sensor_msgs/msg/CompressedImage': True}
"""Image message types and whether each is compressed."""
DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_STORAGE_SUFFIXES = ('.mcap', '.db3')
_IDL_SEPARATOR = '=' * 80 + '\n'


def _reader_typestore(kind: str) -> Typestore:
    """A fresh store per bag (bag definitions get registered into it), vision_msgs included."""
    if kind == 'ros1':
        return get_typestore(Stores.ROS1_NOETIC)
    store = get_typestore(Stores.ROS2_KILTED)
    shared = typestore()
    store.register({k: v for k, v in shared.fielddefs.items() if k not in store.fielddefs})
    return store


@dataclass(frozen=True)
class BagTopic:
    """One topic of a bag: its type, message count and why it cannot be read ('' if it can)."""

    name: str
    msgtype: str
    count: int
    problem: str = ''


def _storage_files(path: Path) -> tuple[list[Path], str]:
    """The readers' inputs for a path, and the bag kind (rosbag2 or ros1)."""
    if not path.exists():
        msg = f'bag {str(path)!r} does not exist'
        raise BagError(msg)
    if path.is_file() and path.suffix == '.bag':
        return [path], 'ros1'
    if path.is_file() and path.suffix in _STORAGE_SUFFIXES:
        return [path], 'rosbag2'
    if path.is_dir() and (path / 'metadata.yaml').is_file():
        return [path], 'rosbag2'
    if path.is_dir():  # a rosbag2 folder whose metadata.yaml was lost: read its files directly
        files = sorted(p for p in path.iterdir() if p.suffix in _STORAGE_SUFFIXES)
        if files:
            return files, 'rosbag2'
    msg = (
        f'bag {str(path)!r} is neither a rosbag2 folder, an .mcap or .db3 file, nor a ROS 1 '
        '.bag file'
    )
    raise BagError(msg)


def _definition_types(conn: Connection) -> dict[str, Any]:
    fmt, text = conn.msgdef.format, conn.msgdef.data
    if fmt == MessageDefinitionFormat.MSG:
        return get_types_from_msg(text, conn.msgtype)
    types: dict[str, Any] = {}
    if text.startswith(f'{_IDL_SEPARATOR}IDL: '):  # several IDL files concatenated
        for part in text.split(_IDL_SEPARATOR)[1:]:
            types.update(get_types_from_idl(part.split('\n', 1)[1]))
        return types
    return get_types_from_idl(text)


def _register(store: Typestore, conn: Connection) -> str:
    """Make ``conn``'s type known to ``store``; return why that failed, or ''."""
    if conn.msgtype not in store.fielddefs:
        if conn.msgdef.format == MessageDefinitionFormat.NONE or not conn.msgdef.data.strip():
            return f'type {conn.msgtype!r} is unknown and the bag has no definition of it'
        try:
            types = _definition_types(conn)
            store.register({k: v for k, v in types.items() if k not in store.fielddefs})
        except Exception as err:  # noqa: BLE001 - parser and code generator raise many types
            return f'definition of {conn.msgtype!r} cannot be used: {err}'
        if conn.msgtype not in store.fielddefs:
            return f'definition of {conn.msgtype!r} does not define it'
    try:
        store.get_msgdef(conn.msgtype)  # resolves nested types, which register does not check
    except Exception as err:  # noqa: BLE001 - a KeyError names the missing type
        return f'definition of {conn.msgtype!r} uses unknown type {err}'
    return ''


class BagReader:
    """A rosbag2 folder, a lone ``.mcap``/``.db3`` file or a ROS 1 ``.bag``, opened for reading.

    Use as a context manager. Messages come in log-time order as raw bytes; deserialise only the
    ones you need with :meth:`deserialize`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._files, self.kind = _storage_files(self.path)
        self._readers: list[Any] = []
        self._store: Typestore | None = None
        self._types: dict[str, str] = {}
        self.topics: dict[str, BagTopic] = {}
        self.read_error = ''

    def open(self) -> BagReader:
        """Open every storage file and register each topic's type.

        Raises:
            BagError: a file is not a readable bag.
        """
        reader_cls = Ros1Reader if self.kind == 'ros1' else Ros2Reader
        store = _reader_typestore(self.kind)
        try:
            for file in self._files:
                reader = reader_cls(file)
                reader.open()
                self._readers.append(reader)
        except Exception as err:  # noqa: BLE001 - rosbags, sqlite3 and OS errors alike
            self.close()
            msg = f'cannot open bag {str(self.path)!r}: {err}'
            raise BagError(msg) from err
        counts: dict[str, int] = {}
        for conn in self.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
            self._types[conn.topic] = conn.msgtype
        for conn in self.connections:
            if conn.topic not in self.topics:
                problem = _register(store, conn)
                self.topics[conn.topic] = BagTopic(conn.topic, conn.msgtype,
                                                   counts[conn.topic], problem)
        self._store = store
        return self

    @property
    def connections(self) -> list[Connection]:
        """All connections of all storage files."""
        return [conn for reader in self._readers for conn in reader.connections]

    def topics_of_type(self, *msgtypes: str) -> list[str]:
        """Readable topics whose type is one of ``msgtypes``, sorted by name."""
        return sorted(t.name for t in self.topics.values()
                      if t.msgtype in msgtypes and not t.problem)

    def messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
        """Yield ``(topic, log time ns, raw bytes)`` of ``topics`` in log-time order.

        A storage error mid-way (a truncated file) ends the iteration and is kept in
        :attr:`read_error` instead of being raised, so the frames read so far still count.
        """
        wanted = set(topics)
        streams = []
        for reader in self._readers:
            conns = [c for c in reader.connections if c.topic in wanted]
            if conns:
                streams.append(reader.messages(connections=conns))
        merged = heapq.merge(*streams, key=lambda item: item[1])
        while True:
            try:
                conn, stamp, raw = next(merged)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - storage back ends raise many types
                self.read_error = f'reading {str(self.path)!r} stopped early: {err}'
                return
            yield conn.topic, stamp, raw

    def deserialize(self, topic: str, raw: bytes) -> Any:
        """Decode one message of ``topic``.

        Raises:
            BagError: the bytes do not decode as the topic's type (a corrupt record).
        """
        if self._store is None:
            msg = f'bag {str(self.path)!r} is not open'
            raise BagError(msg)
        msgtype = self._types[topic]
        try:
            if self.kind == 'ros1':
                return self._store.deserialize_ros1(raw, msgtype)
            return self._store.deserialize_cdr(raw, msgtype)
        except Exception as err:  # noqa: BLE001 - the deserialisers raise many types
            msg = f'a {msgtype!r} message on {topic!r} cannot be decoded: {err or type(err)}'
            raise BagError(msg) from err

    def close(self) -> None:
        """Close all storage files; idempotent."""
        readers, self._readers = self._readers, []
        for reader in readers:
            try:
                reader.close()
            except Exception:  # noqa: BLE001, S110 - closing a half-open reader may fail again
                pass

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


class BagWriter:
    """A new rosbag2 (mcap or sqlite3) that topics are added to as messages arrive.

    The bag folder carries the offline tools' output marker (``tools.outputs``): ``partial``
    from the start, ``complete`` once :meth:`mark_complete` is called after a full run, so an
    interrupted run's bag is readable and says it is partial.
    """

    def __init__(self, path: str | os.PathLike[str], storage: str = 'mcap',
                 tool: str = 'evaluate_bag') -> None:
        """Prepare the bag at ``path``, which must not exist yet.

        Raises:
            BagError: unknown storage or the path exists.
        """
        self.path = Path(path)
        self.tool = tool
        if storage not in STORAGES:
            msg = f'storage {storage!r} is not one of {list(STORAGES)!r}'
            raise BagError(msg)
        if self.path.exists():
            msg = f'output bag {str(self.path)!r} exists already; choose another path'
            raise BagError(msg)
        self.store = typestore()
        self._writer: Writer | None = Writer(self.path, version=9,
                                             storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self.count = 0
        try:
            self._writer.open()
            mark(self.path, tool, 'partial')
        except Exception as err:  # noqa: BLE001 - rosbags and OS errors
            msg = f'cannot create output bag {str(self.path)!r}: {err}'
            raise BagError(msg) from err

    def write(self, topic: str, msgtype: str, stamp: int, message: Any) -> None:
        """Serialise ``message`` (a type of :attr:`store`) and append it at log time ``stamp``."""
        if self._writer is None:
            msg = f'output bag {str(self.path)!r} is closed'
            raise BagError(msg)
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self.store)
            self._connections[topic] = conn
        self._writer.write(conn, stamp, self.store.serialize_cdr(message, msgtype))
        self.count += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); idempotent. It stays marked partial."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def mark_complete(self) -> None:
        """Close the bag and mark it as the output of a run that went to the end."""
        self.close()
        files = [p.name for p in self.path.iterdir() if p.name != MARKER]
        mark(self.path, self.tool, 'complete', files)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
