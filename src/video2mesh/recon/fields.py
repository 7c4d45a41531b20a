"""The networks: SDF (hash grid + MLP), colour (IDR mode), background, and the model holding them.

Written from the paper and reference §5.2, §5.9, §5.10: SDF MLP with softplus(β=100), weight
norm and the IDR geometric initialisation (an SDF ≈ |x| − 0.5 at start), colour MLP fed with
position, SH view encoding, normal and the SDF feature (+ optional appearance embedding),
NeRF++ inverted-sphere background for unbounded scenes.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from video2mesh.recon.encoding import HashGrid
from video2mesh.recon.presets import TrainConfig

# Tetrahedron taps (reference §5.5): Σ k kᵀ = 4 I, so Σ k f(x + k e) / (4e) = ∇f for linear f.
TAPS = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, 1.0))


class WNLinear(nn.Module):
    """Linear layer with weight normalisation: W = g · V / ‖V‖ (row-wise)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.empty(n_out, n_in))
        self.g = nn.Parameter(torch.ones(n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        nn.init.kaiming_uniform_(self.v, a=math.sqrt(5))
        self.reset_g()

    def reset_g(self) -> None:
        with torch.no_grad():
            self.g.copy_(self.v.norm(dim=1))

    def weight(self) -> torch.Tensor:
        return self.v * (self.g / self.v.norm(dim=1).clamp_min(1e-12))[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight()
        return F.linear(x, w.to(x.dtype), self.bias.to(x.dtype))


def spherical_harmonics(d: torch.Tensor, degree: int) -> torch.Tensor:
    """Real SH basis up to ``degree`` (0..3) of unit directions d (N, 3): (degree+1)^2 values."""
    x, y, z = d.unbind(-1)
    out = [torch.full_like(x, 0.28209479177387814)]
    if degree >= 1:
        out += [-0.4886025119029199 * y, 0.4886025119029199 * z, -0.4886025119029199 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            1.0925484305920792 * x * y,
            -1.0925484305920792 * y * z,
            0.31539156525252005 * (2 * zz - xx - yy),
            -1.0925484305920792 * x * z,
            0.5462742152960396 * (xx - yy),
        ]
    if degree >= 3:
        out += [
            -0.5900435899266435 * y * (3 * xx - yy),
            2.890611442640554 * x * y * z,
            -0.4570457994644658 * y * (4 * zz - xx - yy),
            0.3731763325901154 * z * (2 * zz - 3 * xx - 3 * yy),
            -0.4570457994644658 * x * (4 * zz - xx - yy),
            1.445305721320277 * z * (xx - yy),
            -0.5900435899266435 * x * (xx - 3 * yy),
        ]
    return torch.stack(out, -1)


def _triton_ok(features: int) -> bool:
    if features not in (1, 2, 4, 8) or not torch.cuda.is_available():
        return False
    from video2mesh.recon.hash_triton import HAVE_TRITON

    return HAVE_TRITON


class SDFNet(nn.Module):
    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.encoding = HashGrid(
            cfg.hash_levels,
            cfg.hash_features,
            cfg.hash_log2_size,
            cfg.hash_base_res,
            cfg.hash_max_res,
            cfg.hash_range,
        )
        self.encoding.fused = cfg.fused_hash and _triton_ok(cfg.hash_features)
        n_in = 3 + self.encoding.out_dim
        dims = [n_in] + [cfg.sdf_hidden] * cfg.sdf_layers
        self.hidden = nn.ModuleList(WNLinear(a, b) for a, b in itertools.pairwise(dims))
        self.sdf_head = nn.Linear(cfg.sdf_hidden, 1)
        self.feat_head = WNLinear(cfg.sdf_hidden, cfg.sdf_feature_dim)
        self.register_buffer("taps", torch.tensor(TAPS), persistent=False)
        self._geometric_init(cfg)

    def _geometric_init(self, cfg: TrainConfig) -> None:
        """IDR init: the network starts as the SDF of a sphere of radius ``init_radius``."""
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                n_out = layer.v.shape[0]
                layer.v.normal_(0.0, math.sqrt(2.0) / math.sqrt(n_out))
                if i == 0:
                    layer.v[:, 3:] = 0.0  # only xyz drives the initial shape
                layer.bias.zero_()
                layer.reset_g()
            n_in = self.sdf_head.in_features
            self.sdf_head.weight.normal_(math.sqrt(math.pi) / math.sqrt(n_in), 1e-4)
            self.sdf_head.bias.fill_(-cfg.init_radius)
            if cfg.inside_out:  # scenes seen from inside: SDF positive inside the sphere
                self.sdf_head.weight.neg_()
                self.sdf_head.bias.neg_()
            n_out = self.feat_head.v.shape[0]
            self.feat_head.v.normal_(0.0, math.sqrt(2.0) / math.sqrt(n_out))
            self.feat_head.bias.zero_()
            self.feat_head.reset_g()

    def _mlp(self, x: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, enc], -1)
        for layer in self.hidden:
            h = F.softplus(layer(h), beta=100.0)
        return h

    def compile_mlp(self) -> None:
        """torch.compile the MLP part (fuses weight norm, concat and softplus; CUDA)."""
        self._mlp = torch.compile(self._mlp, dynamic=False)  # type: ignore[method-assign]

    def hidden_state(self, x: torch.Tensor, active: int) -> torch.Tensor:
        return self._mlp(x, self.encoding(x, active))

    def sdf(self, x: torch.Tensor, active: int) -> torch.Tensor:
        return self.sdf_head(self.hidden_state(x, active))[..., 0]

    def sdf_feature(self, x: torch.Tensor, active: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden_state(x, active)
        return self.sdf_head(h)[..., 0], F.softplus(self.feat_head(h), beta=100.0)

    def with_gradient(
        self, x: torch.Tensor, active: int, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """SDF, feature, numerical gradient and Laplacian at x (N, 3), in one batched pass.

        4-tap tetrahedron with |k e| = eps (reference §5.5): ∇f = Σ k f(x + k e) / (4e) and
        tr(∇²f) ≈ (Σ f(x + k e) / 2 − 2 f(x)) / e².
        """
        n = x.shape[0]
        e = eps / math.sqrt(3.0)
        taps = self.taps.to(x.dtype) * e  # (4, 3)
        pts = torch.cat([x, (x[None] + taps[:, None]).reshape(-1, 3)], 0)
        h = self.hidden_state(pts, active)
        f_all = self.sdf_head(h)[..., 0]
        f0, ft = f_all[:n], f_all[n:].view(4, n)
        feat = F.softplus(self.feat_head(h[:n]), beta=100.0)
        grad = (ft[..., None] * taps[:, None] / e).sum(0) / (4.0 * e)
        lap = (ft.sum(0) / 2.0 - 2.0 * f0) / (e * e)
        return f0, feat, grad, lap


class ColorNet(nn.Module):
    """IDR-mode radiance: [x, SH(view), normal, SDF feature (, appearance)] → RGB."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.sh_degree = cfg.sh_degree
        # Ref-NeRF's reparametrisation: encode the view reflected about the normal, so that a
        # highlight is one function of the reflected direction instead of a different one at
        # every point of a glossy surface (which the SDF otherwise bends itself to explain)
        # ("both": the view and its reflection, each SH-encoded, side by side)
        self.direction = cfg.color_direction
        # no gradient from the reflection into the normal: the colour cannot tilt the surface
        # to move a highlight
        self.detach_reflection = cfg.reflection_detach
        n_sh = (cfg.sh_degree + 1) ** 2 * (2 if self.direction == "both" else 1)
        n_in = 3 + n_sh + 3 + cfg.sdf_feature_dim + cfg.appearance_dim
        dims = [n_in] + [cfg.color_hidden] * cfg.color_layers
        self.hidden = nn.ModuleList(WNLinear(a, b) for a, b in itertools.pairwise(dims))
        self.out = WNLinear(dims[-1], 3)

    def forward(
        self,
        x: torch.Tensor,
        view: torch.Tensor,
        normal: torch.Tensor,
        feat: torch.Tensor,
        app: torch.Tensor | None = None,
    ) -> torch.Tensor:
        dirs = [view]
        if self.direction != "view":  # normal is unit length (both callers normalise it)
            n = normal.detach() if self.detach_reflection else normal
            mirrored = view - 2.0 * (view * n).sum(-1, keepdim=True) * n
            dirs = [view, mirrored] if self.direction == "both" else [mirrored]
        parts = [x, *(spherical_harmonics(d, self.sh_degree) for d in dirs), normal, feat]
        if app is not None:
            parts.append(app)
        h = torch.cat(parts, -1)
        for layer in self.hidden:
            h = F.relu(layer(h))
        return torch.sigmoid(self.out(h).float())


class NerfBackground(nn.Module):
    """NeRF++ inverted-sphere background: [x/|x|, 1/|x|] with Fourier features → σ, RGB."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.levels = cfg.bg_fourier_levels
        self.sh_degree = cfg.sh_degree
        n_in = 4 + 8 * self.levels
        w = cfg.bg_hidden
        self.skip = cfg.bg_layers // 2
        layers = []
        for i in range(cfg.bg_layers):
            a = n_in if i == 0 else w
            if i == self.skip and i > 0:
                a += n_in
            layers.append(nn.Linear(a, w))
        self.layers = nn.ModuleList(layers)
        self.density = nn.Linear(w, 1)
        n_rgb = w + (cfg.sh_degree + 1) ** 2 + cfg.appearance_dim
        self.rgb1 = nn.Linear(n_rgb, max(w // 2, 16))
        self.rgb2 = nn.Linear(max(w // 2, 16), 3)
        self.padding = cfg.bg_colour_padding

    def forward(
        self, x: torch.Tensor, view: torch.Tensor, app: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r = x.norm(dim=-1, keepdim=True).clamp_min(1.0)
        p = torch.cat([x / r, 1.0 / r], -1)
        freq = (2.0 ** torch.arange(self.levels, device=x.device, dtype=x.dtype)) * math.pi
        ang = (p[..., None] * freq).flatten(-2)
        enc = torch.cat([p, torch.sin(ang), torch.cos(ang)], -1)
        h = enc
        for i, layer in enumerate(self.layers):
            if i == self.skip and i > 0:
                h = torch.cat([h, enc], -1)
            h = F.relu(layer(h))
        sigma = F.softplus(self.density(h).float())[..., 0]
        parts = [h, spherical_harmonics(view, self.sh_degree).to(h.dtype)]
        if app is not None:
            parts.append(app.to(h.dtype))
        rgb = torch.sigmoid(self.rgb2(F.relu(self.rgb1(torch.cat(parts, -1)))).float())
        if self.padding:
            rgb = rgb * (1.0 + 2.0 * self.padding) - self.padding
        return sigma, rgb

    def sigmoid_of(self, rgb: torch.Tensor) -> torch.Tensor:
        """The colour sigmoid's own value behind a colour `forward` returned (padding undone)."""
        return (rgb + self.padding) / (1.0 + 2.0 * self.padding)


class CameraCorrection(nn.Module):
    """Per-image pose corrections learned with the photometric loss (camera refinement).

    Each image gets a rotation vector (about its own centre) and a translation, both starting at
    zero: SfM's pose is where training starts, and the corrections move only what the photos
    disagree with. The rotation is applied exactly (Rodrigues), so large learning rates cannot
    shear the rays.
    """

    def __init__(self, n_images: int) -> None:
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(n_images, 6))

    def forward(
        self, o: torch.Tensor, d: torch.Tensor, img: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        delta = self.delta[img]
        w, t = delta[:, :3], delta[:, 3:]
        # Rodrigues with the rotation vector w (angle |w|): d cos + (w x d) sin/|w| +
        # w (w . d)(1 - cos)/|w|^2, the two ratios by their series near 0, so that the
        # gradient reaches w at 0, where every correction starts.
        theta2 = (w * w).sum(-1, keepdim=True)
        small = theta2 < 1e-6
        theta = theta2.clamp_min(1e-6).sqrt()
        sinc = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
        cosc = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta**2)
        d = (
            d * (1.0 - theta2 * cosc)  # cos = 1 - theta^2 (1 - cos) / theta^2
            + torch.cross(w, d, dim=-1) * sinc
            + w * (w * d).sum(-1, keepdim=True) * cosc
        )
        return o + t, d


class Model(nn.Module):
    def __init__(self, cfg: TrainConfig, n_images: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.sdf = SDFNet(cfg)
        self.color = ColorNet(cfg)
        self.s_var = nn.Parameter(torch.tensor(float(cfg.s_init)))
        self.appearance = nn.Embedding(n_images, cfg.appearance_dim) if cfg.appearance_dim else None
        self.background = NerfBackground(cfg) if cfg.background == "nerf" else None
        self.bg_appearance = (
            nn.Embedding(n_images, cfg.appearance_dim)
            if cfg.appearance_dim and cfg.background == "nerf"
            else None
        )
        # per photo: log gains (3) and offsets (3) of its colour, zero = as rendered
        self.exposure = nn.Embedding(n_images, 6) if cfg.exposure else None
        if self.exposure is not None:
            nn.init.zeros_(self.exposure.weight)
        # "color": one learned colour behind the object (logit; starts grey)
        self.bg_color = nn.Parameter(torch.zeros(3)) if cfg.background == "color" else None
        self.cameras = CameraCorrection(n_images) if cfg.lr_cameras > 0 else None
        # where the surface can be (recon/occupancy.py): 1 per occupied cell, all at first
        grid = torch.ones(cfg.occupancy_res**3) if cfg.occupancy_res > 0 else None
        self.register_buffer("occupancy", grid)

    def inv_s(self) -> torch.Tensor:
        return torch.exp(self.s_var).clamp(max=1e6)

    def parameter_groups(self, cfg: TrainConfig) -> list[dict]:
        enc = [self.sdf.encoding.table]
        svar = [self.s_var]
        cams = [self.cameras.delta] if self.cameras is not None else []
        # a group of its own only when it can have a rate of its own (older checkpoints resume)
        bg = (
            [*self.background.parameters()]
            if self.background is not None
            and (cfg.lr_background > 0 or cfg.background_warmup > 0 or cfg.background_guard)
            else []
        )
        ids = {id(p) for p in enc + svar + cams + bg}
        rest = [p for p in self.parameters() if id(p) not in ids]
        lr = cfg.group_learning_rates()
        named = [("mlp", rest), ("encoding", enc), ("s_var", svar)]
        groups = [{"params": ps, "lr": lr[name], "name": name} for name, ps in named]
        if bg:
            groups.append({"params": bg, "lr": lr["background"], "name": "background"})
        if cams:  # no weight decay: it would pull every camera back towards SfM's pose
            groups.append(
                {"params": cams, "lr": lr["cameras"], "name": "cameras", "weight_decay": 0.0}
            )
        return groups


def initial_model(cfg: TrainConfig, n_images: int) -> Model:
    """The model a run starts from: its networks drawn from the run's seed (on the CPU)."""
    torch.manual_seed(cfg.seed)
    return Model(cfg, n_images)
