"""Downloading a file with progress, checksum and no leftovers.

The file is streamed to `<name>.part` beside its destination, its MD5 compared with the
published one, and only then moved into place. Whatever goes wrong (no network, a server error,
a checksum mismatch, Stop pressed), the partial file is removed and a DownloadError says, in
plain words, what happened and what to do instead.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import DataError

CHUNK = 1 << 20  # bytes per read: progress updates about every megabyte
Progress = Callable[[int, int | None], None]  # (bytes done, bytes in total or None)


class DownloadError(DataError):
    """A download failed; nothing half-downloaded is left behind."""


def md5_of(path: str | os.PathLike) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    urls: list[str],
    destination: Path,
    md5: str,
    *,
    what: str,
    fallback: str,
    progress: Progress | None = None,
    expected_size: int | None = None,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Fetch the first URL that answers into `destination`; check its MD5.

    what: the data set's name for messages ("CIFAR-10"); fallback: what to do without a network.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    no_network = None
    try:
        for url in urls:
            try:
                _fetch(url, partial, progress, expected_size, timeout, should_stop)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                reason = getattr(error, "reason", error)
                if isinstance(error, urllib.error.HTTPError):
                    no_network = f"the server answered {error.code} {error.reason}"
                else:
                    no_network = "no network" if not isinstance(reason, str) else reason
                continue
            if md5_of(partial) != md5:
                raise DownloadError(
                    f"could not download {what}: the file arrived damaged (its checksum does not match); "
                    f"try again, or {fallback}"
                )
            os.replace(partial, destination)
            return destination
        raise DownloadError(f"could not download {what}: {no_network or 'no address to download from'}; {fallback}")
    finally:
        partial.unlink(missing_ok=True)


def _fetch(
    url: str,
    partial: Path,
    progress: Progress | None,
    expected_size: int | None,
    timeout: float,
    should_stop: Callable[[], bool] | None,
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "cnn-dashboard"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else expected_size
        done = 0
        if progress:
            progress(0, total)
        while block := response.read(CHUNK):
            if should_stop and should_stop():
                raise DownloadError("the download was cancelled")
            out.write(block)
            done += len(block)
            if progress:
                progress(done, total)
