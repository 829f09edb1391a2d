"""The console examples of docs/troubleshooting.md, read for the tests that run them."""
from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def section(heading: str) -> str:
    """The text of the page's ``## heading`` section, up to the next ``## `` heading."""
    text = PAGE.read_text()
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def console_examples(text: str, prefix: str = "$ ") -> list[tuple[str, list[str], int]]:
    """``(command, the stderr lines shown, the status shown)`` of every console example in ``text``.

    Each example is ``$ COMMAND``, the lines it prints, then ``$ echo $?`` and the status;
    every command must start with ``prefix``.
    """
    found = []
    for block in BLOCK.findall(text):
        lines = block.strip("\n").splitlines()
        i = 0
        while i < len(lines):
            assert lines[i].startswith(prefix) and lines[i] != "$ echo $?", lines[i]
            command, i = lines[i][2:], i + 1
            shown = []
            while not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            assert lines[i] == "$ echo $?", f"{command}: no echo $? after it"
            found.append((command, shown, int(lines[i + 1])))
            i += 2
    return found
