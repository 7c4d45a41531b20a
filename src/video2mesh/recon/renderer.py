"""NeuS volume rendering inside the unit sphere, with coarse + hierarchical sampling.

Reference §5.1, §5.7–§5.9: rays are clipped to the unit sphere; ``samples_coarse`` stratified
samples, then ``fine_rounds`` rounds of ``samples_fine`` deterministic inverse-CDF samples whose
weights use a fixed inv_s = 64·2^round (no gradients); then one forward pass over all samples with
numerical gradients; section opacities from the NeuS formula with cos annealing; optional NeRF++
background samples beyond the sphere composited behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from video2mesh.recon import occupancy
from video2mesh.recon.fields import Model
from video2mesh.recon.schedule import State


@dataclass
class RenderOut:
    rgb: torch.Tensor  # (R, 3)
    opacity: torch.Tensor  # (R,) object opacity
    depth: torch.Tensor  # (R,)
    grad: torch.Tensor  # (R, S, 3) numerical SDF gradients
    lap: torch.Tensor  # (R, S)
    hit: torch.Tensor  # (R,) bool, ray meets the unit sphere


def sphere_near_far(
    o: torch.Tensor, d: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Intersections of rays with the unit sphere; misses get near=1, far=1.2 and hit=False."""
    b = (o * d).sum(-1)
    c = (o * o).sum(-1) - 1.0
    disc = b * b - c
    hit = disc > 1e-8
    sq = disc.clamp_min(0).sqrt()
    near = (-b - sq).clamp_min(0.0)
    far = -b + sq
    hit = hit & (far > near + 1e-6)
    near = torch.where(hit, near, torch.ones_like(near))
    far = torch.where(hit, far, torch.full_like(far, 1.2))
    return near, far, hit


def sample_pdf(
    bins: torch.Tensor, weights: torch.Tensor, n: int, u: torch.Tensor | None = None
) -> torch.Tensor:
    """Inverse-CDF samples at quantiles ``u`` (R, n), sorted; None = the mid-points of n equal
    CDF slices (deterministic).

    bins (R, S) sorted distances, weights (R, S-1) per interval.
    """
    pdf = (weights + 1e-5) / (weights + 1e-5).sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(-1)], -1).clamp_max(1.0)
    if u is None:
        u = torch.linspace(0.5 / n, 1 - 0.5 / n, n, device=bins.device, dtype=bins.dtype)
        u = u.expand(bins.shape[0], n).contiguous()
    idx = torch.searchsorted(cdf.contiguous(), u, right=True)
    lo = (idx - 1).clamp(0, bins.shape[1] - 1)
    hi = idx.clamp(0, bins.shape[1] - 1)
    c_lo, c_hi = cdf.gather(1, lo), cdf.gather(1, hi)
    b_lo, b_hi = bins.gather(1, lo), bins.gather(1, hi)
    den = c_hi - c_lo
    t = torch.where(den < 1e-5, torch.zeros_like(den), (u - c_lo) / den.clamp_min(1e-5))
    return b_lo + t * (b_hi - b_lo)


def _upsample(t: torch.Tensor, sdf: torch.Tensor, inv_s: float, n: int) -> torch.Tensor:
    """NeuS importance sampling from SDF values at sorted t, with the 'robust' min-slope cos."""
    mid = 0.5 * (sdf[:, :-1] + sdf[:, 1:])
    dist = t[:, 1:] - t[:, :-1]
    cos = (sdf[:, 1:] - sdf[:, :-1]) / (dist + 1e-5)
    prev = torch.cat([torch.zeros_like(cos[:, :1]), cos[:, :-1]], -1)
    cos = torch.minimum(prev, cos).clamp(-1e3, 0.0)
    p = torch.sigmoid((mid - cos * dist * 0.5) * inv_s)
    q = torch.sigmoid((mid + cos * dist * 0.5) * inv_s)
    alpha = (p - q + 1e-5) / (p + 1e-5)
    return sample_pdf(t, _composite(alpha), n)


def _composite(alpha: torch.Tensor) -> torch.Tensor:
    """Weights α_i Π_{j<i} (1 − α_j). The exclusive product is exp(cumsum(log)) rather than
    cumprod: cumprod's backward checks its input for zeros on the host, which both syncs and
    breaks CUDA-graph capture."""
    log_t = torch.log((1.0 - alpha + 1e-7).clamp_min(1e-7)).cumsum(-1)
    trans = torch.exp(torch.cat([torch.zeros_like(log_t[:, :1]), log_t[:, :-1]], -1))
    return alpha * trans


def sample_object(
    model: Model,
    o: torch.Tensor,
    d: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    st: State,
    jitter: torch.Tensor | None,
) -> torch.Tensor:
    """Sorted sample distances (R, S) along each ray inside the sphere (no gradients).

    ``jitter`` (R, samples_coarse) in [0, 1) stratifies the coarse samples; None = mid-points.
    """
    cfg = model.cfg
    r, nc = o.shape[0], cfg.samples_coarse
    base = torch.arange(nc, device=o.device, dtype=o.dtype)
    if jitter is None:
        jitter = torch.full((r, nc), 0.5, device=o.device, dtype=o.dtype)
    u = (base + jitter) / nc
    if model.occupancy is None:
        t = near[:, None] + (far - near)[:, None] * u
    else:  # concentrated where the surface can be (recon/occupancy.py)
        with torch.no_grad():
            t = occupancy.coarse_samples(
                model.occupancy, cfg.occupancy_res, cfg.occupancy_share,
                o.detach(), d.detach(), near, far, u,
            )  # fmt: skip
    if cfg.fine_rounds <= 0:
        return t
    with torch.no_grad():
        sdf = model.sdf.sdf(
            (o[:, None] + t[..., None] * d[:, None]).reshape(-1, 3), st.active_levels
        )
        sdf = sdf.view(r, -1)
        for k in range(cfg.fine_rounds):
            new = _upsample(t, sdf, 64.0 * 2**k, cfg.samples_fine)
            t, order = torch.sort(torch.cat([t, new], -1), -1)
            if k + 1 < cfg.fine_rounds:
                pts = (o[:, None] + new[..., None] * d[:, None]).reshape(-1, 3)
                new_sdf = model.sdf.sdf(pts, st.active_levels).view(r, -1)
                sdf = torch.cat([sdf, new_sdf], -1).gather(1, order)
    return t


