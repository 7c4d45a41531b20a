"""Multi-resolution hash encoding (Müller et al. 2022) in plain PyTorch, with coarse-to-fine.

Each level l has ``res_l = floor(base · b^l)`` cells per axis over ``[-range, range]^3``. Its
``(res_l+1)^3`` vertices index a table densely while they fit in ``2^T`` entries, else through the
spatial hash ``(x · 1) xor (y · 2654435761) xor (z · 805459861) mod 2^T`` (the primes of the
paper). Features are trilinearly interpolated from the 8 cell corners.

Coarse-to-fine: only the first ``active`` levels are computed; the others are zeros, exactly what
multiplying them by a 0/1 mask gives, forward and backward, without paying for them.

The autograd function saves only the input points (and the table it reads) and recomputes
indices and weights in the backward pass: the gathered features are never kept, so memory stays
O(points) instead of O(points × levels × 8 × features). The SDF's spatial gradient is numerical
(see fields.py), so the points need no gradient in plain training; under camera refinement they
do (a learned pose moves them), and the backward pass then also returns d(features)/dx.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PRIMES = (1, 2654435761, 805459861)
# the same primes as wrapped int32: the low bits of int32 products equal those of the exact
# products, and the table size is a power of two, so int32 arithmetic gives the same hash
_PRIMES_I32 = tuple(((p + 2**31) % 2**32) - 2**31 for p in PRIMES)


def _level_rows_frac(
    u: torch.Tensor, res: int, dense: bool, size: int, offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows (8, N) of the cell corners of points ``u`` (3, N) in [0, 1] at a level, and
    the points' position in their cell (3, N).

    Corner c = 4 z + 2 y + x has offset bit k along axis k. Points are the last (contiguous)
    dimension and the corners are built per axis and broadcast, which keeps every elementwise op
    long and dense.
    """
    n = u.shape[1]
    pos = u * res
    i0f = pos.floor().clamp_(0, res - 1)
    frac = pos - i0f
    i0 = i0f.int()  # int32 throughout: half the memory traffic of int64, 4x faster on CPU
    one = torch.tensor([[0], [1]], device=u.device, dtype=torch.int32)
    ax, ay, az = i0[0] + one, i0[1] + one, i0[2] + one  # (2, N) each
    if dense:
        side = res + 1
        rows = (az * (side * side))[:, None, None] + (ay * side)[None, :, None] + ax[None, None, :]
    else:
        rows = (
            (az * _PRIMES_I32[2])[:, None, None]
            ^ (ay * _PRIMES_I32[1])[None, :, None]
            ^ ax[None, None, :]
        )
        rows = rows & (size - 1)
    return rows.reshape(8, n) + offset, frac


def _axis_weights(frac: torch.Tensor) -> list[torch.Tensor]:
    """Per axis, the weights (2, N) of the lower and the upper corner: 1 - f and f."""
    return [torch.stack([1 - frac[k], frac[k]]) for k in range(3)]


def _trilinear(frac: torch.Tensor) -> torch.Tensor:
    """The 8 corners' weights (8, N), in the corner order of ``_level_rows_frac``."""
    wx, wy, wz = _axis_weights(frac)
    return ((wz[:, None, None] * wy[None, :, None]) * wx[None, None, :]).reshape(8, -1)


