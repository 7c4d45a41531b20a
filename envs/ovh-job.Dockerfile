# Job image for `snakemake --profile ovh` with `ovh-bootstrap: false`: the builtin backend's GPU
# rules (sfm, train, extract) on OVHcloud AI Training without any per-job installation.
#
# It carries what the plugin's bootstrap would otherwise install in every job: Python >= 3.11
# as `python`, the submitter's exact snakemake and snakemake-storage-plugin-s3 versions (their
# CLI flags must match the submitting Snakemake), and video2mesh's dependencies. The workflow's
# code still comes from each job's deployed sources (src/ goes first on PYTHONPATH), so the image
# needs a rebuild only when a dependency or the Snakemake version changes.
#
# A recipe; video2mesh never builds it. From the repository root:
#   SMK=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("snakemake"))')
#   S3=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("snakemake-storage-plugin-s3"))')
#   docker build -f envs/ovh-job.Dockerfile --build-arg SNAKEMAKE_VERSION=$SMK \
#       --build-arg S3_PLUGIN_VERSION=$S3 -t REGISTRY/video2mesh-job:$SMK .
#   docker push REGISTRY/video2mesh-job:$SMK      # e.g. registry.gra.ai.cloud.ovh.net/<project>/...
#   snakemake --profile ovh --ovh-image REGISTRY/video2mesh-job:$SMK --ovh-bootstrap false
# (or put ovh-image / ovh-bootstrap in profiles/ovh/config.yaml). Pin tags: AI Training nodes
# may not re-pull a moved tag such as :latest. Images must be linux/amd64.

# PyTorch's runtime images ship conda Python 3.11 with CUDA-enabled torch.
ARG BASE_IMAGE=docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
FROM ${BASE_IMAGE}

ARG SNAKEMAKE_VERSION=9.27.1
ARG S3_PLUGIN_VERSION=0.3.6

# boto3 >= 1.36 default checksums break non-AWS S3 (OVHcloud); the s3 plugin sets the same.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AWS_REQUEST_CHECKSUM_CALCULATION=when_required \
    AWS_RESPONSE_CHECKSUM_VALIDATION=when_required

# Fail the build early if the base image's Python is too old or `python` is missing:
# Snakemake's remote jobs call `python -m snakemake`.
RUN python -c 'import sys; assert sys.version_info >= (3, 11), sys.version'

RUN python -m pip install \
        "snakemake==${SNAKEMAKE_VERSION}" \
        "snakemake-storage-plugin-s3==${S3_PLUGIN_VERSION}"

# The project and its dependencies at the versions of constraints.txt, except torch: the base
# image's CUDA build stays (the constraint is left out for it). The copy in site-packages is a
# fallback only: jobs import the deployed src/ first.
COPY pyproject.toml README.md constraints.txt /opt/video2mesh/
COPY src /opt/video2mesh/src
RUN grep -v '^torch==' /opt/video2mesh/constraints.txt > /tmp/constraints.txt \
    && python -m pip install -c /tmp/constraints.txt /opt/video2mesh \
    && python -c "import torch, pycolmap, video2mesh; print('torch', torch.__version__)"

# OVHcloud AI Training runs containers as UID 42420 with HOME=/workspace: make it writable.
RUN mkdir -p /workspace && chown -R 42420:42420 /workspace
ENV HOME=/workspace
WORKDIR /workspace
