"""Where the offline tools write: never over an input, and replacing only what they wrote.

``evaluate_bag inbag --output-bag inbag --overwrite`` once deleted the recording it was asked
to read. Every output folder (report, output bag, calibration folder) now gets a marker file
naming the tool, what it wrote and whether the run finished (``partial`` until it did), and:

- an output that is an input, lies inside one or holds one is refused;
- an existing output is replaced only with ``--overwrite`` and only when the marker says this
  tool wrote it; then only the files the marker lists are removed;
- an existing folder without the marker is never touched (only an empty one is used).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import datetime
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any

from edge_infer_ros.errors import ConfigError

__all__ = ['MARKER', 'Claim', 'claim', 'mark', 'marker_of']

MARKER = '.edge_infer_ros_output.json'
"""The marker file's name, inside each output folder."""


def _overlap(output: Path, inputs: Iterable[str | os.PathLike[str]]) -> str | None:
    out = output.resolve()
    for source in inputs:
        src = Path(source).resolve()
        if out == src or src in out.parents or out in src.parents:
            return str(source)
    return None


def marker_of(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder``, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get('tool'), str) else None


@dataclass(frozen=True)
class Claim:
    """An output folder found free (or replaceable); :meth:`apply` clears what it replaces.

    Checking every output of a run before clearing any of them means a refusal leaves the disk
    exactly as it was.
    """

    path: Path
    tool: str
    replace: tuple[str, ...] | None = None
    """None: nothing to clear; ``()``: the whole folder; else the listed entries."""

    def apply(self) -> Path:
        """Remove what this claim replaces; return the (now free) folder."""
        if self.replace == ():
            if self.path.exists():  # a report's own claim may have cleared it already
                shutil.rmtree(self.path)
        elif self.replace is not None:
            for name in self.replace:
                _remove_listed(self.path, name, self.tool)
            (self.path / MARKER).unlink(missing_ok=True)
        return self.path


def claim(
    folder: str | os.PathLike[str],
    tool: str,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    overwrite: bool,
    option: str,
    whole: bool = False,
) -> Claim:
    """Check that ``folder`` may take a new output of ``tool``, or refuse with what to do.

    Args:
        folder: the output folder.
        tool: the command writing it (``evaluate_bag``...).
        inputs: everything the run reads; the output must not overlap any of them.
        overwrite: whether ``--overwrite`` was given.
        option: the command-line option that chose ``folder``, for messages.
        whole: the folder is re-created as a whole (an output bag): a marked one is removed;
            otherwise only the files its marker lists are.

    Returns:
        The claim; nothing on disk changes until its ``apply``.

    Raises:
        ConfigError: the folder overlaps an input, or exists and may not be replaced.
    """
    path = Path(folder)
    source = _overlap(path, inputs)
    if source is not None:
        msg = (f'{option} {str(path)!r} overlaps the input {source!r}; {tool} never writes '
               f'over an input: choose another {option}')
        raise ConfigError(msg)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return Claim(path, tool)
    marker = marker_of(path) if path.is_dir() else None
    if marker is None or marker['tool'] != tool:
        msg = (f'{option} {str(path)!r} exists and was not written by {tool}; it is never '
               f'replaced, even with --overwrite: choose a new or empty {option}')
        raise ConfigError(msg)
    if not overwrite:
        msg = (f'{option} {str(path)!r} holds the output of an earlier {tool} run; pass '
               f'--overwrite to replace it or choose another {option}')
        raise ConfigError(msg)
    return Claim(path, tool, () if whole else tuple(str(n) for n in marker.get('files', [])))


def _remove_listed(folder: Path, name: str, tool: str) -> None:
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        return  # a marker naming something outside its folder is not followed
    if target.is_dir():
        inner = marker_of(target)
        if inner is not None and inner['tool'] == tool:
            shutil.rmtree(target)
    elif target.is_file():
        target.unlink()


def mark(folder: str | os.PathLike[str], tool: str, state: str,
         files: Iterable[str] = ()) -> None:
    """Write (atomically) the marker: ``tool`` wrote ``files`` here, ``partial``/``complete``."""
    path = Path(folder)
    data = {'tool': tool, 'state': state, 'files': sorted(set(files)),
            'written': datetime.datetime.now().astimezone().isoformat(timespec='seconds')}
    fd, tmp = tempfile.mkstemp(prefix='.marker-', dir=path)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        json.dump(data, handle, indent=2)
        handle.write('\n')
    os.replace(tmp, path / MARKER)
