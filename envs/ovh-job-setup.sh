# Sourced by every OVHcloud AI Training job once Snakemake unpacked the workflow's sources
# (profiles/ovh: `ovh-project-setup: . envs/ovh-job-setup.sh`; a file rather than the commands
# themselves because Snakemake expands $VARIABLES in profile values on the submitting machine).
# The deployed src/ goes first on PYTHONPATH (it wins over a copy baked into the image), and
# video2mesh's dependencies are installed when the image lacks the distribution.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python -c 'import importlib.metadata as m; m.distribution("video2mesh")' 2>/dev/null ||
    python -m pip install -q --disable-pip-version-check .
