"""video2mesh: video → frames → COLMAP → transforms.json → neural surface → meshes → report."""

__version__ = "0.1.0"
