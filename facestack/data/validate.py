"""Checks shared by facestack's commands and readers: value ranges, JSON files, safe writes.

Every number a command takes, from its command line or from a file it reads
(``settings.json``, a cache's ``meta.json``), goes through :func:`check_number` before
anything is allocated from it, so a ``0``, a ``NaN`` or an absurd value stops the
command with one line naming the option (or the file and key) and the range expected.

Errors: :class:`UsageError` (a ``ValueError``) for a wrong command-line option, which the
commands turn into exit status 2; a plain ``ValueError`` naming the file for a bad value
read from a file (exit status 1).

Writes: :func:`atomic_write_text` and :func:`atomic_write_bytes` write a temporary file in
the target's folder and rename it over the target (``os.replace``), so an interrupted
write never leaves a half-written file under the final name;
:func:`check_writable_folder` creates an output folder and proves it writable before
long work starts.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

#: The largest JSON settings file read (bytes): such files are a few kilobytes.
MAX_JSON_BYTES = 16 << 20


class UsageError(ValueError):
    """A command-line option or argument is wrong; the commands exit with status 2."""


def _fail(name: str, expected: str, value: Any, source: str | None) -> ValueError:
    if source is None:
        return UsageError(f"{name} must be {expected}, got {value!r}")
    return ValueError(f"{source}: {name} must be {expected}, got {value!r}")


def _number(value: float) -> str:
    """A bound as people write it: ``65536``, ``1000000``, ``0.999``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_number(value: Any, name: str, *, integer: bool = False, minimum: float | None = None,
                 maximum: float | None = None, above: float | None = None, below: float | None = None,
                 optional: bool = False, source: str | None = None) -> Any:
    """Return ``value`` when it is a finite number in range, else raise naming ``name``.

    Args:
        value: the value to check (bool is refused: ``true`` is no epoch count).
        name: how the user knows it: ``"--epochs"``, or a key such as ``"width"``.
        integer: it must be a whole number (an ``int``; a float like ``2.0`` is refused).
        minimum, maximum: inclusive bounds; above, below: exclusive bounds.
        optional: None is allowed (and returned).
        source: the file the value was read from (then a ValueError naming it is raised,
            else a :class:`UsageError`).
    Raises:
        UsageError or ValueError: the value is missing, of the wrong type, NaN/infinite or out of range.
    """
    if value is None and optional:
        return None
    parts = ["an integer" if integer else "a finite number"]
    for sign, bound in ((">=", minimum), (">", above), ("<=", maximum), ("<", below)):
        if bound is not None:
            parts.append(f"{sign} {_number(bound)}")
    expected = " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if len(parts) > 1 else "")
    if optional:
        expected += " (or left out)"
    numeric = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not numeric:
        raise _fail(name, expected, value, source)
    if not integer and not math.isfinite(value):
        raise _fail(name, expected, value, source)
    if ((minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            or (above is not None and value <= above) or (below is not None and value >= below)):
        raise _fail(name, expected, value, source)
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any], source: str | None = None) -> Any:
    """Return ``value`` when it is one of ``choices``, else raise naming ``name`` and the choices."""
    allowed = list(choices)
    if value not in allowed:
        raise _fail(name, "one of " + ", ".join(repr(c) for c in allowed), value, source)
    return value


def check_bool(value: Any, name: str, optional: bool = True, source: str | None = None) -> Any:
    """Return ``value`` when it is True or False (or None when ``optional``), else raise."""
    if (value is None and optional) or isinstance(value, bool):
        return value
    raise _fail(name, "true or false", value, source)


def check_settings(values: dict[str, Any], numeric: dict[str, tuple[bool, Any, Any, Any, bool]],
                   booleans: Iterable[str] = (), choices: dict[str, Iterable[Any]] | None = None,
                   paths: Iterable[str] = (), given: Iterable[str] = (), source: str | None = None) -> None:
    """Check the settings ``values`` by key: numbers, booleans, choices and paths.

    Args:
        numeric: key -> ``(integer, minimum, maximum, above, optional)`` for :func:`check_number`.
        booleans: keys that must be true, false or None.
        choices: key -> the allowed values (None values are allowed: unset).
        paths: keys that must be strings or None.
        given: keys that came from the command line: their errors name ``--key`` and are
            :class:`UsageError`; the other keys' errors name ``source`` (a settings file).
        source: the file the other values were read from (None: all came from the command line).
    """
    given = set(given)

    def where(key: str) -> tuple[str, str | None]:
        return ("--" + key.replace("_", "-"), None) if key in given or source is None else (key, source)

    for key, (integer, minimum, maximum, above, optional) in numeric.items():
        if key in values:
            check_number(values[key], where(key)[0], integer=integer, minimum=minimum, maximum=maximum,
                         above=above, optional=optional, source=where(key)[1])
    for key in booleans:
        if key in values:
            check_bool(values[key], *where(key))
    for key, allowed in (choices or {}).items():
        if values.get(key) is not None:
            name, origin = where(key)
            check_choice(values[key], name, allowed, origin)
    for key in paths:
        if values.get(key) is not None and not isinstance(values[key], str):
            raise _fail(where(key)[0], "a path", values[key], where(key)[1])


def read_json_object(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """Read a JSON file that must hold one object (a settings or meta file).

    Raises:
        FileNotFoundError: no file. ValueError: larger than ``max_bytes``, not UTF-8, not
            JSON, or not an object; each message names the file.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path}: {size:,} bytes is too large for a settings file (at most {max_bytes:,})")
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text: {error.reason} at byte {error.start}") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid JSON: nested too deeply") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)`` (a new file beside ``path``, same suffix), then rename it to ``path``.

    The temporary file keeps ``path``'s suffix, so writers that choose a format by the
    suffix (Pillow, PyAV) write the right one. On any error, or Ctrl-C, it is removed.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, flushed, then ``os.replace``)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write(path, write)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(text.encode("utf-8"), path)


def check_writable_folder(folder: str | os.PathLike, name: str = "output folder") -> Path:
    """Create ``folder`` (and parents) and prove it writable by creating and removing a file in it.

    Raises:
        UsageError: it is a file, cannot be created, or cannot be written to (the message names it).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{name} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise UsageError(f"{name} {folder} is not writable: {error.strerror or error}") from None
    return folder
