import os

import pytest

from video2mesh.atomic import atomic_path, write_json


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "out" / "mesh.ply"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_success_renames_with_ordinary_permissions(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": 1})
    assert target.read_text().strip().startswith("{")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
