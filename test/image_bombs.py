"""Decompression bombs, built byte by byte: tiny files that decode to gigabytes.

Each builder takes the declared size, so a test can check at a small size that the bytes are a
real, decodable image (OpenCV decodes them) and then send the same construction at a hostile size.
"""

from __future__ import annotations

import struct
import zlib


def bmp_rle8(width: int, height: int) -> bytes:
    """An RLE8 BMP whose only run code is end-of-bitmap: 64 bytes whatever the size."""
    palette = bytes([0, 0, 0, 0, 255, 255, 255, 0])
    pixels = b'\x00\x01'
    info = struct.pack('<IiiHHIIiiII', 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 2, 0)
    offset = 14 + len(info) + len(palette)
    header = b'BM' + struct.pack('<IHHI', offset + len(pixels), 0, 0, offset)
    return header + info + palette + pixels


class _Bits:
    """LSB-first bit writer, as the WebP lossless bitstream is packed."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, bits: int) -> None:
        self.value |= (value & ((1 << bits) - 1)) << self.count
        self.count += bits

    def data(self) -> bytes:
        return self.value.to_bytes((self.count + 7) // 8, 'little')


def webp_lossless(width: int, height: int) -> bytes:
    """A VP8L image whose five prefix codes have one symbol each: zero bits per pixel."""
    bits = _Bits()
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1 + 3)  # no alpha hint, version 0
    bits.put(0, 1 + 1 + 1)  # no transform, no colour cache, no meta prefix codes
    for _ in range(5):  # green, red, blue, alpha, distance: simple code, one 1-bit symbol (0)
        bits.put(0b0001, 4)
    payload = b'\x2f' + bits.data() + bytes(8)
    payload += b'\x00' * (len(payload) % 2)
    chunk = b'VP8L' + struct.pack('<I', len(payload)) + payload
    return b'RIFF' + struct.pack('<I', 4 + len(chunk)) + b'WEBP' + chunk


def tiff_deflate(width: int, height: int, rows: int = 250) -> bytes:
    """A bilevel deflate TIFF whose strips all point at one compressed strip of zeros."""
    rows = min(rows, max(1, height // 2))  # two strips at least: arrays, not inline values
    strip = zlib.compress(bytes((width + 7) // 8 * rows), 9)
    strips = -(-height // rows)
    entries = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 8), (262, 3, 1),
               (273, 4, None), (277, 3, 1), (278, 4, rows), (279, 4, None)]
    offsets_at = 8 + 2 + 12 * len(entries) + 4
    counts_at = offsets_at + 4 * strips
    data_at = counts_at + 4 * strips
    out = bytearray(b'II*\x00' + struct.pack('<IH', 8, len(entries)))
    for tag, kind, value in entries:
        if tag in (273, 279):
            out += struct.pack('<HHII', tag, kind, strips, offsets_at if tag == 273 else counts_at)
        elif kind == 3:
            out += struct.pack('<HHIHH', tag, kind, 1, value, 0)
        else:
            out += struct.pack('<HHII', tag, kind, 1, value)
    out += struct.pack('<I', 0)
    out += struct.pack(f'<{strips}I', *[data_at] * strips)
    out += struct.pack(f'<{strips}I', *[len(strip)] * strips)
    return bytes(out + strip)


BOMBS = {
    'bmp': lambda: bmp_rle8(30000, 30000),
    'webp': lambda: webp_lossless(16383, 16383),
    'tiff': lambda: tiff_deflate(20000, 20000),
}
"""The audit's bombs: BMP RLE8 30000², lossless WebP 16383², deflate TIFF 20000²."""
