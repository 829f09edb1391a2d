"""Download IMDB-WIKI's ``wiki_crop.tar`` (or any archive): resume, checksum, extraction.

Nothing is ever half-written under a final name:

* bytes go to ``<name>.part``; a later call resumes it with an HTTP ``Range``
  request (or starts over when the server ignores ranges);
* only a complete file whose checksum matches is renamed to ``<name>``;
* an archive is extracted into a hidden temporary folder beside the target and
  each top-level entry is renamed into place once extraction has finished.

The publisher lists no checksum for wiki_crop.tar, so the SHA-256 is checked
when the caller gives one; either way it is computed and written beside the
file (``<name>.sha256``), and a later call verifies the file against it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from urllib.error import HTTPError

from minicnn.progress import ProgressArg, make_progress
from .validate import atomic_write_text

WIKI_CROP_URL = "https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/static/wiki_crop.tar"
IMDB_CROP_URL = "https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/static/imdb_crop.tar"
CHUNK_BYTES = 1 << 20


class ChecksumError(ValueError):
    """The downloaded file's SHA-256 is not the expected one."""


def sha256_of(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_from_headers(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")  # "bytes 100-199/200"
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + offset if response.status == 206 else int(length)


def download_file(
    url: str,
    path: str | os.PathLike,
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: ProgressArg = False,
) -> Path:
    """Download ``url`` to ``path``, resuming ``path.part`` and verifying the SHA-256.

    Args:
        url: http(s) address.
        path: final file name; nothing appears there until the file is complete and verified.
        sha256: expected hex digest, or None to only record the computed one.
        timeout: seconds for connecting and for each read.
        progress: True for a bar on stderr, or a ``(bytes_done, bytes_total)`` callback.
    Returns:
        ``path``. An existing ``path`` is verified against ``sha256`` (or its ``.sha256``
        record) and returned without downloading.
    Raises:
        ChecksumError: the digest differs (the partial file is removed: it cannot be resumed).
        ConnectionError: the connection ended before the whole file arrived (``.part`` kept).
    """
    path = Path(path)
    record = path.with_name(path.name + ".sha256")
    if path.is_file():
        expected = sha256 or (record.read_text().split()[0] if record.is_file() else None)
        if expected is None or sha256_of(path) == expected.lower():
            return path
        raise ChecksumError(f"{path} exists but its SHA-256 is not {expected}; delete it to download again")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except HTTPError as error:
        if error.code != 416 or not offset:  # 416: the range starts at the end: .part is whole
            raise
        response = None
    if response is not None:
        with response:
            if offset and response.status != 206:
                offset = 0  # the server ignored the range: start over
            total = _total_from_headers(response, offset)
            bar = make_progress(progress, total, desc=path.name, unit="B")
            bar.update(offset)
            with open(part, "ab" if offset else "wb") as f, bar:
                while True:
                    try:
                        block = response.read(CHUNK_BYTES)
                    except Exception as error:  # connection reset, IncompleteRead, timeout
                        raise ConnectionError(f"download of {url} interrupted at {f.tell()} bytes: {error}") from error
                    if not block:
                        break
                    f.write(block)
                    bar.update(len(block))
                received = f.tell()
        if total is not None and received != total:
            raise ConnectionError(f"download of {url} ended at {received} of {total} bytes; call again to resume")
    digest = sha256_of(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise ChecksumError(f"SHA-256 of {url} is {digest}, expected {sha256.lower()}")
    atomic_write_text(f"{digest}  {path.name}\n", record)
    os.replace(part, path)
    return path


def _safe_members(archive: tarfile.TarFile, target: Path) -> list[tarfile.TarInfo]:
    """Members of a tar whose paths stay inside ``target`` (no absolute paths, no ``..``, no links out)."""
    root = target.resolve()
    members = []
    for member in archive.getmembers():
        destination = (target / member.name).resolve()
        if root != destination and root not in destination.parents:
            raise ValueError(f"archive member {member.name!r} would be written outside {target}")
        if member.issym() or member.islnk() or member.isdev():
            raise ValueError(f"archive member {member.name!r} is a link or device; refusing to extract it")
        members.append(member)
    return members


def extract_archive(archive_path: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Extract a .tar (any compression) or .zip into ``target``, all or nothing.

    Extraction goes to a temporary folder inside ``target``; then each top-level
    entry is renamed into place. Entries that already exist are left as they are.

    Returns:
        The top-level paths in ``target`` that the archive holds.
    """
    archive_path, target = Path(archive_path), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".extracting-"))
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as z:
                for name in z.namelist():
                    destination = (staging / name).resolve()
                    if staging.resolve() not in destination.parents:
                        raise ValueError(f"archive member {name!r} would be written outside {target}")
                z.extractall(staging)
        else:
            with tarfile.open(archive_path) as t:
                members = _safe_members(t, staging)
                if hasattr(tarfile, "data_filter"):
                    t.extractall(staging, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    t.extractall(staging, members=members)
        placed = []
        for entry in sorted(staging.iterdir()):
            final = target / entry.name
            if not final.exists():
                os.replace(entry, final)
            placed.append(final)
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(
    url: str = WIKI_CROP_URL,
    dest_dir: str | os.PathLike = ".",
    *,
    sha256: str | None = None,
    extract: bool = True,
    timeout: float = 60.0,
    progress: ProgressArg = False,
) -> Path:
    """Download an archive (by default IMDB-WIKI's wiki_crop.tar) into ``dest_dir`` and extract it.

    Returns:
        The archive's path when ``extract`` is False, else the extracted folder
        (the archive's single top-level folder, e.g. ``dest_dir/wiki_crop``, or ``dest_dir``).
    """
    dest_dir = Path(dest_dir)
    name = Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1].split("?")[0])).name or "download"
    archive = download_file(url, dest_dir / name, sha256=sha256, timeout=timeout, progress=progress)
    if not extract:
        return archive
    placed = extract_archive(archive, dest_dir)
    return placed[0] if len(placed) == 1 and placed[0].is_dir() else dest_dir