def _level_index_weight(
    u: torch.Tensor, res: int, dense: bool, size: int, offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows (8, N) and trilinear weights (8, N) of points ``u`` (3, N) at a level."""
    rows, frac = _level_rows_frac(u, res, dense, size, offset)
    return rows, _trilinear(frac)


def _level_points_gradient(s: torch.Tensor, frac: torch.Tensor, res: int) -> torch.Tensor:
    """d(loss)/du (3, N) at one level, from ``s`` (8, N): each corner's feature row dotted with
    the output gradient. A corner's weight is a product over the axes, so its derivative along
    one axis swaps that axis's factor (1 - f or f) for its derivative (-1 or 1), times res."""
    s = s.view(2, 2, 2, -1)  # (z, y, x, N)
    wx, wy, wz = _axis_weights(frac)
    d = torch.tensor([[-1.0], [1.0]], device=s.device, dtype=s.dtype)
    dx = (s * wz[:, None, None] * wy[None, :, None] * d[None, None]).sum((0, 1, 2))
    dy = (s * wz[:, None, None] * d[None, :, None] * wx[None, None]).sum((0, 1, 2))
    dz = (s * d[:, None, None] * wy[None, :, None] * wx[None, None]).sum((0, 1, 2))
    return res * torch.stack([dx, dy, dz])


def _row_major(u: torch.Tensor) -> bool:
    """Gather layout: row-major (T, F) on GPU, feature-major (F, T) on CPU."""
    return u.is_cuda


class _HashGridFn(torch.autograd.Function):
    """Features (N, levels × F) of points u (3, N); recomputes indices in the backward pass.

    On CPU the table is gathered feature-major (F, T), which vectorises better there; on GPU
    row-major (T, F), where one point's F features share a memory sector.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, table: torch.Tensor, levels: tuple, active: int):  # type: ignore[override]
        ctx.save_for_backward(u, table)
        ctx.table_shape = table.shape
        ctx.levels = levels
        ctx.active = active
        n, nf = u.shape[1], table.shape[1]
        if not _row_major(u):
            tab_t = table.t().contiguous()
            outs = []
            for res, dense, size, offset in levels[:active]:
                rows, w = _level_index_weight(u, res, dense, size, offset)
                feats = tab_t.index_select(1, rows.reshape(-1)).view(nf, 8, n)
                outs.append((feats * w).sum(1))
            outs += [u.new_zeros(nf, n)] * (len(levels) - active)
            return torch.stack(outs).permute(2, 0, 1).reshape(n, -1)
        out = u.new_zeros(n, len(levels), nf)
        for lvl, (res, dense, size, offset) in enumerate(levels[:active]):
            rows, w = _level_index_weight(u, res, dense, size, offset)
            feats = table.index_select(0, rows.reshape(-1)).view(8, n, nf)
            out[:, lvl] = (feats * w[..., None]).sum(0)
        return out.view(n, -1)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        u, table = ctx.saved_tensors
        t_rows, nf = ctx.table_shape
        n = u.shape[1]
        g = grad_out.view(n, len(ctx.levels), nf)
        row_major = _row_major(u)
        points = ctx.needs_input_grad[0]  # camera refinement: the points move with the poses
        if not row_major:
            g = g.permute(1, 2, 0).contiguous()  # (levels, F, N)
            if points:
                table = table.t().contiguous()  # (F, T), as in the forward pass
        if row_major:
            grad_table = grad_out.new_zeros(t_rows, nf)
        else:
            grad_t = grad_out.new_zeros(nf, t_rows)
        grad_u = torch.zeros_like(u) if points else None
        for lvl, (res, dense, size, offset) in enumerate(ctx.levels[: ctx.active]):
            rows, frac = _level_rows_frac(u, res, dense, size, offset)
            w = _trilinear(frac)
            if row_major:
                contrib = (w[..., None] * g[None, :, lvl]).reshape(-1, nf)
                grad_table.index_add_(0, rows.reshape(-1), contrib)
            else:
                contrib = (w[None] * g[lvl][:, None]).reshape(nf, -1)
                # int64 here: CPU index_add_ with int32 indices takes a ~15x slower path
                grad_t.index_add_(1, rows.reshape(-1).long(), contrib)
            if grad_u is not None:
                if row_major:  # the corners' rows (8, N, F) · g (N, F)
                    feats = table.index_select(0, rows.reshape(-1)).view(8, n, nf)
                    s = (feats * g[None, :, lvl]).sum(-1)
                else:  # (F, 8, N) · g (F, N)
                    feats = table.index_select(1, rows.reshape(-1)).view(nf, 8, n)
                    s = (feats * g[lvl][:, None]).sum(0)
                grad_u += _level_points_gradient(s, frac, res)
        if not row_major:
            grad_table = grad_t.t()
        return grad_u, grad_table, None, None


class HashGrid(nn.Module):
    def __init__(
        self,
        levels: int = 16,
        features: int = 8,
        log2_size: int = 22,
        base_res: int = 32,
        max_res: int = 2048,
        bound: float = 2.0,
    ) -> None:
        super().__init__()
        self.n_levels = levels
        self.features = features
        self.bound = bound
        growth = (
            1.0
            if levels == 1
            else math.exp((math.log(max_res) - math.log(base_res)) / (levels - 1))
        )
        cap = 2**log2_size
        specs = []
        offset = 0
        for lvl in range(levels):
            res = math.floor(base_res * growth**lvl + 1e-6)
            verts = (res + 1) ** 3
            dense = verts <= cap
            size = verts if dense else cap
            specs.append((res, dense, size, offset))
            offset += math.ceil(size / 8) * 8
        self.levels = tuple(specs)
        self.table = nn.Parameter(torch.empty(offset, features).uniform_(-1e-4, 1e-4))
        self.active = levels
        self.fused = False  # use the Triton kernels on CUDA (set by the trainer when available)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.features

    def forward(self, x: torch.Tensor, active: int | None = None) -> torch.Tensor:
        """Features (N, levels × features) of points x (N, 3) in scene units."""
        active = self.active if active is None else active
        # a learned camera pose moves the points: then they get their gradient (torch path; the
        # Triton kernels give the table's only)
        u = ((x.t() + self.bound) / (2 * self.bound)).clamp(0.0, 1.0).contiguous()
        if self.fused and u.is_cuda and not u.requires_grad:
            from video2mesh.recon.hash_triton import HashGridTriton

            return HashGridTriton.apply(u, self.table, self.levels, int(active))
        return _HashGridFn.apply(u, self.table, self.levels, int(active))


def hash_grid_reference(grid: HashGrid, x: torch.Tensor, active: int) -> torch.Tensor:
    """Straightforward autograd version (materialises everything), for tests."""
    u = ((x.t() + grid.bound) / (2 * grid.bound)).clamp(0.0, 1.0)
    outs = []
    for lvl, (res, dense, size, offset) in enumerate(grid.levels):
        if lvl >= active:
            outs.append(x.new_zeros(x.shape[0], grid.features))
            continue
        rows, w = _level_index_weight(u, res, dense, size, offset)
        outs.append((grid.table[rows] * w[..., None]).sum(0))
    return torch.cat(outs, 1)
