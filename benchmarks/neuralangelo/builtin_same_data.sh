#!/usr/bin/env bash
# The builtin backend on the same prepared scene and sweep as the official H100 run recorded in
# this folder (sample, COLMAP cameras, sweep 500 → 1500, 1024 rays): train two segments, extract
# at 512 (both points) and 2048 (last), score against the reference. Run on the GPU machine:
#   DATA=<dir with transforms.json images.tar reference.ply> OUT=<dir> bash builtin_same_data.sh
set -uo pipefail
W=$(mktemp -d)
RC='{"backend": "builtin", "preset": "gpu"}'
v2m() { python3 -m video2mesh "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv"
python3 -c 'import torch, sys; print(sys.version, torch.__version__, torch.version.cuda)' > "$OUT/versions.txt"
prev=""
for n in 500 1500; do
  s=$(date +%s.%N)
  v2m train --transforms "$DATA/transforms.json" --images "$DATA/images.tar" --run-config "$RC" \
    --until $n --final 1500 $prev --out "$W/it$n.pt" --metrics "$OUT/it$n.csv" > "$OUT/train$n.log" 2>&1
  echo "train $n wall_s $(awk "BEGIN{print $(date +%s.%N) - $s}")" >> "$OUT/walls.txt"
  prev="--resume $W/it$n.pt"
done
for nr in 500:512 1500:512 1500:2048; do
  n=${nr%:*}; r=${nr#*:}
  s=$(date +%s.%N)
  v2m extract --ckpt "$W/it$n.pt" --resolution $r --out "$W/m${n}_$r.ply" --stats "$OUT/extract_${n}_$r.json" > "$OUT/extract_${n}_$r.log" 2>&1
  echo "extract $n $r wall_s $(awk "BEGIN{print $(date +%s.%N) - $s}")" >> "$OUT/walls.txt"
  v2m evaluate --mesh "$W/m${n}_$r.ply" --reference "$DATA/reference.ply" \
    --transforms "$DATA/transforms.json" --output "$OUT/eval_${n}_$r.json" > "$OUT/eval_${n}_$r.log" 2>&1
done
