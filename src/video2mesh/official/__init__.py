"""Running the official Neuralangelo code, by concern: `source` (archive, scratch layout),
`process` (interpreter, environment, GPU memory, output streaming), `train` (segments),
`extract` (meshes).

Each job works in a scratch directory (default: beside its output, so the 4 GB checkpoint is
moved, not copied):

    <work>/code/   the source archive unpacked (cwd of train.py / extract_mesh.py)
    <work>/data/   images/ and transforms.json (data.root)
    <work>/logs/   the official log directory: config.yaml, checkpoints, latest_checkpoint.txt
    <work>/chain.yaml   the chain config with this job's `_parent_` and data.root

A train segment restores ``logs/`` from its rule inputs (config.yaml, the previous checkpoint
linked under an official-style name, ``latest_checkpoint.txt`` naming it), runs ``train.py
--resume``, deletes superseded in-segment checkpoints as the trainer announces new ones, and moves
the checkpoint of its last iteration to the output. A failed segment keeps ``logs/`` with its
last complete save; the next attempt on the same machine resumes from it when the inputs match.
"""
