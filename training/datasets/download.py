"""Resumable dataset download and safe extraction, and the download CLI.

    python -m listener.training.datasets.download speech_commands --version v0.02 --dest data/

A download goes to `<archive>.part`; a rerun continues it with an HTTP Range
request (a server that ignores Range restarts it). The finished file is checked
against its sha256 before it gets its final name; a mismatch deletes the part
file so the next run starts clean. Extraction checks the whole gzip/tar stream,
refuses members that would land outside the target, and goes through a
temporary folder, so a broken archive never leaves a half-extracted dataset.

UrbanSound8K and ESC-50 are not downloaded here: fetch them from their official
pages (see docs/datasets.md).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from listener.errors import interrupted
from listener.training.datasets.base import DatasetError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: Path | str,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> str:
    """Download `url` to `dest`, resuming `dest.part`; return the file's sha256.

    An existing `dest` with the right checksum is kept as is. Raises
    DatasetError on network errors (the part file stays for a later resume) and
    on a checksum mismatch (the part file is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        digest = sha256_file(dest)
        if sha256 is None or digest == sha256.lower():
            return digest
        dest.unlink()  # wrong file under the final name: fetch again
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "listener-dataset-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise DatasetError(f"download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise DatasetError(f"download {url}: {getattr(exc, 'reason', exc)}") from exc

    if response is not None:
        with response:
            if have and response.status != 206:
                have = 0  # server ignored Range: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name)
            try:
                with part.open("ab" if have else "wb") as out:
                    while True:
                        try:
                            block = response.read(CHUNK)
                        except (OSError, http.client.HTTPException) as exc:
                            raise DatasetError(
                                f"download {url}: connection lost after {out.tell()} bytes ({exc}); run again to resume"
                            ) from exc
                        if not block:
                            break
                        out.write(block)
                        if bar is not None:
                            bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
            if total is not None and part.stat().st_size < total:
                raise DatasetError(f"download {url}: got {part.stat().st_size} of {total} bytes; run again to resume")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise DatasetError(
            f"download {url}: sha256 mismatch (expected {sha256.lower()}, got {digest}); "
            "the partial file was deleted, run again"
        )
    os.replace(part, dest)
    return digest


def extract_tar(archive: Path | str, target: Path | str) -> Path:
    """Extract a (gzip) tar into `target`, all or nothing; skip if `target` already has files."""
    archive, target = Path(archive), Path(target)
    if target.is_dir() and any(target.iterdir()):
        return target
    tmp = target.with_name(target.name + ".extracting")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            root = tmp.resolve()
            for member in tar:
                dest = (tmp / member.name).resolve()
                if dest != root and root not in dest.parents:
                    raise DatasetError(f"{archive}: member {member.name!r} would extract outside {target}")
                if member.issym() or member.islnk() or member.isdev():
                    raise DatasetError(f"{archive}: member {member.name!r} is a link or device; refused")
                tar.extract(member, tmp, set_attrs=False, **_filter_kw())
    except DatasetError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(f"{archive}: broken or truncated archive ({exc})") from exc
    if target.exists():
        target.rmdir()  # empty (checked above)
    os.replace(tmp, target)
    return target


def _filter_kw() -> dict[str, object]:
    """Use tarfile's 'data' filter where this Python has it (3.11.4+), as a second guard."""
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m listener.training.datasets.download",
        description="Download a dataset archive (resumable, checksum-verified) and extract it.",
    )
    sub = parser.add_subparsers(dest="dataset", required=True)
    sc = sub.add_parser(
        "speech_commands",
        help="Google Speech Commands (v0.01: 1.4 GB, v0.02: 2.3 GB)",
        description="Download the official Speech Commands archive from download.tensorflow.org.",
    )
    sc.add_argument("--version", choices=("v0.01", "v0.02"), default="v0.02")
    sc.add_argument("--dest", type=Path, required=True, help="folder for the archive and the dataset")
    sc.add_argument("--url", help="mirror URL instead of the official one")
    sc.add_argument("--sha256", help="expected sha256 (default: the known digest of the official archive)")
    sc.add_argument("--no-extract", action="store_true", help="only download the archive")
    sc.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from listener.training.datasets.speech_commands import download_speech_commands

    try:
        out = download_speech_commands(
            args.dest,
            version=args.version,
            url=args.url,
            sha256=args.sha256,
            extract=not args.no_extract,
            progress=not args.quiet,
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return interrupted()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
