"""Train the package's demo detector on procedurally generated scenes (CPU, resumable).

A small CSP-style conv backbone with a top-down feature pyramid and anchor-free heads at strides
8/16/32; boxes are ``l t r b`` distances (softplus, in strides) from each cell centre, classes are
independent sigmoids. Positives come from a task-aligned assignment (score^0.5 * IoU^6, top 10
candidates near each object) with soft class targets (the alignment, normalised to 1 at each
object's best cell) and a target-weighted GIoU box loss. AdamW, cosine schedule, weight EMA.

Data is rendered on the fly by ``edge_infer_ros.demo.scene``; sample ``i`` of step ``s`` always
uses the seed ``[seed, s, i]``, so a resumed run sees exactly the data an uninterrupted one would.
Checkpoints go to ``build/train/`` (gitignored) every ``--ckpt-every`` steps; rerunning the same
command resumes. The defaults (2400 steps of 32 images at 320x320) take ~0.75 s/step on 2 idle
CPU cores, about 30 min; the model is then exported at 384x384 (see models/README.md).

    .venv-tools/bin/python tools/train_demo_detector.py
    .venv-tools/bin/python tools/export_demo_detector.py export
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
import sys
import time

import cv2
from demo_detector_data import (
    CONF,
    IMGSZ,
    IOU,
    ROOT,
    coco_map,
    decode,
    eval_samples,
    render_sample,
)
from demo_detector_model import (
    DemoDetector,
    ExportWrapper,
    make_anchors,
    raw_to_xyxy,
)
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

# ---------------------------------------------------------------------------------------------
# Assignment and loss


def box_iou(a: torch.Tensor, b: torch.Tensor, giou: bool = False) -> torch.Tensor:
    """IoU (or GIoU) of broadcastable x1y1x2y2 boxes [..., 4]."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    if not giou:
        return iou
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2]))
    hull_area = hull.clamp(min=0).prod(-1) + 1e-7
    return iou - (hull_area - union) / hull_area


