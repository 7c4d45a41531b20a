"""Training hyperparameters: one dataclass, device presets, per-run overrides.

The official values (reference §5) assume 500k iterations on a 24 GB GPU. Our presets keep the
method and scale the resources: ``gpu`` keeps the official network shapes with a smaller hash
table (fits in < 4 GiB) and fewer samples per ray; ``cpu`` shrinks everything so that a few
thousand iterations run in minutes on two cores. Every key can be overridden per run under
``runs: {name: {backend: builtin, preset: ..., train: {key: value}}}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from video2mesh.errors import UserError

SCENE_TYPES = ("object", "scene")
BACKGROUNDS = ("none", "color", "nerf")
COLOR_DIRECTIONS = ("view", "reflected", "both")


@dataclass
class TrainConfig:
    """Every hyperparameter of a builtin run; schedules are fractions of the final iteration."""

    seed: int = 0
    # rays and images
    rays: int = 1024  # rays per iteration (official: 2 images × 512)
    image_max_side: int = 0  # downscale so that the long side is at most this (0: as given)
    # ... but no further than the bounding sphere keeps this many pixels across (its median
    # projected diameter; 0: no floor): an object small in the frame keeps the pixels an
    # object filling it has (recon.data.sphere_span)
    object_min_pixels: int = 0
    # share of each batch drawn from pixels whose ray meets the bounding sphere (0: uniform over
    # all pixels, as the official code; see Dataset.focus_on_sphere)
    sphere_ray_fraction: float = 0.0
    # hash grid (official: 16 levels, 8 features, 2^22 entries, 32 → 2048, range [-2, 2]; our
    # finest resolution follows the images, see hash_max_res)
    hash_levels: int = 16
    hash_features: int = 4
    hash_log2_size: int = 20
    hash_base_res: int = 32
    # 0: from the images, one finest cell per pixel on the object (grid_resolution_for): finer
    # cells than pixels have nothing to fit and came out as bumps, holes and dents on the
    # validation set (benchmarks/realworld/RESULTS.md: the vase 1.21 → 0.76 % at 3000 its)
    hash_max_res: int = 0
    # with hash_max_res 0: pixels on the object per finest cell (2: a grid half as fine; the
    # GPU preset's choice, see PRESETS)
    hash_pixels_per_cell: float = 1.0
    hash_range: float = 2.0
    # SDF MLP (official: 1 × 256, softplus β=100, geometric init to a sphere of radius 0.5)
    sdf_hidden: int = 256
    sdf_layers: int = 1
    sdf_feature_dim: int = 256
    init_radius: float = 0.5
    inside_out: bool = False
    # colour MLP (official: IDR mode, 4 × 256, SH degree 3 view encoding). SH degree 3, the
    # official value, chosen on the validation set (benchmarks/realworld/RESULTS.md): real
    # photos change with the view (exposure, sheen), and without view dependence the surface
    # does not sharpen (DTU scan24 at 3000: inverse s 93 and PSNR 22.0 with degree 0, 238 and
    # 23.7 with 3); on generated scenes 3 is as good or better (house on a bright backdrop:
    # 0.96 vs 1.26 % Chamfer). Degree 0 was chosen on the synthetic sample alone before. The CPU
    # preset takes degree 1 (see PRESETS).
    color_hidden: int = 256
    color_layers: int = 4
    sh_degree: int = 3
    # a fixed camera before a turntable (video2mesh.still): the room's light turns with the
    # view in the object's frame, so the colour needs the view; a lower sh_degree (a run's 0) is
    # raised to this one (benchmarks/realworld/RESULTS.md, session 23, when the CPU preset had 0)
    fixed_camera_sh_degree: int = 1
    # the colour MLP's direction input: "view" (the ray's, official) or "reflected" (about the
    # normal, as Ref-NeRF / Ref-NeuS for glossy surfaces) or "both" side by side. "both" with
    # the reflection detached from the normal, chosen on the validation set (RESULTS.md, session
    # 10; H200, 3000 iterations): the generated cup's curtains go (Chamfer 1.60 / 1.65 / 1.82 →
    # 0.61 / 0.61 / 0.72 %, object share 0.64–0.67 → 0.83–0.87), every other scene ties within the
    # runs' spread (figurine, vase, house, temple and DTU 65's IoU). Without the detach the
    # colour can tilt the surface to move a highlight and put a lid on the cup (2.54 %).
    color_direction: str = "both"
    reflection_detach: bool = True  # no gradient from the reflected direction into the normal
    appearance_dim: int = 0  # per-image appearance embedding size (0: off)
    # per-photo colour gain and offset (3 + 3 numbers per photo) applied to the rendered colour
    # in training, identity for meshes, colours and renders: what a phone's auto exposure and
    # white balance change between frames, which the field would otherwise explain with
    # view-dependent colour or floaters. Off: on a phone-camera capture the GPU default reaches
    # the same mesh by 10000 without it (0.53 %; with it 0.57, and 0.61 instead of 1.56 at
    # 5000), and on the CPU preset it lost the house on a bright backdrop 0.6 points
    # (benchmarks/realworld/RESULTS.md, session 15)
    exposure: bool = False
    # background: none (black), color (one learned RGB), nerf (NeRF++ inverted sphere)
    # "" = nerf for both scene types: the official generated configs enable it for objects too,
    # and any capture (the sample included) shows a textured background through the sphere
    background: str = ""
    bg_hidden: int = 256
    bg_layers: int = 8
    bg_samples: int = 32
    bg_fourier_levels: int = 10
    # the NeRF++ background's colour is a padded sigmoid, σ(x)·(1 + 2p) − p, which reaches 0 and 1
    # at a finite logit (|x| ≈ 3 at p = 0.05) instead of at infinity (as mip-NeRF 360 does for
    # its colours): a background fitting saturated pixels (a white table at 255) keeps its
    # gradient instead of dying on one colour (0: a plain sigmoid, so that a checkpoint from
    # before the key is known to have trained without it; 0.05 in both presets)
    bg_colour_padding: float = 0.0
    # sampling (official: 64 coarse + 4 × 16 hierarchical)
    samples_coarse: int = 64
    samples_fine: int = 16
    fine_rounds: int = 4
    # empty-space skipping (recon/occupancy.py): a grid of res³ cells over the unit cube marks
    # where the SDF allows a surface; ``occupancy_share`` of each ray's coarse samples go there,
    # the rest stay uniform. Refreshed from the SDF every ``occupancy_every`` iterations from
    # ``occupancy_start`` (a fraction of the run) on. 0: off (uniform coarse samples). Off: on
    # the validation set it neither sharpened the meshes at the same sample count nor held
    # their quality with fewer samples (CPU preset, six captures; GPU preset, cup and vase at
    # 10000: cup 0.72 % against 0.47–0.56; benchmarks/realworld/RESULTS.md, session 16)
    occupancy_res: int = 0
    occupancy_share: float = 0.75
    occupancy_start: float = 0.1
    occupancy_every: int = 100
    # NeuS
    s_init: float = 3.0  # inv_s = exp(s_var)
    anneal_end: float = 0.1  # cos annealing over this fraction of the run
    # coarse-to-fine and numerical gradients
    init_active_level: int = 0  # 0 = by scene type: object 4, scene 8
    warmup_frac: float = 0.01  # official 5k / 500k
    c2f_step_frac: float = 0.01  # one more level every 1% after warm-up (official 5k / 500k)
    # losses
    rgb_weight: float = 1.0
    eikonal_weight: float = 0.1
    # objects in front of a plain backdrop: BCE pushing the object's opacity to 0 on backdrop
    # pixels flood-filled from the frame border (recon.plain_background); 0 turns it off
    backdrop_weight: float = 0.1
    # cut-out photos (their alpha, recon.data): BCE pushing the opacity to 1 on the pixels the
    # alpha marks as the object, as NeuS's mask loss; 0 turns it off
    object_weight: float = 0.1
    curvature_weight: float = 5e-4
    # optimiser (AdamW, linear warm-up, ×lr_gamma at each step fraction)
    lr: float = 1e-3
    lr_encoding: float = 0.0  # 0 = same as lr
    lr_s_var: float = 0.0  # 0 = same as lr
    # the NeRF++ background network's rate (0 = same as lr). At the CPU preset's 1e-2 the
    # background can settle on one black, opaque wall in the first 50 iterations (its colour
    # branch dead); the SDF then wraps the object in a shell that shows what lies behind it
    # (DTU 65, one training seed in eight). 1e-3 avoids that there (IoU 0.63 → 0.91) but costs
    # make run's sample, whose room the background must learn fast (0.63 → 1.21 %), so it is
    # not a default (benchmarks/realworld/RESULTS.md, session 17)
    lr_background: float = 0.0
    # the background's rate ramps up from 0 over this fraction of the run (0: the common
    # warm-up only), so that it cannot settle on one colour before the object takes shape.
    # Off: 0.05 fixed DTU 65's shell under seed 27 (IoU 0.63 → 0.91) and tied on the sample,
    # but lost the house on a bright backdrop on this VM (seed 20: 1.69 % against 0.56 without)
    # and, on the H200, the temple (seed 26: IoU 0.81 against 0.87; seed 27: the SDF emptied;
    # benchmarks/realworld/RESULTS.md, sessions 17-18). The background guard below applies it
    # only to a run whose background collapsed
    background_warmup: float = 0.0
    # restart training with that ramp when the NeRF++ background collapses early to one
    # saturated colour unlike what only it sees (recon.background_guard; on in both presets,
    # off here so that a checkpoint from before the key is known to have trained without it)
    background_guard: bool = False
    # camera refinement: per-image pose corrections learned with the photometric loss, at this
    # learning rate (0: off, SfM's poses are kept as they are). Off: on the one capture with weak
    # SfM cameras (the figurine on black, CPU) 1e-4 gave 1.76 % against 1.58 % without (its true
    # cameras: 0.29 %; RESULTS.md, session 12): the corrections stay small and do not undo
    # its SfM cameras' 2-3° error; on the temple (real, good cameras) the silhouette IoU fell
    # from 0.861 to 0.838. The sample points then need their gradient, which the Triton
    # hash-grid kernels do not give: on the GPU such runs take the slower torch path
    lr_cameras: float = 0.0
    weight_decay: float = 1e-2
    lr_steps: list[float] = field(default_factory=lambda: [0.6, 0.8])
    lr_gamma: float = 0.1
    # engineering
    log_every: int = 50
    compile: bool = False  # torch.compile the field evaluations (CUDA only)
    amp: bool = False  # bf16 autocast for the colour / background MLPs (CUDA only)
    fused_hash: bool = True  # Triton hash-grid kernels on CUDA when Triton is importable
    cuda_graphs: bool = True  # capture each training step as a CUDA graph (CUDA only)

    def resolved(self, scene_type: str) -> TrainConfig:
        """Fill the scene-type dependent defaults."""
        if scene_type not in SCENE_TYPES:
            raise UserError(f"unknown scene type '{scene_type}'", f"use one of {SCENE_TYPES}")
        cfg = dataclasses.replace(self)
        if not cfg.background:
            cfg.background = "nerf"
        if cfg.background not in BACKGROUNDS:
            raise UserError(f"unknown background '{cfg.background}'", f"use one of {BACKGROUNDS}")
        if cfg.color_direction not in COLOR_DIRECTIONS:
            raise UserError(
                f"unknown color_direction '{cfg.color_direction}'",
                f"use one of {COLOR_DIRECTIONS}",
            )
        if not 0.0 <= cfg.sphere_ray_fraction <= 1.0:
            raise UserError(
                f"sphere_ray_fraction {cfg.sphere_ray_fraction} is not between 0 and 1",
                "set a share of the batch, e.g. 0.9",
            )
        if not 0.0 <= cfg.occupancy_share < 1.0 or cfg.occupancy_res < 0:
            raise UserError(
                f"occupancy_res {cfg.occupancy_res} / occupancy_share {cfg.occupancy_share} "
                "out of range",
                "set occupancy_res ≥ 0 (0: off) and a share in [0, 1), e.g. 64 and 0.75",
            )
        if cfg.hash_max_res < 0:
            raise UserError(
                f"hash_max_res {cfg.hash_max_res} is negative",
                "set a resolution, or 0 to follow the images",
            )
        if cfg.hash_pixels_per_cell <= 0:
            raise UserError(
                f"hash_pixels_per_cell {cfg.hash_pixels_per_cell} is not positive",
                "set the pixels per finest cell, e.g. 1 (one cell per pixel) or 2",
            )
        if cfg.init_active_level <= 0:
            cfg.init_active_level = 4 if scene_type == "object" else 8
        cfg.init_active_level = min(cfg.init_active_level, cfg.hash_levels)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def group_learning_rates(self) -> dict[str, float]:
        """The base learning rate of each optimiser group (fields.Model.parameter_groups),
        before the schedule's factor (loop.set_learning_rates)."""
        return {
            "mlp": self.lr,
            "encoding": self.lr_encoding or self.lr,
            "s_var": self.lr_s_var or self.lr,
            "cameras": self.lr_cameras,
            "background": self.lr_background or self.lr,
        }


