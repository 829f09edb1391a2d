"""The package layers, read from the source: facestack may import minicnn and vj; minicnn and vj
import neither each other nor facestack; nothing below a command line reads sys.argv.

Every ``import`` and ``from ... import`` statement of every module is read with ``ast``
(including imports inside functions, which run later but are dependencies all the same),
relative imports resolved to the package they name.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package -> the project packages it may import (besides itself)
ALLOWED = {"minicnn": set(), "vj": set(), "facestack": {"minicnn", "vj"}}
PROJECT = set(ALLOWED) | {"experiments", "benchmarks", "tests"}


def imported_packages(path: Path, package: str) -> set[str]:
    """Top-level project packages that the module at ``path`` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the module's own package
                found.add(package)
            elif node.module:
                found.add(node.module.split(".")[0])
    return found & PROJECT


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = {}
    for path in modules_of(package):
        extra = imported_packages(path, package) - ALLOWED[package] - {package}
        if extra:
            wrong[str(path.relative_to(ROOT))] = sorted(extra)
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package]) or 'itself'}: {wrong}"


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The rule can fail: a vj module importing minicnn, relatively or not, is caught."""
    module = tmp_path / "bad.py"
    module.write_text("import numpy\nfrom minicnn.tensor import Tensor\n\ndef f():\n    import facestack.cli\n")
    assert imported_packages(module, "vj") == {"minicnn", "facestack"}


@pytest.mark.parametrize("package", ["minicnn", "vj"])
def test_libraries_hold_no_command_line_reading(package):
    """Libraries read no sys.argv (command-line modules, named cli*.py or __main__.py, may)."""
    readers = []
    for path in modules_of(package):
        if path.name.startswith("cli") or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", "") == "sys":
                readers.append(str(path.relative_to(ROOT)))
    assert not readers, f"sys.argv read below a command line: {readers}"


def test_only_the_three_packages_are_installed():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["minicnn*", "vj*", "facestack*"]
    assert not (ROOT / "experiments" / "__init__.py").exists(), "experiments/ holds scripts, not a package"


def test_no_module_or_script_patches_sys_modules():
    offenders = []
    for folder in ("minicnn", "vj", "facestack", "experiments", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Attribute) and node.value.attr == "modules"):
                    offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"sys.modules written in {offenders}"


def test_vj_holds_no_data_set():
    """vj knows no data set by name in its code (a framing or a chip box is a parameter)."""
    names = ("utkface", "webfaces", "cbcl", "imdb")
    found = []
    for path in modules_of("vj"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Name, ast.Attribute, ast.FunctionDef, ast.ClassDef, ast.arg)):
                identifier = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None) \
                    or getattr(node, "arg", "")
                if any(name in identifier.lower() for name in names):
                    found.append(f"{path.relative_to(ROOT)}: {identifier}")
    assert not found, f"data-set names in vj's code: {found}"
