"""A textbook DINO, the control of the self-supervised study (issue 24).

Written from the DINO paper (Caron et al. 2021, Algorithm 1 and section 3) and nothing of this
project but the backbone: image-level self-distillation with multi-crop, a centred and
sharpened teacher that is the EMA of the student, a 3-layer MLP head with an L2-normalised
bottleneck and a weight-normalised last layer. Its data, augmentation, head, loss, schedules
and k-NN are all in this file, so that if it learns where ``SkySenseV2`` does not, the cause is
in our code and not in the backbone or the budget.

Data: a split file of ``tools/dataset_converters/make_image_split.py`` over a class-folder
collection (AID): pretraining reads the ``pretrain`` images without their labels; the k-NN
(DINO's weighted vote, k=20, T=0.07, on the teacher's pooled, L2-normalised last-stage map of
the whole image resized to ``--eval-size``) classifies ``query`` against ``reference``.

    OMP_NUM_THREADS=1 python tools/analysis_tools/dino_control.py data/AID data/aid_split.json \
        work_dirs/dino_control --steps 3000 --batch-size 32

Writes ``OUT/log.jsonl`` (one record per logged step: loss, lr, momentum, teacher temperature,
the teacher targets' mean entropy and the entropy of their batch mean over log K, and the k-NN
at evaluation steps), ``OUT/summary.json`` and the teacher's backbone weights
(``OUT/teacher_backbone.pth``, ``state_dict`` keys of ``SkySenseV2Backbone``).
"""

import argparse
import json
import math
import os
import os.path as osp
import time
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


# --------------------------------------------------------------------------------------- data
def load_images(root: str, paths: Sequence[str], size: int | None = None) -> Tensor:
    """``N x 3 x H x W`` uint8 RGB, resized whole to ``size`` when given (area averaging when
    shrinking, as the k-NN protocol of the study resizes a scene)."""
    out = []
    for p in paths:
        with Image.open(osp.join(root, p)) as im:
            a = np.asarray(im.convert('RGB'))
        if size is not None:
            interp = cv2.INTER_AREA if size < min(a.shape[:2]) else cv2.INTER_LINEAR
            a = cv2.resize(a, (size, size), interpolation=interp)
        out.append(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1))
    return torch.stack(out)


def random_resized_crop(
    img: Tensor, size: int, scale: tuple[float, float], gen: torch.Generator
) -> Tensor:
    """One crop of ``img`` (3 x H x W float) of area fraction in ``scale`` and aspect ratio in
    [3/4, 4/3], resized to ``size`` (bilinear, antialiased)."""
    _, h, w = img.shape
    for _ in range(10):
        area = h * w * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=gen).item())
        logr = (
            math.log(3 / 4)
            + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(1, generator=gen).item()
        )
        cw = int(round(math.sqrt(area * math.exp(logr))))
        ch = int(round(math.sqrt(area / math.exp(logr))))
        if 0 < cw <= w and 0 < ch <= h:
            break
    else:
        cw = ch = min(h, w)
    top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    crop = img[None, :, top : top + ch, left : left + cw]
    return F.interpolate(
        crop, size=(size, size), mode='bilinear', antialias=True, align_corners=False
    )[0]


