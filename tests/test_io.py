"""Atomic writes, folder swaps and the cache folder (gener.io)."""

import stat

import pytest

from gener.io import (
    atomic_file,
    atomic_write_json,
    atomic_write_text,
    default_cache_dir,
    replace_folder,
    temporary_folder,
)


def test_atomic_write_replaces_whole_files_readable_by_all(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    atomic_write_text(path, "first\n")
    atomic_write_text(path, "é second\n")
    assert path.read_text(encoding="utf-8") == "é second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    atomic_write_json(tmp_path / "x.json", {"name": "Zürich"})
    assert (tmp_path / "x.json").read_text(encoding="utf-8") == '{\n "name": "Zürich"\n}'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out.txt", "sub", "x.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(path, binary=True) as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_replace_folder_swaps_in_the_new_folder(tmp_path):
    path = tmp_path / "index"
    for content in ("one", "two"):
        tmp = temporary_folder(path)
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "file").write_text(content)
        replace_folder(tmp, path)
        assert (path / "file").read_text() == content
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_cache_folder_follows_gener_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENER_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("GENER_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "gener")
