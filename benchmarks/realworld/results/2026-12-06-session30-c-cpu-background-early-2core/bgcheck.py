"""Background state over the first iterations: python bgcheck.py DATA_DIR SEED PAD [GUARD] [UNTIL]"""
import json, sys, tempfile
from pathlib import Path
import torch
from video2mesh.recon import background_guard, train
from video2mesh.recon.presets import build_config

data, seed, pad = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
guard = len(sys.argv) > 4 and sys.argv[4] == "1"
until = int(sys.argv[5]) if len(sys.argv) > 5 else 240
torch.set_num_threads(1)
rc = {"preset": "cpu", "train": {"seed": seed, "bg_colour_padding": pad, "background_guard": guard}}
cfg, preset = build_config(json.dumps(rc), "object")
out = []
orig = train.train_loop
def loop(cfg_, ds, model, *a, **k):
    def cb(it, parts, st):
        if it in (10, 20, 30, 40, 60, 90, 120, 180, 240):
            s, rgb = background_guard.colour_stats(model)
            out.append(f"{it}:{s:.3f}/{rgb.mean():.2f}")
    a = list(a); a[6] = [*a[6], cb]
    return orig(cfg_, ds, model, *a, **k)
train.train_loop = loop
d = Path(tempfile.mkdtemp())
seg = train.Segment(transforms=data / "transforms.json", images=data / "images.tar", cfg=cfg,
    preset=preset, scene_type="object", until=until, final=3000, out=d / "c.pt", metrics=d / "m.csv", threads=1)
s = train.run_segment(seg)
print(data.name, "seed", seed, "pad", pad, " ".join(out), "psnr", s["last"] and s["last"].get("psnr"), flush=True)
