"""download(): against a local HTTP server on 127.0.0.1 (no test touches the internet)."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.facestack.data.data_fixtures import write_wiki_mat
from facestack.data import ChecksumError, download, download_file, extract_archive, read_imdb_wiki


class ArchiveHandler(BaseHTTPRequestHandler):
    """Serves ``server.payload``; honours Range unless ``server.ignore_range``; can cut once."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        data = server.payload
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        start = 0
        if requested and not server.ignore_range:
            start = int(requested.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_at is not None:  # send part of the body, then drop the connection
            cut, server.cut_at = server.cut_at, None
            self.wfile.write(body[: cut - start])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def archive_bytes(tmp_path_factory) -> bytes:
    """A small wiki_crop.tar: wiki_crop/wiki.mat and its JPEG tree."""
    source = tmp_path_factory.mktemp("source")
    write_wiki_mat(source / "wiki_crop")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source / "wiki_crop", arcname="wiki_crop")
    return buffer.getvalue()


@pytest.fixture
def server(archive_bytes):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    httpd.payload, httpd.ranges, httpd.ignore_range, httpd.cut_at = archive_bytes, [], False, None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/static/wiki_crop.tar"


def test_download_verifies_and_extracts_a_readable_wiki_crop(tmp_path, server, archive_bytes):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    seen = []
    folder = download(url(server), tmp_path / "data", sha256=digest, progress=lambda d, t: seen.append((d, t)))
    assert folder == tmp_path / "data" / "wiki_crop"
    assert (tmp_path / "data" / "wiki_crop.tar").read_bytes() == archive_bytes
    assert (tmp_path / "data" / "wiki_crop.tar.sha256").read_text().split()[0] == digest
    assert seen[-1] == (len(archive_bytes), len(archive_bytes))
    assert len(read_imdb_wiki(folder)) > 0
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["wiki_crop", "wiki_crop.tar", "wiki_crop.tar.sha256"]
    assert download(url(server), tmp_path / "data", sha256=digest) == folder  # already there: no request
    assert len(server.ranges) == 1


def test_interrupted_download_resumes_and_never_shows_a_partial_file(tmp_path, server, archive_bytes):
    server.cut_at = len(archive_bytes) // 3
    target = tmp_path / "wiki_crop.tar"
    with pytest.raises(ConnectionError, match="resume"):
        download_file(url(server), target)
    assert not target.exists()
    part = tmp_path / "wiki_crop.tar.part"
    assert part.stat().st_size == len(archive_bytes) // 3
    download_file(url(server), target, sha256=hashlib.sha256(archive_bytes).hexdigest())
    assert server.ranges == [None, f"bytes={len(archive_bytes) // 3}-"]
    assert target.read_bytes() == archive_bytes and not part.exists()


def test_a_server_that_ignores_ranges_restarts_cleanly(tmp_path, server, archive_bytes):
    (tmp_path / "wiki_crop.tar.part").write_bytes(archive_bytes[:100])
    server.ignore_range = True
    download_file(url(server), tmp_path / "wiki_crop.tar")
    assert (tmp_path / "wiki_crop.tar").read_bytes() == archive_bytes


def test_a_complete_part_file_is_finished_after_416(tmp_path, server, archive_bytes):
    (tmp_path / "wiki_crop.tar.part").write_bytes(archive_bytes)
    download_file(url(server), tmp_path / "wiki_crop.tar")
    assert (tmp_path / "wiki_crop.tar").read_bytes() == archive_bytes


def test_a_wrong_checksum_leaves_no_file(tmp_path, server):
    with pytest.raises(ChecksumError, match="expected"):
        download(url(server), tmp_path, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_archives_cannot_write_outside_the_target(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    target = tmp_path / "target"
    with pytest.raises(ValueError, match="outside"):
        extract_archive(evil, target)
    assert not (tmp_path / "outside.txt").exists() and list(target.iterdir()) == []
