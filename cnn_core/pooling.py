"""2x2 max pooling for training in channels-last memory, as two pairwise maxima.

PyTorch's CPU max pool keeps, for every output value, the int64 position of the input it came
from (for SimpleCNN at batch 32: 1.2 MB of indices beside a 0.3 MB bfloat16 output), and its
backward zero-fills a gradient the size of the input and scatters into it. Here the window's
maximum is taken in two steps, across each pair of columns and then across each pair of rows,
each a `torch.maximum` of two strided views of the (N, H, W, C) tensor; each step keeps a mask, in
the tensor's own number format, of which side won. The backward multiplies by the masks and
interleaves, with no scatter and no fill. SimpleCNN trains a few percent faster
(alternating runs, docs/benchmarks.md).

The numbers are PyTorch's, exactly: the maximum is the same value, and on a tie the gradient goes
to the first of the window's pixels in row order (left before right, top before bottom), as in
PyTorch's kernel. tests/test_pooling.py checks both against F.max_pool2d.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def applies(x: torch.Tensor) -> bool:
    """True where max_pool_2x2 computes the same as F.max_pool2d(x, 2) and was measured faster: a
    bfloat16 (N, C, H, W) batch in channels-last memory with even height and width. (In float32
    PyTorch's own pool was faster: docs/benchmarks.md.)"""
    return (
        x.dim() == 4
        and x.dtype == torch.bfloat16
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """F.max_pool2d(x, 2) for an x that `applies`; the result is channels-last as well."""
    return _PairwiseMaxPool.apply(x)


def _won(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # 1 where a >= b, else 0, written straight into a's number format: a bool result and then
    # multiplying by it runs on PyTorch's slow mixed-type path.
    return torch.ge(a, b, out=torch.empty(a.shape, dtype=a.dtype, device=a.device))


class _PairwiseMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        pixels = x.permute(0, 2, 3, 1)  # (N, H, W, C): a contiguous view of channels-last memory
        pairs = pixels.unflatten(2, (w // 2, 2))  # (N, H, W/2, 2, C)
        left, right = pairs[:, :, :, 0], pairs[:, :, :, 1]
        left_won = _won(left, right)  # ties go left, as in PyTorch
        across = torch.maximum(left, right)  # (N, H, W/2, C)
        rows = across.unflatten(1, (h // 2, 2))  # (N, H/2, 2, W/2, C)
        top, bottom = rows[:, :, 0], rows[:, :, 1]
        top_won = _won(top, bottom)  # ties go to the top row
        out = torch.maximum(top, bottom)  # (N, H/2, W/2, C)
        ctx.save_for_backward(left_won, top_won)
        return out.permute(0, 3, 1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        left_won, top_won = ctx.saved_tensors
        g = grad.permute(0, 2, 3, 1).contiguous()  # (N, H/2, W/2, C); already contiguous when channels-last
        # Each split is exact: g * 1 and g - g * 1 are g and 0.
        top = g * top_won
        g = torch.stack((top, g - top), 2).flatten(1, 2)  # (N, H, W/2, C)
        left = g * left_won
        g = torch.stack((left, g - left), 3).flatten(2, 3)  # (N, H, W, C)
        return g.permute(0, 3, 1, 2)
