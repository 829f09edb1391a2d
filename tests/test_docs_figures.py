"""The docs cannot rot: every figure is drawn by docs/figures/make_figures.py, every
image a page shows is one of those figures, and every file, module and function a
page names in backticks exists.

Each figure function runs into a temporary folder (the committed PNGs are not
touched). The vj figures need OpenCV's cascades and scikit-image's astronaut photo
and are skipped, saying so, where those are missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"^(?:minicnn|vj|experiments|benchmarks|tests|docs)/[\w./-]*$")
DOTTED_NAME = re.compile(r"^(?:minicnn|vj)(?:\.\w+)+$")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "figures" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


@pytest.mark.parametrize("name", sorted(SCRIPT.FIGURES))
def test_figure_is_drawn(name, tmp_path):
    for package in SCRIPT.REQUIRES.get(name, ()):
        pytest.importorskip(package, reason=f"figure {name} needs {package}")
    path = SCRIPT.FIGURES[name](tmp_path)
    assert path == tmp_path / f"{name}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 5_000 < path.stat().st_size < 200_000, f"{name}.png is {path.stat().st_size} bytes"


def test_every_committed_figure_has_a_function_and_every_shown_image_is_committed():
    """Teaching figures come from make_figures.py; measured plots in docs/results/ from a command on the page."""
    committed = {p.stem for p in (DOCS / "figures").glob("*.png")}
    assert committed == set(SCRIPT.FIGURES), "docs/figures/*.png and make_figures.FIGURES differ"
    for page in PAGES:
        text = page.read_text()
        commands = " ".join(re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S))
        for target in IMAGE.findall(text):
            image = (page.parent / target).resolve()
            if image.parent == (DOCS / "results").resolve():
                assert image.exists(), f"{page.name}: {target} is missing"
                assert f"docs/results/{image.name}" in commands, f"{page.name}: no command on the page writes {target}"
                continue
            assert image.parent == (DOCS / "figures").resolve(), f"{page.name}: image {target} is not a figure"
            assert image.stem in SCRIPT.FIGURES, f"{page.name}: {target} is drawn by no figure function"


def _code_spans():
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # spans outside code blocks
        for span in CODE_SPAN.findall(text):
            yield page, span.strip()


def test_named_files_exist():
    for page, span in _code_spans():
        path = span.split(":")[0]
        if REPO_PATH.match(path):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"


def test_named_modules_and_functions_exist():
    for page, span in _code_spans():
        name = span.split("(")[0]
        if not DOTTED_NAME.match(name):
            continue
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module prefix
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        for attribute in parts[cut:]:
            assert hasattr(obj, attribute), f"{page.relative_to(ROOT)} names {name}: no {attribute}"
            obj = getattr(obj, attribute)
