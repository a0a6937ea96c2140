"""Where weights live and how they are fetched: local path first, cache second, download on request.

The cache is ``$CODECSEP_MM_HOME`` (default: the user's cache folder, e.g. ``~/.cache/codecsep-mm``).
Nothing here runs at import time, and nothing downloads unless a caller asks for it.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from codecsep_mm.audio import atomic_path
from codecsep_mm.errors import DownloadError

DEFAULT_TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20


def home() -> Path:
    """The cache folder: ``$CODECSEP_MM_HOME`` or the platform's user cache dir."""
    env = os.environ.get("CODECSEP_MM_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("codecsep-mm"))


def weights_dir() -> Path:
    return home() / "weights"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    destination: str | os.PathLike,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``destination`` atomically, with a socket timeout and a checksum.

    When ``sha256`` is given a mismatch is an error and nothing is kept. When it is not known, the
    digest of what arrived is written beside the file (``NAME.sha256``) so later loads can verify it.

    Raises:
        DownloadError: no network, timeout, HTTP error, or checksum mismatch.
    """
    destination = Path(destination)
    try:
        with atomic_path(destination) as tmp:
            digest = _fetch(url, tmp, timeout, progress)
            if sha256 is not None and digest != sha256.lower():
                raise DownloadError(
                    f"checksum mismatch for {url}: got sha256 {digest}, expected {sha256}; "
                    "the file was not kept, try again or report it"
                )
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        if isinstance(error, DownloadError):
            raise
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"could not download {url} ({reason}); check the network, or fetch the file on a "
            f"machine with access and copy it to {destination}"
        ) from error
    destination.with_name(destination.name + ".sha256").write_text(digest + "\n")
    return destination


def _fetch(url: str, target: Path, timeout: float, progress: bool) -> str:
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "codecsep-mm"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = _progress_bar(total, target.name) if progress else None
        for block in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(block)
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
        if bar is not None:
            bar.close()
    return digest.hexdigest()


def _progress_bar(total: int | None, name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)


def verify_recorded_checksum(path: Path) -> None:
    """If a ``.sha256`` file was recorded at download time, check the weights still match it."""
    record = path.with_name(path.name + ".sha256")
    if not record.exists():
        return
    expected = record.read_text().strip()
    actual = sha256_of(path)
    if actual != expected:
        raise DownloadError(
            f"{path}: sha256 {actual} differs from the recorded {expected}; the file is corrupt, "
            "delete it and download again"
        )
