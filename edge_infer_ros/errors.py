"""Exception hierarchy: one base class so callers can catch everything the package raises."""

from __future__ import annotations

__all__ = [
    'CalibrationError',
    'ConfigError',
    'DecoderError',
    'EdgeInferError',
    'EngineError',
    'ImageDecodeError',
    'ProviderFallbackError',
    'BagError',
    'shown',
]

_SHOWN_CHARS = 80


def shown(value: object, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters.

    Message fields come from other processes: a 100,000-character ``encoding`` must not become
    a 100,000-character log line. The cut says how long the original was.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... ({len(text)} characters)'


class EdgeInferError(Exception):
    """Base class of every error raised by edge_infer_ros."""


class ConfigError(EdgeInferError, ValueError):
    """A parameter or configuration value is invalid; the message says which and how to fix it."""


class EngineError(EdgeInferError):
    """The inference session could not be created, built or run."""


class ProviderFallbackError(EngineError):
    """A requested execution provider is not active and the fallback policy forbids that."""


class ImageDecodeError(EdgeInferError, ValueError):
    """An image message is malformed or uses an unsupported encoding; names the offending field."""


class DecoderError(EdgeInferError):
    """Model outputs do not match any known detector layout, or do not match the chosen one."""


class CalibrationError(EdgeInferError):
    """INT8 calibration data or tables are missing, unusable or not needed."""


class BagError(EdgeInferError):
    """A rosbag cannot be read or written as requested."""
