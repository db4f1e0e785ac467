"""Engine cache: one sub-folder per key, and a small manifest that says what was built there.

ORT's own cache key hashes the model *file name*, not its weights, so a retrained model with the
same name would reuse a stale engine. Our key hashes everything that changes the engine: model
and external data bytes, precision, shapes and profiles, calibration table, builder settings,
ORT and TensorRT versions, GPU name and compute capability. Each key gets its own folder, so
entries are never shared across keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import contextlib
from dataclasses import dataclass
import fcntl
import hashlib
import json
import os
from pathlib import Path
import re
import tempfile
import time
from typing import Any

__all__ = [
    'CacheState',
    'MANIFEST_NAME',
    'compute_key',
    'model_stem',
    'engine_files',
    'folder_lock',
    'prepare_cache_dir',
    'read_manifest',
    'snapshot',
    'write_manifest',
]

MANIFEST_NAME = 'manifest.json'
KEY_FORMAT = 1
_ENGINE_SUFFIXES = ('.engine', '.profile', '.onnx')


def model_stem(model_path: str) -> str:
    """The model file's name, filesystem-safe and short: the readable part of keys and files."""
    stem = re.sub(r'[^A-Za-z0-9_.-]+', '_', Path(model_path).stem).strip('._') or 'model'
    return stem[:40]


def compute_key(model_path: str, precision: str, components: Mapping[str, Any]) -> str:
    """Readable, filesystem-safe key: ``<model stem>-<precision>-<16 hex digits>``.

    ``components`` must be JSON-serialisable; its canonical form is what gets hashed.
    """
    canonical = json.dumps({'format': KEY_FORMAT, **components}, sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return f'{model_stem(model_path)}-{precision}-{digest}'


def engine_files(folder: Path) -> list[str]:
    """Files TensorRT/ORT wrote for this key (engines, profiles, EP-context model)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in _ENGINE_SUFFIXES)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each engine file: a rebuild shows up as a change."""
    out = {}
    for name in engine_files(folder):
        stat = (folder / name).stat()
        out[name] = (stat.st_size, stat.st_mtime_ns)
    return out


def read_manifest(folder: Path, key: str) -> tuple[dict[str, Any] | None, str]:
    """The manifest of a key folder, or None and why it cannot be trusted."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        return None, 'no manifest'
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f'manifest {str(path)!r} is unreadable ({err})'
    if not isinstance(data, dict) or data.get('key') != key or not isinstance(
        data.get('files'), list
    ):
        return None, f'manifest {str(path)!r} does not describe key {key!r}'
    missing = [f for f in data['files'] if not (folder / str(f)).is_file()]
    if missing or not data['files']:
        return None, f'engine files {missing!r} listed in the manifest are missing'
    return data, ''


def write_manifest(folder: Path, data: Mapping[str, Any]) -> Path:
    """Write the manifest atomically (temporary file in the same folder, then os.replace)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    fd, tmp = tempfile.mkstemp(prefix='.manifest-', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            json.dump(dict(data), handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class CacheState:
    """A key folder before the session is created: trusted manifest or not, and why."""

    folder: Path
    manifest: dict[str, Any] | None
    reason: str
    before: dict[str, tuple[int, int]]

    def hit_after(self, after: Mapping[str, tuple[int, int]]) -> bool:
        """True when a trusted engine existed and the session wrote no engine file."""
        return self.manifest is not None and bool(self.before) and dict(after) == self.before


def prepare_cache_dir(root: Path, key: str) -> CacheState:
    """Create the key folder; drop engine files no valid manifest vouches for (rebuild).

    A crash mid-build or a corrupt manifest leaves files that cannot be trusted; deleting them
    makes TensorRT build afresh rather than load something of unknown origin.
    """
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    manifest, reason = read_manifest(folder, key)
    if manifest is None:
        for name in engine_files(folder):
            (folder / name).unlink(missing_ok=True)
        (folder / MANIFEST_NAME).unlink(missing_ok=True)
    return CacheState(folder, manifest, reason, snapshot(folder))


def manifest_record(
    key: str, components: Mapping[str, Any], folder: Path, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest content after a successful TensorRT session."""
    return {
        'key': key,
        'key_components': dict(components),
        'files': engine_files(folder),
        'written': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        **extra,
    }


@contextlib.contextmanager
def folder_lock(folder: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on a key folder while building (node and build_engine at once).

    The second process waits, then finds the engine the first one built.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / '.lock').open('a') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(f'waiting for another process to finish building {str(folder)!r}')
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
