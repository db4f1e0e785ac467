"""Class names: from a labels file, from the model's metadata, or numeric ids as a last resort.

Ultralytics exports store ``names`` in the ONNX metadata as a Python dict literal
(``"{0: 'person', 1: 'bicycle'}"``); it is parsed with :func:`ast.literal_eval`, which evaluates
literals only and never runs code.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

from edge_infer_ros.errors import ConfigError

__all__ = ['ClassNames', 'class_names_from_metadata', 'load_class_names', 'resolve_class_names']

_METADATA_KEYS = ('names', 'labels', 'classes', 'class_names')


@dataclass(frozen=True)
class ClassNames:
    """Map from class id to name, with a numeric fallback for ids it does not know.

    Attributes:
        names: class id to name.
        source: where the names came from (a path, ``'metadata'`` or ``'none'``), for logs.
    """

    names: Mapping[int, str] = field(default_factory=dict)
    source: str = 'none'

    def name(self, class_id: int) -> str:
        """Return the name of ``class_id``, or its decimal id when unknown."""
        return self.names.get(int(class_id), str(int(class_id)))

    def __len__(self) -> int:
        """Return how many names are known."""
        return len(self.names)

    def to_list(self, num_classes: int = 0) -> list[str]:
        """Return names indexed by class id, gaps and ids up to ``num_classes`` numbered.

        Lists are what ``LabelInfo`` and drawing code index by class id.
        """
        size = max(num_classes, max(self.names, default=-1) + 1)
        return [self.name(i) for i in range(size)]


def _normalise(value: Any, origin: str) -> dict[int, str]:
    """Turn a list or an id->name mapping into ``dict[int, str]``, rejecting anything else."""
    if isinstance(value, Mapping) and 'names' in value:
        value = value['names']  # A dataset file (Ultralytics data.yaml) with more keys.
    if isinstance(value, (list, tuple)):
        return {i: str(name) for i, name in enumerate(value)}
    if isinstance(value, Mapping):
        out: dict[int, str] = {}
        for key, name in value.items():
            try:
                out[int(key)] = str(name)
            except (TypeError, ValueError) as err:
                msg = f'Class id {key!r} in {origin!r} is not an integer.'
                raise ConfigError(msg) from err
        return out
    msg = f'Class names in {origin!r} must be a list or an id->name mapping, got {value!r:.80}.'
    raise ConfigError(msg)


def load_class_names(path: str | Path) -> ClassNames:
    """Read class names from a file.

    ``.yaml``/``.yml`` and ``.json`` hold a list, an id->name mapping or a dataset file with a
    ``names`` key; any other file has one name per line (blank lines are skipped).

    Raises:
        ConfigError: the file is missing, unreadable or holds no usable names.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding='utf-8')
    except OSError as err:
        msg = f'Cannot read labels file {str(file)!r}: {err.strerror or err}.'
        raise ConfigError(msg) from err
    suffix = file.suffix.lower()
    if suffix in {'.yaml', '.yml'}:
        import yaml  # Imported here: only YAML label files need it.

        try:
            names = _normalise(yaml.safe_load(text), str(file))
        except yaml.YAMLError as err:
            msg = f'Labels file {str(file)!r} is not valid YAML: {err}.'
            raise ConfigError(msg) from err
    elif suffix == '.json':
        try:
            names = _normalise(json.loads(text), str(file))
        except json.JSONDecodeError as err:
            msg = f'Labels file {str(file)!r} is not valid JSON: {err}.'
            raise ConfigError(msg) from err
    else:
        lines = [line.strip() for line in text.splitlines()]
        names = dict(enumerate(line for line in lines if line))
    if not names:
        msg = f'Labels file {str(file)!r} holds no class names.'
        raise ConfigError(msg)
    return ClassNames(names, str(file))


def class_names_from_metadata(metadata: Mapping[str, str] | None) -> ClassNames | None:
    """Return the class names stored in model metadata, or ``None`` when there are none.

    Accepts a Python dict or list literal (Ultralytics) or JSON under ``names``, ``labels``,
    ``classes`` or ``class_names``; unparsable values are ignored rather than fatal, because the
    metadata is only a convenience.
    """
    for key in _METADATA_KEYS:
        raw = (metadata or {}).get(key)
        if not raw:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            try:
                value = json.loads(raw)
            except ValueError:
                continue
        try:
            names = _normalise(value, f'metadata[{key!r}]')
        except ConfigError:
            continue
        if names:
            return ClassNames(names, 'metadata')
    return None


def resolve_class_names(
    labels_path: str = '', metadata: Mapping[str, str] | None = None
) -> ClassNames:
    """Pick the class names: a labels file wins, then model metadata, then numeric ids."""
    if labels_path:
        return load_class_names(labels_path)
    return class_names_from_metadata(metadata) or ClassNames()
