"""What the engine needs to know about an ONNX file, read without the ``onnx`` package.

The engine must resolve input shapes, detect Q/DQ quantisation and hash external weight files
*before* it creates a TensorRT session, and a CPU session cannot always load the model (TensorRT
plugin nodes such as ``EfficientNMS_TRT``). So this module walks the protobuf wire format of
``ModelProto`` directly: only the few fields used here are decoded, weights are skipped by length.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from pathlib import Path

from edge_infer_ros.errors import EngineError

__all__ = ['ModelInfo', 'ValueInfo', 'hash_model', 'read_model_info']

# ONNX TensorProto.DataType values the engine can bind, as numpy dtype names.
ELEM_TYPES = {
    1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
    9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
}
QDQ_OPS = frozenset({'QuantizeLinear', 'DequantizeLinear'})

Dim = int | str | None


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: name, ONNX element type and dims (int, symbol or None)."""

    name: str
    elem_type: int
    dims: tuple[Dim, ...] | None

    @property
    def dtype_name(self) -> str:
        """Numpy dtype name, or ``onnx:<n>`` for types numpy cannot hold (bfloat16...)."""
        return ELEM_TYPES.get(self.elem_type, f'onnx:{self.elem_type}')

    @property
    def is_dynamic(self) -> bool:
        """Whether any dimension (or the rank) is unknown until shapes are bound."""
        return self.dims is None or any(not isinstance(d, int) or d <= 0 for d in self.dims)


@dataclass(frozen=True)
class ModelInfo:
    """Inputs (initialisers excluded), outputs, op types and external data files of a model."""

    inputs: tuple[ValueInfo, ...]
    outputs: tuple[ValueInfo, ...]
    op_types: frozenset[str]
    external_files: tuple[str, ...]
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def has_qdq(self) -> bool:
        """Explicitly quantised (Q/DQ) models carry their own scales: no calibration table."""
        return bool(self.op_types & QDQ_OPS)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError('truncated varint')
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, int | memoryview]]:
    """Decode one message level: (field number, varint value or length-delimited bytes)."""
    out: list[tuple[int, int | memoryview]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError('truncated field')
            out.append((number, buf[pos:pos + size]))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f'unsupported wire type {wire}')
    return out


def _text(value: int | memoryview) -> str:
    return bytes(value).decode('utf-8') if isinstance(value, memoryview) else ''


def _sub(value: int | memoryview) -> memoryview:
    return value if isinstance(value, memoryview) else memoryview(b'')


def _value_info(buf: memoryview) -> ValueInfo:
    name, elem_type, dims = '', 0, None
    for number, value in _fields(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:  # TypeProto
            for tnum, tval in _fields(_sub(value)):
                if tnum != 1:  # tensor_type only
                    continue
                for fnum, fval in _fields(_sub(tval)):
                    if fnum == 1 and isinstance(fval, int):
                        elem_type = fval
                    elif fnum == 2:  # TensorShapeProto
                        dims = tuple(_dim(_sub(d)) for n, d in _fields(_sub(fval)) if n == 1)
    return ValueInfo(name, elem_type, dims)


def _dim(buf: memoryview) -> Dim:
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            return value
        if number == 2:
            return _text(value) or None
    return None


def _op_types(graph_fields: list[tuple[int, int | memoryview]], into: set[str]) -> None:
    for number, value in graph_fields:
        if number != 1:  # NodeProto
            continue
        for nnum, nval in _fields(_sub(value)):
            if nnum == 4:
                into.add(_text(nval))
            elif nnum == 5:  # AttributeProto: subgraphs of If/Loop/Scan
                for anum, aval in _fields(_sub(nval)):
                    if anum in (6, 11):
                        _op_types(_fields(_sub(aval)), into)


def _external_location(tensor: memoryview) -> str:
    for number, value in _fields(tensor):
        if number == 13:  # external_data entries
            entry = {n: _text(v) for n, v in _fields(_sub(value))}
            if entry.get(1) == 'location':
                return entry.get(2, '')
    return ''


def parse_model(data: bytes) -> ModelInfo:
    """Parse serialised ``ModelProto`` bytes; raises ValueError on malformed input."""
    graph: list[tuple[int, int | memoryview]] = []
    op_types: set[str] = set()
    metadata: list[tuple[str, str]] = []
    for number, value in _fields(memoryview(data)):
        if number == 7:
            graph = _fields(_sub(value))
        elif number == 14:  # metadata_props: StringStringEntryProto(key=1, value=2)
            entry = dict(_fields(_sub(value)))
            metadata.append((_text(entry.get(1, 0)), _text(entry.get(2, 0))))
        elif number == 25:  # model-local functions
            _op_types(_fields(_sub(value)), op_types)
    if not graph:
        raise ValueError('no graph in model')
    _op_types(graph, op_types)
    initialisers: set[str] = set()
    external: list[str] = []
    for number, value in graph:
        if number == 5:
            fields = _fields(_sub(value))
            initialisers.update(_text(v) for n, v in fields if n == 8)
            location = _external_location(_sub(value))
            if location and location not in external:
                external.append(location)
    inputs = tuple(
        info for info in (_value_info(_sub(v)) for n, v in graph if n == 11)
        if info.name not in initialisers
    )
    outputs = tuple(_value_info(_sub(v)) for n, v in graph if n == 12)
    return ModelInfo(inputs, outputs, frozenset(op_types), tuple(external), tuple(metadata))


def read_model_info(path: str | Path) -> tuple[ModelInfo, str]:
    """Read a model file once: its structure and the sha256 of its bytes and external data.

    Raises:
        EngineError: the file (or one of its external data files) is missing or not ONNX.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as err:
        msg = f'cannot read model file {str(file)!r}: {err.strerror or err}'
        raise EngineError(msg) from err
    try:
        info = parse_model(data)
    except (ValueError, UnicodeDecodeError) as err:
        msg = f'model file {str(file)!r} is not a valid ONNX model: {err}'
        raise EngineError(msg) from err
    return info, hash_model(data, file.parent, info.external_files)


def hash_model(data: bytes, folder: Path, external_files: tuple[str, ...]) -> str:
    """Hash the graph bytes and every external weight file, so retrained weights change it."""
    digest = hashlib.sha256(data)
    for name in external_files:
        digest.update(b'\0' + name.encode())
        try:
            with (folder / name).open('rb') as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b''):
                    digest.update(chunk)
        except OSError as err:
            msg = f'external data file {str(folder / name)!r} of the model is unreadable'
            raise EngineError(msg) from err
    return digest.hexdigest()