# Deltas from the dataclass defaults (which are the GPU preset).
PRESETS: dict[str, dict[str, Any]] = {
    "gpu": {
        # measured on an H100 (RESULTS.md, session 3): 0.50 % at 20k iterations uniform, 0.42 %
        # at 7.5k and 0.40 % at 15k with 0.9; through SfM cameras 0.44 % at 15k
        "sphere_ray_fraction": 0.9,
        "samples_coarse": 48,
        "samples_fine": 16,
        "fine_rounds": 2,
        "lr_encoding": 1e-2,
        "lr_s_var": 1e-2,
        "amp": True,
        # restarts a run whose background collapsed early (none of 8 DTU 65 seeds did under
        # this preset's lower rates; a no-op on any run where it does not; RESULTS.md, session 18)
        "background_guard": True,
        # a tie on DTU 65 (0.942 / 0.943 at 5000, H100); on by the CPU preset's evidence
        # (RESULTS.md, session 30)
        "bg_colour_padding": 0.05,
        # one finest cell on two pixels' footprint (256 at 480 px, 512 at DTU's 957): on the
        # H100 at 5000 its the cups' bad draws 1.5-1.6 -> 0.77-1.09 % (the dark cup's shadowed
        # table sheets gone), the temple's silhouettes the same (0.846; 0.887), DTU 24 0.934
        # against 0.924, the dino a tie; over two seeds the cups' mean 0.99 / 0.77 % against
        # 1.02 / 1.15 (benchmarks/realworld/RESULTS.md, sessions 32 d, 34 and 35)
        "hash_pixels_per_cell": 2.0,
    },
    "cpu": {
        # DTU 65 under seed 27: IoU 0.64 → 0.92 (restarted at iteration 30); every other run
        # the same (RESULTS.md, session 18)
        "background_guard": True,
        # the background's colour padded: it comes back from saturated black or white. DTU 65
        # seed 3: black by iteration 30 and dark after, IoU 0.706; padded 0.783 (a bowl of
        # table is left either way); make run's sample 0.657 → 0.608 %; ties on DTU 65 seeds 0
        # and 27 and the model house (RESULTS.md, session 30)
        "bg_colour_padding": 0.05,
        # degree 1 on the CPU, with the GPU preset's view + detached reflection ("both"):
        # degree 3 empties the SDF within 100 iterations under this preset's small networks and
        # high rates (the table sample), and degree 0, chosen on generated scenes, left real
        # captures whose light changes with the view as blobs: a CO3D apple (inverse s 21) and a
        # flash-lit plaster skull (22) came out recognisable with degree 1 (59, 35), DTU 65's
        # silhouette IoU 0.92 -> 0.96 (the temple a tie); the generated sample a tie over two
        # seeds, its cup 0.62 % (degree 1 with the view alone put curtains under the sample's
        # body: 0.81 %; RESULTS.md, session 24)
        "sh_degree": 1,
        "rays": 512,
        "sphere_ray_fraction": 0.9,  # measured: 1.55 → 1.27 % at 1000 iterations (RESULTS.md)
        "image_max_side": 160,
        # the sample's sphere spans 82 px at 160 (the generated set 70-200): a small object in a
        # large frame (a CO3D apple: 39 px; a figurine a quarter of the frame high: 37) keeps
        # about what the preset was chosen on (benchmarks/realworld/RESULTS.md, session 24)
        "object_min_pixels": 80,
        "hash_levels": 8,
        "hash_features": 2,
        "hash_log2_size": 15,
        "hash_base_res": 16,
        "hash_max_res": 256,  # = the GPU rule at 160 px on the validation set (4 / 0.013–0.021)
        "sdf_hidden": 64,
        "sdf_feature_dim": 64,
        "color_hidden": 64,
        "color_layers": 2,
        "bg_hidden": 64,
        "bg_layers": 4,
        "bg_samples": 8,
        "bg_fourier_levels": 6,
        "samples_coarse": 16,
        "samples_fine": 8,
        "fine_rounds": 1,
        "lr": 1e-2,
        "lr_encoding": 5e-2,
        "lr_s_var": 5e-2,
        # the rates' two ×0.1 steps at 80 % and 95 % of the run instead of the official 60 %
        # and 80 %: with the high rates held longer, the bad draws of a few thousand iterations
        # (a bubble inside the house's walls, curtains under the cup's bowl) get out of them.
        # Chosen over 4–8 seeds per capture (benchmarks/realworld/RESULTS.md, session 17):
        # house 0.47–1.84 → 0.48–0.49 %, cup mean 0.97 → 0.84 %, make run's sample 0.61–0.89 →
        # 0.53–0.81 %; vase +0.02 points, DTU 65's silhouettes −0.008 IoU, temple −0.002
        "lr_steps": [0.8, 0.95],
        "log_every": 25,
    },
}


