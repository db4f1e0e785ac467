"""The demo detector's PyTorch architecture and its export wrapper (torch; development only).

Shared by ``train_demo_detector.py`` (training) and ``export_demo_detector.py export`` (ONNX).
"""

from __future__ import annotations

import math
import os

from demo_detector_data import CLASS_NAMES
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

STRIDES = (8, 16, 32)
NC = len(CLASS_NAMES)


# ---------------------------------------------------------------------------------------------
# Model


def conv(c_in: int, c_out: int, k: int = 3, s: int = 1) -> nn.Sequential:
    """Conv + BatchNorm + SiLU, the only building block (BN is folded away at export)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.SiLU(inplace=True))


class CspStage(nn.Module):
    """Cross-stage partial block: half the channels go through residual 3x3 pairs."""

    def __init__(self, c: int, n: int = 1) -> None:
        """Build for ``c`` channels with ``n`` residual pairs."""
        super().__init__()
        h = c // 2
        self.skip = conv(c, h, 1)
        self.entry = conv(c, h, 1)
        self.blocks = nn.ModuleList(nn.Sequential(conv(h, h), conv(h, h)) for _ in range(n))
        self.fuse = conv(2 * h, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix a shortcut half with a deeper half."""
        y = self.entry(x)
        for b in self.blocks:
            y = y + b(y)
        return self.fuse(torch.cat([self.skip(x), y], 1))


class DemoDetector(nn.Module):
    """Tiny three-scale anchor-free detector; ``forward`` returns raw [B, 4 + nc, N]."""

    def __init__(self, nc: int = NC, widths: tuple[int, ...] = (16, 32, 64, 96, 128),
                 head: int = 48) -> None:
        """Build for ``nc`` classes; ``widths`` per stride 2..32, ``head`` head channels."""
        super().__init__()
        w = widths
        self.nc = nc
        self.stem = nn.Sequential(conv(3, w[0], 3, 2), conv(w[0], w[1], 3, 2))
        self.s8 = nn.Sequential(conv(w[1], w[2], 3, 2), CspStage(w[2]))
        self.s16 = nn.Sequential(conv(w[2], w[3], 3, 2), CspStage(w[3]))
        self.s32 = nn.Sequential(conv(w[3], w[4], 3, 2), CspStage(w[4]))
        self.lat32 = conv(w[4], w[3], 1)
        self.top16 = conv(2 * w[3], w[3], 1)
        self.lat16 = conv(w[3], w[2], 1)
        self.top8 = conv(2 * w[2], w[2], 1)
        self.heads = nn.ModuleList(
            nn.Sequential(conv(c, head), conv(head, head), nn.Conv2d(head, 4 + nc, 1))
            for c in (w[2], w[3], w[4]))
        prior = -math.log((1 - 0.01) / 0.01)
        for h in self.heads:
            nn.init.constant_(h[-1].bias[4:], prior)  # rare positives at the start
            nn.init.constant_(h[-1].bias[:4], 1.0)

    def level_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images [B, 3, H, W] in 0..1 -> raw maps [B, 4 + nc, H / s, W / s] for s = 8, 16, 32."""
        p8 = self.s8(self.stem(x))
        p16 = self.s16(p8)
        p32 = self.s32(p16)
        n16 = self.top16(torch.cat([F.interpolate(self.lat32(p32), scale_factor=2.0), p16], 1))
        n8 = self.top8(torch.cat([F.interpolate(self.lat16(n16), scale_factor=2.0), p8], 1))
        return [h(f) for h, f in zip(self.heads, (n8, n16, p32), strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw box/class maps flattened to [B, 4 + nc, N]."""
        return torch.cat([m.flatten(2) for m in self.level_maps(x)], 2)


def make_anchors(imgsz: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (N, 2) in input pixels and their strides (N,), in head output order."""
    pts, strides = [], []
    for s in STRIDES:
        n = imgsz // s
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
        pts.append(torch.stack([xs.flatten(), ys.flatten()], 1).float().add(0.5).mul(s))
        strides.append(torch.full((n * n,), float(s)))
    return torch.cat(pts), torch.cat(strides)


def raw_to_xyxy(raw: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor
                ) -> torch.Tensor:
    """Raw box rows [B, 4, N] (l t r b before softplus) -> boxes [B, N, 4] x1y1x2y2."""
    d = F.softplus(raw) * strides
    a = anchors.T[None]
    return torch.cat([a - d[:, :2], a + d[:, 2:]], 1).transpose(1, 2)


class ExportWrapper(nn.Module):
    """Adds the YOLOv8-layout decode: [1, 4 + nc, N] with cx cy w h pixels and sigmoid scores."""

    def __init__(self, net: DemoDetector, imgsz: int, batch: int = 1) -> None:
        """Wrap ``net`` for a fixed input of ``batch`` square images of ``imgsz`` pixels."""
        super().__init__()
        self.net, self.batch = net, batch
        self.cells = [(imgsz // s) ** 2 for s in STRIDES]
        anchors, strides = make_anchors(imgsz)
        self.register_buffer('anchors', anchors.T[None].contiguous())
        self.register_buffer('strides', strides[None, None])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Decode boxes and scores in-graph so consumers need no model-specific code."""
        # Constant reshapes keep the graph free of Shape ops (static for TensorRT).
        maps = self.net.level_maps(images)
        raw = torch.cat([m.reshape(self.batch, 4 + self.net.nc, n)
                         for m, n in zip(maps, self.cells, strict=True)], 2)
        d = F.softplus(raw[:, :4]) * self.strides
        lt, rb = d[:, :2], d[:, 2:]
        centre = self.anchors + (rb - lt) * 0.5
        return torch.cat([centre, lt + rb, raw[:, 4:].sigmoid()], 1)


def load_model(path: str | os.PathLike[str]) -> tuple[DemoDetector, dict]:
    """Load the EMA weights of a checkpoint (what gets exported)."""
    ck = torch.load(path, map_location='cpu', weights_only=False)
    net = DemoDetector()
    net.load_state_dict(ck['ema'])
    return net.eval(), {'step': ck['step'], 'seed': ck['args']['seed']}