def photometric(x: Tensor, gen: torch.Generator, blur_p: float, solarize_p: float) -> Tensor:
    """DINO's colour augmentation on a 3 x H x W image in [0, 255]: flip, colour jitter
    (p 0.8: brightness 0.4, contrast 0.4, saturation 0.2; hue omitted), grayscale (p 0.2),
    Gaussian blur (p ``blur_p``), solarisation (p ``solarize_p``)."""
    r = lambda: torch.rand(1, generator=gen).item()  # noqa: E731
    if r() < 0.5:
        x = x.flip(-1)
    if r() < 0.8:
        x = x * (1 + 0.4 * (2 * r() - 1))
        m = x.mean()
        x = (x - m) * (1 + 0.4 * (2 * r() - 1)) + m
        g = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        x = (x - g) * (1 + 0.2 * (2 * r() - 1)) + g
        x = x.clamp(0, 255)
    if r() < 0.2:
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None].expand(3, -1, -1)
    if r() < blur_p:
        sigma = 0.1 + 1.9 * r()
        k = 2 * int(math.ceil(2 * sigma)) + 1
        t = torch.arange(k, dtype=x.dtype) - k // 2
        ker = torch.exp(-(t**2) / (2 * sigma**2))
        ker = ker / ker.sum()
        xb = F.pad(x[None], (k // 2, k // 2, k // 2, k // 2), mode='reflect')
        xb = F.conv2d(xb, ker.view(1, 1, 1, k).expand(3, 1, 1, k), groups=3)
        x = F.conv2d(xb, ker.view(1, 1, k, 1).expand(3, 1, k, 1), groups=3)[0]
    if r() < solarize_p:
        x = torch.where(x >= 128, 255 - x, x)
    return x


def multi_crop(images: Tensor, args: argparse.Namespace, gen: torch.Generator) -> list[Tensor]:
    """DINO's views of a batch: 2 global crops (blur p 1.0 / 0.1, solarisation 0 / 0.2) and
    ``--num-local`` local crops (blur p 0.5), normalised; each ``B x 3 x s x s``."""
    views: list[list[Tensor]] = [[] for _ in range(2 + args.num_local)]
    for img in images.float():
        for v in range(2 + args.num_local):
            if v < 2:
                x = random_resized_crop(img, args.global_size, args.global_scale, gen)
                x = photometric(x, gen, (1.0, 0.1)[v], (0.0, 0.2)[v])
            else:
                x = random_resized_crop(img, args.local_size, args.local_scale, gen)
                x = photometric(x, gen, 0.5, 0.0)
            views[v].append(x)
    return [(torch.stack(v) - MEAN) / STD for v in views]


# -------------------------------------------------------------------------------------- model
class Head(nn.Module):
    """DINO's projection head: MLP (GELU) -> L2-normalised bottleneck -> weight-normalised
    linear layer to K outputs (its norm fixed at 1 when ``norm_last_layer``)."""

    def __init__(self, dim: int, k: int, hidden: int, bottleneck: int, norm_last: bool) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, bottleneck),
        )
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.v = nn.Parameter(torch.empty(k, bottleneck))
        nn.init.trunc_normal_(self.v, std=0.02)
        self.g = nn.Parameter(torch.ones(k, 1), requires_grad=not norm_last)

    def forward(self, x: Tensor) -> Tensor:
        x = F.normalize(self.mlp(x), dim=-1)
        return x @ (self.g * F.normalize(self.v, dim=-1)).T


class Encoder(nn.Module):
    """The backbone's last HR map, average-pooled, then the head."""

    def __init__(self, backbone: nn.Module, head: Head) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def embed(self, x: Tensor) -> Tensor:
        return self.backbone(dict(hr=x))['hr'][-1].mean(dim=(-2, -1))

    def forward(self, views: list[Tensor]) -> list[Tensor]:
        # views of one size go through the backbone together (DINO's multi-crop forward)
        out, i = [], 0
        while i < len(views):
            j = i
            while j < len(views) and views[j].shape == views[i].shape:
                j += 1
            logits = self.head(self.embed(torch.cat(views[i:j])))
            out += list(logits.chunk(j - i))
            i = j
        return out


def build_backbone(arch: str, use_moe: bool) -> nn.Module:
    from mmskysense.models.backbones.skysense_v2 import SkySenseV2Backbone

    return SkySenseV2Backbone(
        arch=arch,
        modalities=dict(hr=dict(in_channels=3, kind='hr')),
        out_indices=(3,),
        drop_path_rate=0.0,
        use_moe=use_moe,
    )


# ------------------------------------------------------------------------------ schedules
def cosine(step: int, total: int, start: float, end: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0))) / 2


def lr_at(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    return cosine(step - args.warmup_steps, args.steps - args.warmup_steps, args.lr, args.min_lr)


def teacher_temp_at(step: int, args: argparse.Namespace) -> float:
    if step < args.teacher_temp_warmup:
        return args.teacher_temp_start + (args.teacher_temp - args.teacher_temp_start) * (
            step / args.teacher_temp_warmup
        )
    return args.teacher_temp


# ------------------------------------------------------------------------------------- k-NN
@torch.no_grad()
def knn_top1(
    backbone: nn.Module, ref: Tensor, ref_y: Tensor, qry: Tensor, qry_y: Tensor, k: int, t: float
) -> tuple[float, float]:
    """DINO's weighted k-NN top-1 (%) and the effective rank of the query features."""
    was = backbone.training
    backbone.eval()

    def feats(x: Tensor) -> Tensor:
        out = []
        for i in range(0, len(x), 128):
            xb = (x[i : i + 128].float() - MEAN) / STD
            out.append(F.normalize(backbone(dict(hr=xb))['hr'][-1].mean(dim=(-2, -1)), dim=1))
        return torch.cat(out)

    fr, fq = feats(ref), feats(qry)
    backbone.train(was)
    sim = fq @ fr.T
    top, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(fq), int(ref_y.max()) + 1)
    votes.scatter_add_(1, ref_y[idx], (top / t).exp())
    acc = 100 * (votes.argmax(1) == qry_y).float().mean().item()
    s = torch.linalg.svdvals(fq - fq.mean(0))
    p = s / s.sum()
    erank = math.exp(-(p * (p + 1e-12).log()).sum().item())
    return acc, erank


