# Job image for the official Neuralangelo backend on sm_89 / sm_90 GPUs (L4, L40S, H100, H200).
# NVIDIA's own image (docker.io/chenhsuanlin/neuralangelo:23.04-py3) has tiny-cuda-nn kernels for
# sm_70–86 only (V100S, A100, A10): `video2mesh.neuralangelo.job_image` picks that one for those
# GPUs and this one (the run's `image_sm90`) for the newer ones.
#
# A recipe for users; video2mesh never builds it. Building it installs NVIDIA software (tiny-cuda-nn,
# and the jobs run NVlabs/neuralangelo): by using it you accept NVIDIA's licences (the Neuralangelo
# code: non-commercial use, NVIDIA GPUs only). The Neuralangelo code itself is not in the image:
# each job unpacks the run's source archive (rule neuralangelo_source) at the pinned commit.
#
#   docker build -f envs/neuralangelo-h100.Dockerfile -t REGISTRY/video2mesh-neuralangelo:94390b6-sm90 .
#   docker push REGISTRY/video2mesh-neuralangelo:94390b6-sm90
#   # config: runs: {official: {backend: neuralangelo, gpu_model: H100,
#   #                            image_sm90: REGISTRY/video2mesh-neuralangelo:94390b6-sm90}}
#
# Python 3.12 in the base image: the OVH executor's bootstrap finds it (>= 3.11), makes a venv with
# --system-site-packages for Snakemake and this project, and the adapter runs the official scripts
# with this same interpreter (torch + tinycudann visible).

FROM nvcr.io/nvidia/pytorch:25.01-py3

ARG DEBIAN_FRONTEND=noninteractive
# The Neuralangelo commit whose requirements are installed (the code comes from the job's archive).
ARG NEURALANGELO_COMMIT=94390b64683c067c620d9e075224ccfe582647d0
# tiny-cuda-nn as measured on an H100 (reference: official-neuralangelo-on-h100.md).
ARG TCNN_COMMIT=6ee3546bda615f51abe684ce9edefeb414689135
ARG TCNN_CUDA_ARCHITECTURES="80;86;89;90"
ENV TCNN_CUDA_ARCHITECTURES=${TCNN_CUDA_ARCHITECTURES} FORCE_CUDA=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake git curl ca-certificates ninja-build \
    && rm -rf /var/lib/apt/lists/*

# Upstream requirements at the pinned commit, minus tiny-cuda-nn (pinned below) and the notebook /
# viewer-only packages (k3d, plotly, open3d: not imported by train.py or extract_mesh.py).
# wandb < 0.31: imaginaire calls wandb.util.generate_id (removed in 0.31); it runs disabled.
RUN curl -fsSL "https://raw.githubusercontent.com/NVlabs/neuralangelo/${NEURALANGELO_COMMIT}/requirements.txt" \
        | grep -v -i -E '^(git\+.*tiny-cuda-nn|k3d|plotly|open3d|pathlib)' > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt "wandb<0.31" \
    && rm /tmp/requirements.txt

# tiny-cuda-nn's PyTorch bindings for the architectures above. Link the system libstdc++
# (an image whose g++ lacks libstdc++.so links it statically and crashes at the first call).
RUN pip install --no-cache-dir --no-build-isolation \
        "git+https://github.com/NVlabs/tiny-cuda-nn@${TCNN_COMMIT}#subdirectory=bindings/torch" \
    && python -c "import tinycudann, torch; print('tinycudann', tinycudann.__file__, torch.__version__)"

# The adapter's defaults: this interpreter runs the official scripts; torch >= 2.6 changed
# torch.load's default (the official checkpoints hold more than tensors).
ENV VIDEO2MESH_NEURALANGELO_PYTHON=/usr/bin/python3 \
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 \
    WANDB_MODE=disabled

# OVHcloud AI Training runs containers as UID 42420: a writable home for the job.
RUN mkdir -p /workspace && chmod 777 /workspace
WORKDIR /workspace
