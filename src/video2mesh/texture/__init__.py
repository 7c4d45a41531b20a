"""Textured meshes: decimate, unwrap a UV atlas, bake a texture from the photos, export GLB/OBJ.

``decimate`` (quadric, fast-simplification), ``unwrap`` (xatlas), ``raster`` (a small triangle
rasteriser in torch, shared by the UV atlas and the cameras' depth maps), ``bake`` (photos or the
colour network into the atlas), ``export`` (binary glTF, OBJ+MTL+PNG), ``cli`` (the ``texture``
command that chains them).
"""