# The finest grid resolution chosen for the images: a power of two, at most the official 2048.
MAX_GRID_RES = 2048


def grid_resolution_for(footprint: float, cfg: TrainConfig) -> int:
    """The finest hash level's resolution that puts one cell on each pixel's footprint (on
    ``hash_pixels_per_cell`` pixels' footprints).

    The grid spans [-hash_range, hash_range]; rounded to the nearest power of two (in log
    terms) so that captures of a similar resolution train the same field, and kept between
    4× the coarsest level and MAX_GRID_RES.
    """
    cells = 2.0 * cfg.hash_range / max(footprint * cfg.hash_pixels_per_cell, 1e-9)
    res = 2 ** round(math.log2(cells))
    return int(min(max(res, 4 * cfg.hash_base_res), MAX_GRID_RES))


def fit_grid_to_images(cfg: TrainConfig, footprint: float) -> bool:
    """Resolve ``hash_max_res: 0`` in place for images of this pixel footprint (see
    ``Dataset.pixel_footprint``); False when the run set a resolution of its own."""
    if cfg.hash_max_res != 0:
        return False
    cfg.hash_max_res = grid_resolution_for(footprint, cfg)
    return True


def default_preset() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise UserError(f"train.{name} must be true or false, got {value!r}", "fix the run")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"train.{name} must be an integer, got {value!r}", "fix the run")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"train.{name} must be a number, got {value!r}", "fix the run")
        return float(value)
    if isinstance(current, list):
        if not isinstance(value, list) or not all(isinstance(v, int | float) for v in value):
            raise UserError(f"train.{name} must be a list of numbers, got {value!r}", "fix it")
        return [float(v) for v in value]
    if not isinstance(value, str):
        raise UserError(f"train.{name} must be a string, got {value!r}", "fix the run")
    return value