@torch.no_grad()
def assign(scores: torch.Tensor, pred: torch.Tensor, anchors: torch.Tensor,
           strides: torch.Tensor, gt_boxes: torch.Tensor, gt_cls: torch.Tensor,
           gt_valid: torch.Tensor, topk: int = 10, peak: str = 'one'
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Task-aligned assignment.

    Args:
        scores: [B, N, C] sigmoid class scores.
        pred: [B, N, 4] predicted boxes.
        anchors: [N, 2] cell centres (px).
        strides: [N] cell sizes (px).
        gt_boxes: [B, M, 4] object boxes, padded.
        gt_cls: [B, M] long class ids.
        gt_valid: [B, M] bool, False for padding.
        topk: Positives per object at most.
        peak: Class target of each object's best cell: ``'one'``, or ``'iou'`` (its best IoU,
            as in TOOD/YOLOv8). ``'one'`` gives more confident scores, which matters when the
            detector runs at a fixed threshold such as 0.25.

    Returns:
        Target boxes [B, N, 4] and soft class targets [B, N, C] (zero rows are negatives).
    """
    b, n, c = scores.shape
    m = gt_boxes.shape[1]
    ax, ay = anchors[:, 0].view(1, 1, n), anchors[:, 1].view(1, 1, n)
    x1, y1, x2, y2 = (gt_boxes[..., i:i + 1] for i in range(4))
    inside = (ax > x1) & (ax < x2) & (ay > y1) & (ay < y2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = strides.view(1, 1, n)
    near = ((ax - cx).abs() < s) & ((ay - cy).abs() < s)  # tiny objects still get cells
    cand = (inside | near) & gt_valid[..., None]
    iou = box_iou(gt_boxes[:, :, None], pred[:, None]).clamp(min=0)  # [B, M, N]
    cls_score = scores.transpose(1, 2).gather(1, gt_cls[..., None].expand(b, m, n))
    align = cls_score.pow(0.5) * iou.pow(6.0) * cand
    top = (align + cand * 1e-9).topk(min(topk, n), dim=-1).indices
    pos = torch.zeros_like(cand).scatter_(-1, top, True) & cand
    multi = pos.sum(1, keepdim=True) > 1  # a cell wanted by several objects keeps the best IoU
    best = F.one_hot((iou * pos).argmax(1), m).transpose(1, 2).bool()
    pos = torch.where(multi, best & pos, pos)
    gt_idx = pos.float().argmax(1)  # [B, N]
    is_pos = pos.any(1)
    t_boxes = gt_boxes.gather(1, gt_idx[..., None].expand(b, n, 4))
    t_cls = gt_cls.gather(1, gt_idx)
    align = align * pos
    top_target = (iou * pos).amax(-1, keepdim=True) if peak == 'iou' else 1.0
    norm = align * (top_target / (align.amax(-1, keepdim=True) + 1e-9))
    weight = norm.amax(1) * is_pos
    t_scores = F.one_hot(t_cls, c).float() * weight[..., None]
    return t_boxes, t_scores


def detection_loss(raw: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor,
                   gt_boxes: torch.Tensor, gt_cls: torch.Tensor, gt_valid: torch.Tensor,
                   peak: str = 'one') -> tuple[torch.Tensor, dict[str, float]]:
    """Soft-target BCE for classes plus target-weighted GIoU for boxes."""
    logits = raw[:, 4:].transpose(1, 2)
    pred = raw_to_xyxy(raw[:, :4], anchors, strides)
    t_boxes, t_scores = assign(logits.detach().sigmoid(), pred.detach(), anchors, strides,
                               gt_boxes, gt_cls, gt_valid, peak=peak)
    norm = t_scores.sum().clamp(min=1.0)
    cls_loss = F.binary_cross_entropy_with_logits(logits, t_scores, reduction='sum') / norm
    w = t_scores.sum(-1)
    pos = w > 0
    giou = box_iou(pred[pos], t_boxes[pos], giou=True)
    box_loss = ((1.0 - giou) * w[pos]).sum() / norm
    loss = cls_loss + 5.0 * box_loss
    return loss, {'cls': cls_loss.item(), 'box': box_loss.item()}


# ---------------------------------------------------------------------------------------------
# Data


class SceneBatches(torch.utils.data.IterableDataset):
    """Endless batches; batch ``s`` is a pure function of (seed, s)."""

    def __init__(self, seed: int, start_step: int, steps: int, batch: int, imgsz: int) -> None:
        """Yield batches ``start_step`` .. ``steps - 1`` of ``batch`` samples."""
        super().__init__()
        self.seed, self.start, self.steps, self.batch, self.imgsz = (
            seed, start_step, steps, batch, imgsz)

    def __iter__(self):  # noqa: D105
        cv2.setNumThreads(1)
        for step in range(self.start, self.steps):
            samples = [render_sample([self.seed, step, i], self.imgsz) for i in range(self.batch)]
            imgs = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2)
            m = max(1, max(len(s.class_ids) for s in samples))
            boxes = torch.zeros(self.batch, m, 4)
            cls = torch.zeros(self.batch, m, dtype=torch.long)
            valid = torch.zeros(self.batch, m, dtype=torch.bool)
            for i, s in enumerate(samples):
                k = len(s.class_ids)
                boxes[i, :k] = torch.from_numpy(s.boxes)
                cls[i, :k] = torch.from_numpy(s.class_ids)
                valid[i, :k] = True
            yield step, imgs, boxes, cls, valid


# ---------------------------------------------------------------------------------------------
# Training


class Ema:
    """Exponential moving average of weights (and BN statistics), warmed up over ~200 steps."""

    def __init__(self, model: nn.Module, decay: float = 0.998) -> None:
        """Start from a copy of ``model``."""
        self.model = DemoDetector().eval()
        self.model.load_state_dict(model.state_dict())
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the live weights in."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / 200))
        for e, v in zip(self.model.state_dict().values(), model.state_dict().values(),
                        strict=True):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                e.copy_(v)


@torch.no_grad()
def quick_eval(net: nn.Module, n: int, imgsz: int) -> tuple[float, float]:
    """Score the torch model on the first ``n`` held-out scenes (decoded as the export is)."""
    samples = eval_samples(n)
    gts, dets = [], []
    for i in range(0, n, 16):
        chunk = samples[i:i + 16]
        wrapper = ExportWrapper(net, imgsz, len(chunk)).eval()
        x = torch.from_numpy(np.stack([s.image for s in chunk])).permute(0, 3, 1, 2)
        out = wrapper(x.float() / 255).numpy()
        for s, o in zip(chunk, out, strict=True):
            gts.append((s.boxes, s.class_ids))
            dets.append(decode(o, CONF, IOU))
    return coco_map(gts, dets)


def lr_at(step: int, steps: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 2 % of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def save(path: Path, **state: object) -> None:
    """Write a checkpoint atomically so an interrupted run can always resume."""
    tmp = path.with_suffix('.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> None:
    """Run (or resume) training."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / 'ckpt.pt'
    net = DemoDetector().to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for p in net.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.wd},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=args.lr)
    ema = Ema(net)
    start = 0
    if ckpt.exists():
        ck = torch.load(ckpt, map_location='cpu', weights_only=False)
        net.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        ema.model.load_state_dict(ck['ema'])
        ema.updates = ck['ema_updates']
        start = ck['step']
        print(f'resumed from {ckpt} at step {start}', flush=True)
    if start >= args.steps:
        print('already trained', flush=True)
        return
    anchors, strides = make_anchors(args.imgsz)
    data = torch.utils.data.DataLoader(
        SceneBatches(args.seed, start, args.steps, args.batch, args.imgsz), batch_size=None,
        num_workers=args.workers, prefetch_factor=4 if args.workers else None,
        persistent_workers=False)
    net.train()
    t0, seen = time.time(), 0
    for step, imgs, boxes, cls, valid in data:
        for g in opt.param_groups:
            g['lr'] = lr_at(step, args.steps, args.lr, args.warmup)
        x = imgs.float().div_(255).contiguous(memory_format=torch.channels_last)
        raw = net(x)
        loss, parts = detection_loss(raw, anchors, strides, boxes, cls, valid, args.peak)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        ema.update(net)
        seen += 1
        done = step + 1
        if done % args.log_every == 0 or done == args.steps:
            rate = (time.time() - t0) / seen
            eta = (args.steps - done) * rate / 60
            print(f'step {done}/{args.steps} loss {loss.item():.3f} cls {parts["cls"]:.3f} '
                  f'box {parts["box"]:.3f} lr {opt.param_groups[0]["lr"]:.2e} '
                  f'{rate:.2f}s/step eta {eta:.1f}min', flush=True)
        if done % args.ckpt_every == 0 or done == args.steps:
            save(ckpt, model=net.state_dict(), opt=opt.state_dict(), ema=ema.model.state_dict(),
                 ema_updates=ema.updates, step=done, args=vars(args))
        if args.eval_every and (done % args.eval_every == 0 or done == args.steps):
            m50, m5095 = quick_eval(ema.model, args.eval_n, args.imgsz)
            print(f'eval step {done}: mAP@0.5 {m50:.4f} mAP@0.5:0.95 {m5095:.4f}', flush=True)
    print(f'finished {args.steps} steps; wall {(time.time() - t0) / 60:.1f} min this run',
          flush=True)


def main() -> None:
    """Parse the command line and train."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(ROOT / 'build' / 'train'))
    p.add_argument('--steps', type=int, default=2400)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--imgsz', type=int, default=IMGSZ)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--wd', type=float, default=0.05)
    p.add_argument('--warmup', type=int, default=150)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--peak', choices=('one', 'iou'), default='one',
                   help='class target of the best cell per object')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--workers', type=int, default=0)
    p.add_argument('--log-every', type=int, default=20)
    p.add_argument('--ckpt-every', type=int, default=50)
    p.add_argument('--eval-every', type=int, default=400)
    p.add_argument('--eval-n', type=int, default=160)
    train(p.parse_args())


if __name__ == '__main__':
    sys.exit(main())
