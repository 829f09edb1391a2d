"""provenance.json: which code wrote a run folder (facestack/train/provenance.py)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from facestack.train import provenance
from facestack.train.provenance import append_provenance, git_state, source_digest


def make_package(root: Path) -> Path:
    package = root / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "kernel.py").write_text("def f():\n    return 2.0\n")
    (package / "notes.txt").write_text("not source")
    return package


def test_the_digest_follows_the_source_not_where_it_is_installed(tmp_path):
    first = make_package(tmp_path / "a")
    second = tmp_path / "b" / "pkg"
    shutil.copytree(first, second)
    assert source_digest([first]) == source_digest([second])
    (second / "notes.txt").write_text("other text")  # not a .py file: the numbers cannot depend on it
    assert source_digest([first]) == source_digest([second])
    (second / "sub" / "kernel.py").write_text("def f():\n    return 2.0000001\n")
    assert source_digest([first]) != source_digest([second])
    (second / "sub" / "kernel.py").unlink()  # the first's bytes, but as another module
    shutil.copy(first / "sub" / "kernel.py", second / "kernel.py")
    assert source_digest([first]) != source_digest([second])


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_names_the_commit_and_whether_the_packages_differ_from_it(tmp_path):
    package = make_package(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "pkg")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    commit = git(tmp_path, "rev-parse", "HEAD").strip()
    assert git_state(package.parent, [package]) == (commit, False)
    (package / "sub" / "kernel.py").write_text("def f():\n    return 3.0\n")
    assert git_state(package.parent, [package]) == (commit, True)
    installed = tmp_path / "venv" / "site-packages" / "pkg"  # untracked copy inside the checkout
    shutil.copytree(package, installed)
    assert git_state(installed.parent, [installed]) == (None, None)


def test_git_state_outside_a_checkout_is_unknown(tmp_path):
    package = make_package(tmp_path)
    assert git_state(package.parent, [package]) == (None, None)


def test_each_start_appends_a_record_and_a_new_run_starts_the_list(tmp_path):
    first = append_provenance(tmp_path, None)
    assert set(first) >= {"source_sha256", "git_commit", "git_dirty", "facestack_version", "numpy", "numba"}
    assert len(first["source_sha256"]) == 64
    append_provenance(tmp_path, 4)
    starts = json.loads((tmp_path / provenance.PROVENANCE_FILE).read_text())["starts"]
    assert [s["resumed_from_epoch"] for s in starts] == [None, 4]
    append_provenance(tmp_path, None)  # a new run in the folder (after --overwrite) forgets the old starts
    starts = json.loads((tmp_path / provenance.PROVENANCE_FILE).read_text())["starts"]
    assert [s["resumed_from_epoch"] for s in starts] == [None]


def test_an_unreadable_record_file_is_replaced_not_fatal(tmp_path):
    (tmp_path / provenance.PROVENANCE_FILE).write_text("{not json")
    append_provenance(tmp_path, 7)
    starts = json.loads((tmp_path / provenance.PROVENANCE_FILE).read_text())["starts"]
    assert [s["resumed_from_epoch"] for s in starts] == [7]