def build_config(run: dict[str, Any] | str | None, scene_type: str) -> tuple[TrainConfig, str]:
    """Config of one run from its ``runs:`` entry (dict or JSON); returns (config, preset)."""
    if isinstance(run, str):
        try:
            run = json.loads(run) if run.strip() else {}
        except json.JSONDecodeError as exc:
            raise UserError(
                f"--run-config is not valid JSON ({exc})", "pass a JSON object"
            ) from exc
    run = dict(run or {})
    backend = run.pop("backend", "builtin")
    if backend != "builtin":
        raise UserError(f"run backend is '{backend}', not 'builtin'", "use the backend's own rule")
    preset = run.pop("preset", "auto")
    overrides = run.pop("train", {}) or {}
    # the other keys of a run (extract, flavor, gpu_model, gpus, ...) belong to the pipeline and
    # are validated by config/schema.yaml; only the training keys are this module's to check
    if preset == "auto":
        preset = default_preset()
    if preset not in PRESETS:
        raise UserError(f"unknown preset '{preset}'", f"use auto or one of {sorted(PRESETS)}")
    cfg = TrainConfig(**PRESETS[preset])
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in overrides.items():
        if key not in known:
            raise UserError(
                f"unknown builtin training key '{key}'",
                f"use one of: {', '.join(sorted(known))}",
            )
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key)))
    return cfg.resolved(scene_type), preset


def config_keys() -> list[str]:
    """The override keys, for the config schema."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


# Columns of the per-segment metrics CSV (the official adapter writes the same ones).
METRIC_COLUMNS = [
    "iteration",
    "loss",
    "rgb_l1",
    "eikonal",
    "curvature",
    "psnr",
    "inv_s",
    "active_levels",
    "eps",
    "lr",
    "curvature_weight",
    "its_per_s",
    "elapsed_s",
]