def render_rays(
    model: Model,
    o: torch.Tensor,
    d: torch.Tensor,
    st: State,
    noise: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    app_index: torch.Tensor | None = None,
) -> RenderOut:
    """Render rays (o, d unit) in the normalised frame.

    ``noise`` = (coarse jitter (R, samples_coarse), background jitter (R, bg_samples) or None),
    uniform in [0, 1), drawn by the caller (so that the step is free of RNG calls and can be
    captured as a CUDA graph); None = deterministic mid-point samples (evaluation).
    """
    cfg = model.cfg
    # the sample distances are constants; a learned pose reaches the loss through the points
    # (a tangent ray's sqrt(0) would give it a NaN gradient here)
    near, far, hit = sphere_near_far(o.detach(), d.detach())
    t = sample_object(model, o, d, near, far, st, None if noise is None else noise[0])
    r, s = t.shape
    x = o[:, None] + t[..., None] * d[:, None]
    sdf, feat, grad, lap = model.sdf.with_gradient(x.reshape(-1, 3), st.active_levels, st.eps)
    normal = F.normalize(grad, dim=-1)
    view = d[:, None].expand(r, s, 3).reshape(-1, 3)
    app = None
    if model.appearance is not None:
        if app_index is None:
            app = torch.zeros(r * s, cfg.appearance_dim, device=o.device, dtype=o.dtype)
        else:
            app = model.appearance(app_index)[:, None].expand(r, s, -1).reshape(r * s, -1)
    with torch.autocast(o.device.type, dtype=torch.bfloat16, enabled=cfg.amp and o.is_cuda):
        rgb = model.color(x.reshape(-1, 3), view, normal, feat, app).view(r, s, 3)
    sdf, grad, lap = sdf.view(r, s), grad.view(r, s, 3), lap.view(r, s)

    # NeuS section opacity with cos annealing (reference §5.7)
    delta = torch.cat([t[:, 1:] - t[:, :-1], (far[:, None] - t[:, -1:]).clamp_min(1e-4)], -1)
    cos = (d[:, None] * grad).sum(-1)
    rr = st.cos_anneal
    iter_cos = -(F.relu(-cos * 0.5 + 0.5) * (1.0 - rr) + F.relu(-cos) * rr)
    inv_s = model.inv_s()
    p = torch.sigmoid((sdf - iter_cos * delta * 0.5) * inv_s)
    q = torch.sigmoid((sdf + iter_cos * delta * 0.5) * inv_s)
    alpha = ((p - q + 1e-5) / (p + 1e-5)).clamp(0.0, 1.0) * hit[:, None]

    if model.background is not None:
        nb = cfg.bg_samples
        base = torch.arange(nb, device=o.device, dtype=o.dtype)
        jit = noise[1] if noise is not None and noise[1] is not None else None
        if jit is None:
            jit = torch.full((r, nb), 0.5, device=o.device, dtype=o.dtype)
        u = 1.0 - (base + jit) / nb  # inverse distance, 1 → 0
        tb = far[:, None] / u.clamp_min(1e-3)
        xb = o[:, None] + tb[..., None] * d[:, None]
        bapp = None
        if model.bg_appearance is not None:
            idx = (
                app_index
                if app_index is not None
                else torch.zeros(r, dtype=torch.long, device=o.device)
            )
            bapp = model.bg_appearance(idx)[:, None].expand(r, nb, -1).reshape(r * nb, -1)
            if app_index is None:
                bapp = torch.zeros_like(bapp)
        with torch.autocast(o.device.type, dtype=torch.bfloat16, enabled=cfg.amp and o.is_cuda):
            sig, brgb = model.background(
                xb.reshape(-1, 3), d[:, None].expand(r, nb, 3).reshape(-1, 3), bapp
            )
        sig, brgb = sig.view(r, nb), brgb.view(r, nb, 3)
        db = torch.cat([tb[:, 1:] - tb[:, :-1], torch.full_like(tb[:, :1], 1e10)], -1)
        balpha = 1.0 - torch.exp(-sig * db)
        w_all = _composite(torch.cat([alpha, balpha], -1))
        w, wb = w_all[:, :s], w_all[:, s:]
        out_rgb = (w[..., None] * rgb).sum(1) + (wb[..., None] * brgb).sum(1)
    else:
        w = _composite(alpha)
        out_rgb = (w[..., None] * rgb).sum(1)
        if model.bg_color is not None:
            out_rgb = out_rgb + (1.0 - w.sum(-1, keepdim=True)) * torch.sigmoid(model.bg_color)
    opacity = w.sum(-1)
    depth = (w * t).sum(-1)
    return RenderOut(out_rgb, opacity, depth, grad, lap, hit)
