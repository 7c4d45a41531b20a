"""The builtin reconstruction backend: Neuralangelo's method, written clean-room in PyTorch.

Modules: ``presets`` (hyperparameters), ``schedule`` (everything as fractions of the final
iteration), ``encoding`` (hash grid), ``fields`` (SDF, colour, background networks),
``renderer`` (NeuS sampling and compositing), ``data`` (rays from transforms.json + images.tar),
``train`` (segments and checkpoints), ``extract`` (meshes), ``cli`` (sub-commands).
"""
