import json
import os
from pathlib import Path

import pytest

from spaneval.atomic import write_dir, write_json
from spaneval.run_writer import new_run_dir


def test_write_json_replaces_whole_file_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "a" / "record.json"
    write_json(target, {"x": 1})
    write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_interrupted_directory_write_keeps_the_old_directory(tmp_path: Path):
    target = tmp_path / "ckpt"
    write_dir(target, lambda d: (d / "w.bin").write_text("old"))

    def crash(d: Path) -> None:
        (d / "w.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dir(target, crash)
    assert (target / "w.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_run_dirs_never_clash(tmp_path: Path):
    dirs = {new_run_dir(tmp_path, "squad", "../models/my model", seed=1) for _ in range(50)}
    assert len(dirs) == 50
    assert all(d.parent.name == "models-my-model" for d in dirs)


def test_written_files_and_directories_get_normal_permissions(tmp_path: Path):
    write_json(tmp_path / "r.json", {})
    write_dir(tmp_path / "d", lambda d: (d / "f").write_text("x"))
    assert (tmp_path / "r.json").stat().st_mode & 0o044  # readable by group/others (umask permitting)
    assert (tmp_path / "d").stat().st_mode & 0o055


def test_losing_the_race_to_fill_a_new_directory_keeps_the_winners_copy(tmp_path: Path, monkeypatch):
    target = tmp_path / "cache"
    real_replace = os.replace

    def another_process_wins_first(src, dst):
        target.mkdir()
        (target / "w.bin").write_text("theirs")
        real_replace(src, dst)  # fails: the directory is there and not empty

    monkeypatch.setattr("spaneval.atomic.os.replace", another_process_wins_first)
    write_dir(target, lambda d: (d / "w.bin").write_text("ours"))
    assert (target / "w.bin").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_a_full_disk_says_how_much_space_was_needed_and_keeps_the_old_file(tmp_path: Path, monkeypatch):
    import errno

    from spaneval.atomic import write_bytes
    from spaneval.errors import SpanevalError

    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("spaneval.atomic.os.fsync", disk_full)
    with pytest.raises(SpanevalError, match=r"no space left to write .*safetensors: 2\.5 MB needed"):
        write_bytes(target, b"x" * 2_500_000)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [target.name]
