"""Dataset downloads from a local HTTP server: resume, checksums, safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from listener.training.datasets import download as dl
from listener.training.datasets.base import (
    DatasetError,
)
from listener.training.datasets.speech_commands import (
    download_speech_commands,
    load_speech_commands,
)
from tests.fakes import make_speech_commands


class ArchiveServer:
    """127.0.0.1 server for one file with HTTP Range support and a 'drop the connection' switch."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.cut_after: int | None = None  # send only this many bytes, then close
        self.honour_range = True
        self.ranges: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/archive.tar.gz":
                    self.send_error(404)
                    return
                data = owner.payload
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = 0
                if rng and owner.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_after is not None:
                    self.wfile.write(body[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def speech_commands_archive(tmp_path: Path) -> bytes:
    """A small tar.gz laid out like the official one (no top-level folder)."""
    src = make_speech_commands(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname="./" + str(path.relative_to(src)), recursive=False)
    return buf.getvalue()


@pytest.fixture()
def server(tmp_path: Path):
    srv = ArchiveServer(speech_commands_archive(tmp_path))
    yield srv
    srv.close()


def test_download_resumes_after_truncation(tmp_path: Path, server: ArchiveServer) -> None:
    digest = hashlib.sha256(server.payload).hexdigest()
    dest = tmp_path / "dl"
    server.cut_after = len(server.payload) // 3
    with pytest.raises(DatasetError, match="resume"):
        download_speech_commands(dest, url=server.url, sha256=digest, progress=False)
    part = dest / "speech_commands_v0.02.tar.gz.part"
    assert part.stat().st_size == len(server.payload) // 3
    server.cut_after = None
    out = download_speech_commands(dest, url=server.url, sha256=digest, progress=False)
    assert server.ranges[-1] == f"bytes={len(server.payload) // 3}-"  # resumed, not restarted
    assert not part.exists()
    assert (dest / "speech_commands_v0.02.tar.gz").read_bytes() == server.payload
    assert out == dest / "speech_commands_v0.02"
    clips = load_speech_commands(out, silence_per_split=(2, 1, 1))
    assert sum(c.label != "silence" for c in clips) == 52
    # a second run reuses the archive and the extracted folder
    n = len(server.ranges)
    assert download_speech_commands(dest, url=server.url, sha256=digest, progress=False) == out
    assert len(server.ranges) == n


def test_download_restarts_when_range_is_ignored(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "x.tar.gz"
    dest.with_name("x.tar.gz.part").write_bytes(b"garbage that is not the start")
    server.honour_range = False
    digest = dl.download_file(server.url, dest, progress=False)
    assert dest.read_bytes() == server.payload and digest == hashlib.sha256(server.payload).hexdigest()


def test_download_bad_checksum(tmp_path: Path, server: ArchiveServer) -> None:
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        download_speech_commands(tmp_path / "dl", url=server.url, sha256="0" * 64, progress=False)
    assert not list((tmp_path / "dl").glob("*.tar.gz*"))  # part deleted, nothing extracted
    assert not (tmp_path / "dl" / "speech_commands_v0.02").exists()


def test_extract_refuses_broken_and_escaping_archives(tmp_path: Path, server: ArchiveServer) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(server.payload[: len(server.payload) // 2])
    with pytest.raises(DatasetError, match="broken or truncated"):
        dl.extract_tar(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.extracting").exists()
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(DatasetError, match="outside"):
        dl.extract_tar(evil, tmp_path / "out2")
    assert not (tmp_path / "escape.txt").exists()


def test_download_cli(tmp_path: Path, server: ArchiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    digest = hashlib.sha256(server.payload).hexdigest()
    rc = dl.main(
        [
            "speech_commands",
            "--version",
            "v0.01",
            "--dest",
            str(tmp_path / "d"),
            "--url",
            server.url,
            "--sha256",
            digest,
            "--quiet",
        ]
    )
    assert rc == 0
    assert (tmp_path / "d" / "speech_commands_v0.01" / "seven").is_dir()
    rc = dl.main(
        ["speech_commands", "--dest", str(tmp_path / "e"), "--url", server.url.replace("archive", "missing"), "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and "404" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        dl.main(["--help"])
    assert exc.value.code == 0
    assert "speech_commands" in capsys.readouterr().out


def test_official_checksums_are_recorded() -> None:
    from listener.training.datasets.speech_commands import SHA256, URLS

    assert set(URLS) == set(SHA256) == {"v0.01", "v0.02"}
    assert all(v and len(v) == 64 for v in SHA256.values())