# -------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('root', help='the image collection (ROOT/<Class>/<image>)')
    p.add_argument('split', help='the split JSON (make_image_split.py)')
    p.add_argument('out', help='output folder')
    p.add_argument('--arch', default='tiny')
    p.add_argument('--moe', action='store_true', help='the backbone with its MoE (+ aux loss)')
    p.add_argument('--steps', type=int, default=3000)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--min-lr', type=float, default=1e-6)
    p.add_argument('--warmup-steps', type=int, default=300)
    p.add_argument('--weight-decay', type=float, nargs=2, default=(0.04, 0.4))
    p.add_argument('--clip-grad', type=float, default=3.0)
    p.add_argument('--out-dim', type=int, default=4096, help='K')
    p.add_argument('--hidden', type=int, default=512)
    p.add_argument('--bottleneck', type=int, default=128)
    p.add_argument('--no-norm-last-layer', action='store_true')
    p.add_argument('--freeze-last-steps', type=int, default=150)
    p.add_argument('--student-temp', type=float, default=0.1)
    p.add_argument('--teacher-temp-start', type=float, default=0.04)
    p.add_argument('--teacher-temp', type=float, default=0.04)
    p.add_argument('--teacher-temp-warmup', type=int, default=0)
    p.add_argument('--center-momentum', type=float, default=0.9)
    p.add_argument('--momentum', type=float, default=0.99, help='teacher EMA, cosine to 1')
    p.add_argument('--global-size', type=int, default=96)
    p.add_argument('--local-size', type=int, default=32)
    p.add_argument('--num-local', type=int, default=6)
    p.add_argument('--global-scale', type=float, nargs=2, default=(0.25, 1.0))
    p.add_argument('--local-scale', type=float, nargs=2, default=(0.05, 0.25))
    p.add_argument('--load-size', type=int, default=None, help='resize images once on load')
    p.add_argument('--eval-size', type=int, default=96)
    p.add_argument('--eval-every', type=int, default=250)
    p.add_argument('--log-every', type=int, default=25)
    p.add_argument('--k', type=int, default=20)
    p.add_argument('--knn-temp', type=float, default=0.07)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--time-limit', type=float, default=None, help='minutes; stop (and evaluate)')
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    args.global_scale, args.local_scale = tuple(args.global_scale), tuple(args.local_scale)
    os.makedirs(args.out, exist_ok=True)
    with open(args.split) as f:
        split = json.load(f)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    train = load_images(args.root, split['pretrain'], args.load_size)
    ref = load_images(args.root, [p for p, _ in split['reference']], args.eval_size)
    qry = load_images(args.root, [p for p, _ in split['query']], args.eval_size)
    ref_y = torch.tensor([y for _, y in split['reference']])
    qry_y = torch.tensor([y for _, y in split['query']])
    print(f'loaded {len(train)} / {len(ref)} / {len(qry)} images in {time.time() - t0:.0f} s')

    student = Encoder(
        build_backbone(args.arch, args.moe),
        Head(0, 1, 1, 1, True),  # replaced below once the width is known
    )
    dim = student.backbone.out_channels[-1]
    student.head = Head(
        dim, args.out_dim, args.hidden, args.bottleneck, not args.no_norm_last_layer
    )
    teacher = Encoder(
        build_backbone(args.arch, args.moe),
        Head(dim, args.out_dim, args.hidden, args.bottleneck, not args.no_norm_last_layer),
    )
    teacher.load_state_dict(student.state_dict())
    teacher.requires_grad_(False)
    teacher.eval()  # no drop path in the teacher (there is none at rate 0 either)
    center = torch.zeros(1, args.out_dim)

    decay = [p for n, p in student.named_parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for n, p in student.named_parameters() if p.requires_grad and p.ndim <= 1]
    opt = torch.optim.AdamW([dict(params=decay), dict(params=no_decay, weight_decay=0.0)])
    s_params = [p for p in student.parameters()]
    t_params = [p for p in teacher.parameters()]

    log = open(osp.join(args.out, 'log.jsonl'), 'w')

    def evaluate(step: int) -> dict:
        acc, erank = knn_top1(teacher.backbone, ref, ref_y, qry, qry_y, args.k, args.knn_temp)
        rec = dict(step=step, knn_top1=acc, knn_erank=erank, time=time.time() - t0)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + '\n')
        log.flush()
        return rec

    history = [evaluate(0)]
    n_views = 2 + args.num_local
    step = -1  # --steps 0: the k-NN of the random initialisation alone
    for step in range(args.steps):
        lr = lr_at(step, args)
        wd = cosine(step, args.steps, *args.weight_decay)
        opt.param_groups[0].update(lr=lr, weight_decay=wd)
        opt.param_groups[1].update(lr=lr)
        idx = torch.randint(0, len(train), (args.batch_size,), generator=gen)
        views = multi_crop(train[idx], args, gen)
        tt = teacher_temp_at(step, args)
        with torch.no_grad():
            t_out = teacher(views[:2])
            t_probs = [F.softmax((t - center) / tt, dim=-1) for t in t_out]
        s_out = student(views)
        loss, n = 0.0, 0
        for iq, q in enumerate(t_probs):
            for v in range(n_views):
                if v == iq:
                    continue
                loss = (
                    loss - (q * F.log_softmax(s_out[v] / args.student_temp, dim=-1)).sum(-1).mean()
                )
                n += 1
        loss = loss / n
        if args.moe and hasattr(student.backbone, 'aux_loss'):
            aux = student.backbone.aux_loss()
            if aux is not None:
                loss = loss + 0.01 * aux
        if not torch.isfinite(loss):
            raise FloatingPointError(f'dino_control: loss is {loss.item()} at step {step}')
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip_grad:
            nn.utils.clip_grad_norm_(student.parameters(), args.clip_grad)
        if step < args.freeze_last_steps:
            student.head.v.grad = None
        opt.step()
        m = cosine(step, args.steps, args.momentum, 1.0)
        with torch.no_grad():
            torch._foreach_mul_(t_params, m)
            torch._foreach_add_(t_params, [p.detach() for p in s_params], alpha=1 - m)
            batch_center = torch.cat(t_out).mean(0, keepdim=True)
            center = center * args.center_momentum + batch_center * (1 - args.center_momentum)
        if step % args.log_every == 0 or step == args.steps - 1:
            with torch.no_grad():
                p = torch.cat(t_probs)
                logk = math.log(args.out_dim)
                ent = -(p * (p + 1e-12).log()).sum(-1).mean().item() / logk
                pm = p.mean(0)
                ment = -(pm * (pm + 1e-12).log()).sum().item() / logk
            rec = dict(
                step=step + 1,
                loss=loss.item(),
                lr=lr,
                momentum=m,
                teacher_temp=tt,
                tgt_entropy=ent,
                tgt_marginal_entropy=ment,
                time=time.time() - t0,
            )
            log.write(json.dumps(rec) + '\n')
            log.flush()
            if step % (args.log_every * 4) == 0:
                print(json.dumps(rec), flush=True)
        if (step + 1) % args.eval_every == 0:
            history.append(evaluate(step + 1))
        if args.time_limit and time.time() - t0 > 60 * args.time_limit:
            print(f'time limit: stopped after {step + 1} steps', flush=True)
            break
    if history[-1]['step'] != step + 1:
        history.append(evaluate(step + 1))
    torch.save(
        dict(state_dict=teacher.backbone.state_dict(), meta=dict(steps=step + 1, args=vars(args))),
        osp.join(args.out, 'teacher_backbone.pth'),
    )
    summary = dict(args=vars(args), knn=history, best=max(h['knn_top1'] for h in history))
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(f'k-NN top-1: {history[0]["knn_top1"]:.2f} -> {history[-1]["knn_top1"]:.2f} %')


if __name__ == '__main__':
    main()
