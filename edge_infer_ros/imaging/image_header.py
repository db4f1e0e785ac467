"""What a compressed image declares before anything decodes it: its codec and its size.

OpenCV's ``imdecode`` sniffs the bytes and decodes every format it knows, whatever a message's
``format`` field says, and allocates the full image first: a 64-byte RLE BMP declaring
30000x30000 pixels costs 2.7 GB. So the codec is recognised here from the magic bytes, and the
width and height come from the header alone, so an oversized image is refused before a single
pixel buffer exists. JPEG and PNG (what ``image_transport`` publishes, checked on every frame) are
read by the small parsers below; the codecs a parameter may add are read by Pillow, which parses
only their headers when opening.
"""

from __future__ import annotations

from collections.abc import Collection
import io
from typing import Any
import warnings

from numpy.typing import NDArray

from edge_infer_ros.config import DEFAULT_IMAGE_CODECS as DEFAULT_CODECS
from edge_infer_ros.config import IMAGE_CODECS as CODECS
from edge_infer_ros.errors import ConfigError, ImageDecodeError

__all__ = ['CODECS', 'DEFAULT_CODECS', 'check_codecs', 'declared_size', 'sniff_codec']

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b'\xff\xd8\xff', 'jpeg'),
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'BM', 'bmp'),
    (b'II*\x00', 'tiff'),
    (b'MM\x00*', 'tiff'),
    (b'II+\x00', 'tiff'),  # BigTIFF
    (b'MM\x00+', 'tiff'),
    (b'\x00\x00\x00\x0cjP  \r\n\x87\n', 'jp2'),
    (b'\xffO\xffQ', 'jp2'),  # a bare JPEG 2000 codestream
    *((f'P{n}'.encode(), 'pnm') for n in range(1, 7)),
)
_PILLOW_FORMATS = {'bmp': 'BMP', 'tiff': 'TIFF', 'webp': 'WEBP', 'jp2': 'JPEG2000', 'pnm': 'PPM'}
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEAD_BYTES = 16


def sniff_codec(buf: NDArray[Any]) -> str | None:
    """Return the codec whose magic bytes start ``buf`` (flat uint8), or None."""
    head = buf[:_HEAD_BYTES].tobytes()
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    for magic, codec in _MAGIC:
        if head.startswith(magic) and (codec != 'pnm' or head[2:3].isspace()):
            return codec
    return None


def check_codecs(codecs: Collection[str]) -> None:
    """Fail early (at configure) when an accepted codec's header cannot be read here.

    Raises:
        ConfigError: an unknown codec, or one that needs Pillow where Pillow is missing.
    """
    unknown = sorted(set(codecs) - set(CODECS))
    if unknown:
        msg = f'parameter compressed_codecs names {unknown!r}; use any of {list(CODECS)!r}'
        raise ConfigError(msg)
    needs_pillow = sorted(set(codecs) - set(DEFAULT_CODECS))
    if needs_pillow:
        try:
            import PIL.Image  # noqa: F401 - only its presence is checked here
        except ImportError as err:
            msg = (f'parameter compressed_codecs adds {needs_pillow!r}, whose sizes are read with '
                   'Pillow, which is not installed; install python3-pil (pip: pillow) or accept '
                   'only jpeg and png')
            raise ConfigError(msg) from err


def declared_size(codec: str, buf: NDArray[Any]) -> tuple[int, int]:
    """Return the (width, height) the header of a ``codec`` image in ``buf`` declares.

    Raises:
        ImageDecodeError: the header is cut short or declares no size.
    """
    size = _png_size(buf) if codec == 'png' else (
        _jpeg_size(buf) if codec == 'jpeg' else _pillow_size(codec, buf))
    if size is None:
        msg = (f'CompressedImage data of {buf.size!r} bytes cannot be decoded: its {codec} header '
               'declares no image size.')
        raise ImageDecodeError(msg)
    return size


def _png_size(buf: NDArray[Any]) -> tuple[int, int] | None:
    head = buf[:24].tobytes()
    if len(head) < 24 or head[12:16] != b'IHDR':
        return None
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')


def _jpeg_size(buf: NDArray[Any]) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker (one step per segment)."""
    pos, size = 2, buf.size
    while pos + 9 <= size:
        if buf[pos] != 0xFF:
            return None
        marker = int(buf[pos + 1])
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _SOF_MARKERS:
            height = int(buf[pos + 5]) << 8 | int(buf[pos + 6])
            width = int(buf[pos + 7]) << 8 | int(buf[pos + 8])
            return width, height
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        pos += 2 + (int(buf[pos + 2]) << 8 | int(buf[pos + 3]))
    return None


def _pillow_size(codec: str, buf: NDArray[Any]) -> tuple[int, int] | None:
    """Pillow parses only the header in ``open``; no pixel is decoded or allocated."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(buf.tobytes()), formats=[_PILLOW_FORMATS[codec]]) as image:
                width, height = image.size
    except Image.DecompressionBombError as err:
        msg = (f'CompressedImage data of {buf.size!r} bytes is a {codec} image declaring more '
               f'than {2 * (Image.MAX_IMAGE_PIXELS or 0)!r} pixels; refused undecoded.')
        raise ImageDecodeError(msg) from err
    except (OSError, SyntaxError, ValueError, KeyError, IndexError, EOFError):
        return None
    return int(width), int(height)
