"""Fused hash-grid encoding for CUDA in Triton (optional; the PyTorch version is the reference).

One program handles BLOCK points for all active levels: it computes the 8 corner rows and the
trilinear weights in registers and gathers F features per corner, so nothing of size
points × levels × 8 is ever written to memory. The backward pass recomputes rows and weights and
scatters with atomic adds. Same semantics as encoding._level_index_weight (int32 wrapped
primes, dense levels indexed x + s·(y + s·z)).
"""

from __future__ import annotations

import torch

try:  # Triton ships with CUDA builds of PyTorch; absent on CPU-only installs
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except ImportError:  # pragma: no cover - exercised on machines without Triton
    HAVE_TRITON = False


if HAVE_TRITON:

    @triton.jit
    def _corner(ix, iy, iz, fx, fy, fz, c: tl.constexpr, res, dense, size, offset):
        cx: tl.constexpr = c & 1
        cy: tl.constexpr = (c >> 1) & 1
        cz: tl.constexpr = (c >> 2) & 1
        x = ix + cx
        y = iy + cy
        z = iz + cz
        side = res + 1
        row_dense = x + side * (y + side * z)
        row_hash = (x ^ (y * -1640531535) ^ (z * 805459861)) & (size - 1)
        row = tl.where(dense != 0, row_dense, row_hash) + offset
        wx = cx * fx + (1 - cx) * (1.0 - fx)
        wy = cy * fy + (1 - cy) * (1.0 - fy)
        wz = cz * fz + (1 - cz) * (1.0 - fz)
        return row, wx * wy * wz

    @triton.jit
    def _fwd_kernel(
        u_ptr,
        table_ptr,
        out_ptr,
        params_ptr,
        n,
        n_levels,
        active,
        F: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        ux = tl.load(u_ptr + offs, mask=mask, other=0.0)
        uy = tl.load(u_ptr + n + offs, mask=mask, other=0.0)
        uz = tl.load(u_ptr + 2 * n + offs, mask=mask, other=0.0)
        fo = tl.arange(0, F)
        out_row = offs.to(tl.int64) * (n_levels * F)
        for lvl in range(active):
            res = tl.load(params_ptr + 4 * lvl)
            dense = tl.load(params_ptr + 4 * lvl + 1)
            size = tl.load(params_ptr + 4 * lvl + 2)
            offset = tl.load(params_ptr + 4 * lvl + 3)
            resf = res.to(tl.float32)
            px = ux * resf
            py = uy * resf
            pz = uz * resf
            ixf = tl.minimum(tl.maximum(tl.floor(px), 0.0), resf - 1.0)
            iyf = tl.minimum(tl.maximum(tl.floor(py), 0.0), resf - 1.0)
            izf = tl.minimum(tl.maximum(tl.floor(pz), 0.0), resf - 1.0)
            fx = px - ixf
            fy = py - iyf
            fz = pz - izf
            ix = ixf.to(tl.int32)
            iy = iyf.to(tl.int32)
            iz = izf.to(tl.int32)
            acc = tl.zeros((BLOCK, F), dtype=tl.float32)
            for c in tl.static_range(8):
                row, w = _corner(ix, iy, iz, fx, fy, fz, c, res, dense, size, offset)
                ptr = table_ptr + row.to(tl.int64)[:, None] * F + fo[None, :]
                feat = tl.load(ptr, mask=mask[:, None], other=0.0)
                acc += w[:, None] * feat
            tl.store(out_ptr + out_row[:, None] + lvl * F + fo[None, :], acc, mask=mask[:, None])

    @triton.jit
    def _bwd_kernel(
        u_ptr,
        grad_out_ptr,
        grad_table_ptr,
        params_ptr,
        n,
        n_levels,
        active,
        F: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        ux = tl.load(u_ptr + offs, mask=mask, other=0.0)
        uy = tl.load(u_ptr + n + offs, mask=mask, other=0.0)
        uz = tl.load(u_ptr + 2 * n + offs, mask=mask, other=0.0)
        fo = tl.arange(0, F)
        g_row = offs.to(tl.int64) * (n_levels * F)
        for lvl in range(active):
            res = tl.load(params_ptr + 4 * lvl)
            dense = tl.load(params_ptr + 4 * lvl + 1)
            size = tl.load(params_ptr + 4 * lvl + 2)
            offset = tl.load(params_ptr + 4 * lvl + 3)
            resf = res.to(tl.float32)
            px = ux * resf
            py = uy * resf
            pz = uz * resf
            ixf = tl.minimum(tl.maximum(tl.floor(px), 0.0), resf - 1.0)
            iyf = tl.minimum(tl.maximum(tl.floor(py), 0.0), resf - 1.0)
            izf = tl.minimum(tl.maximum(tl.floor(pz), 0.0), resf - 1.0)
            fx = px - ixf
            fy = py - iyf
            fz = pz - izf
            ix = ixf.to(tl.int32)
            iy = iyf.to(tl.int32)
            iz = izf.to(tl.int32)
            g = tl.load(
                grad_out_ptr + g_row[:, None] + lvl * F + fo[None, :], mask=mask[:, None], other=0.0
            )
            for c in tl.static_range(8):
                row, w = _corner(ix, iy, iz, fx, fy, fz, c, res, dense, size, offset)
                ptr = grad_table_ptr + row.to(tl.int64)[:, None] * F + fo[None, :]
                tl.atomic_add(ptr, w[:, None] * g, mask=mask[:, None], sem="relaxed")


BLOCK = 128


_PARAMS: dict[tuple, torch.Tensor] = {}


def _params(levels: tuple, device: torch.device) -> torch.Tensor:
    """Level table (res, dense, size, offset) on the device, cached: no host copy per call,
    which also keeps the forward pass capturable in a CUDA graph."""
    key = (levels, str(device))
    if key not in _PARAMS:
        flat = [int(v) for spec in levels for v in (spec[0], int(spec[1]), spec[2], spec[3])]
        _PARAMS[key] = torch.tensor(flat, dtype=torch.int32, device=device)
    return _PARAMS[key]


class HashGridTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, table: torch.Tensor, levels: tuple, active: int):  # type: ignore[override]
        n, nf = u.shape[1], table.shape[1]
        params = _params(levels, u.device)
        out = torch.zeros(n, len(levels) * nf, device=u.device, dtype=torch.float32)
        grid = (triton.cdiv(n, BLOCK),)
        _fwd_kernel[grid](u, table, out, params, n, len(levels), active, F=nf, BLOCK=BLOCK)
        ctx.save_for_backward(u, params)
        ctx.table_shape = table.shape
        ctx.n_levels = len(levels)
        ctx.active = active
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        u, params = ctx.saved_tensors
        n = u.shape[1]
        nf = ctx.table_shape[1]
        grad_table = torch.zeros(ctx.table_shape, device=u.device, dtype=torch.float32)
        grid = (triton.cdiv(n, BLOCK),)
        _bwd_kernel[grid](
            u,
            grad_out.contiguous().float(),
            grad_table,
            params,
            n,
            ctx.n_levels,
            ctx.active,
            F=nf,
            BLOCK=BLOCK,
        )
        return None, grad_table, None, None
