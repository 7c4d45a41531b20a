#!/bin/bash
# One device call of the validation set (benchmarks/realworld/README.md): the wheels the image
# lacks, the training chains of some scenes with the default GPU preset, then the texture bench
# on some of their finest meshes. Run from the repository root on the device, carrying .devdata
# and .whl (trimesh, fast-simplification, xatlas):
#   bash benchmarks/realworld/device_validate.sh SCENES ITERATIONS [TEXTURE_SCENES]
# e.g. "temple_ring,dtu_scan65" "3000,6000,10000" "temple_ring"; JOBS (chains at once, 4) and
# BUDGET (seconds after which no chain starts, 300), PRESET (gpu), RES (meshes, 512), VARIANTS
# (JSON: name -> train overrides, default: the defaults alone), LIMIT and DATA (.devdata) from
# the environment.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])"
# LIMIT (seconds, 540) stops the chains before the device's 600 s, so that their logs come back;
# SCENES "-": no training, the texture bench on an earlier call's meshes (a warm machine)
[ "$1" = "-" ] || timeout "${LIMIT:-540}" python3 benchmarks/realworld/gpu_validate.py --data "${DATA:-.devdata}" --out "$OUT" \
    --scenes "$1" --iterations "$2" --jobs "${JOBS:-4}" --budget "${BUDGET:-300}" \
    --preset "${PRESET:-gpu}" --resolution "${RES:-512}" \
    --variants "${VARIANTS:-{\"default\": {\}\}}"
if [ "$1" != "-" ] && [ ! -e "$OUT/logs.tar.gz" ]; then  # cut short: stop the chains, keep their logs so far
    pkill -f "video2mesh (train|extract)"
    (cd "${GPU_VALIDATE_WORK:-/tmp/gpu_validate}" && tar czf "$OUT/logs.tar.gz" */*/log.txt */*/*.csv)
fi
last=${2##*,}
for s in $(echo "${3:-}" | tr , ' '); do
    run=/tmp/texture_run
    mkdir -p $run/results/$s/sfm
    ln -sf "$PWD/${DATA:-.devdata}/$s/transforms.json" $run/results/$s/transforms.json
    ln -sf "$PWD/${DATA:-.devdata}/$s/images.tar" $run/results/$s/sfm/images.tar
    fine="$PWD/${DATA:-.devdata}/$s/images_fine.tar"
    [ -e "$fine" ] && ln -sf "$fine" $run/results/$s/sfm/images_fine.tar
    ln -sf /tmp/gpu_validate/$s/default/it${last}_res512.ply $run/results/$s/mesh.ply
    # baked from SfM's finer photos (where it made them) and from the frames, scored alike
    for from in fine frames; do
        python3 benchmarks/texture/bench.py --threads 16 quality --run $run --scene $s \
            --mesh mesh.ply --size 2048 --faces 200000 --bake-from $from \
            > "$OUT/texture_${s}_$from.json" 2> "$OUT/texture_${s}_$from.err"
        tail -c 600 "$OUT/texture_${s}_$from.json"
        [ -e "$fine" ] || break
    done
done
