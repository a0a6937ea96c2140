"""Debian packages as audio sources: which ones, how to get them, their files and their licences.

Two interchangeable sources of package files:

* :class:`AptPackages` installs packages with ``apt-get`` (root only) and lists their files with
  ``dpkg -L``; versions come from ``dpkg-query``.
* :class:`TreePackages` reads an unpacked tree ``ROOT/<package>/...`` (what
  ``dpkg-deb -x PKG.deb ROOT/<package>`` gives), with the version in ``ROOT/<package>/VERSION``.
  Tests use it with synthetic files; users without root can use it with ``apt-get download``.

Either way a file is addressed by its installed path (``/usr/share/...``). Members of zip/pk3/wz
archives (0 A.D., UFO:AI, OpenArena, Warzone 2100) are addressed as ``<archive path>/<member>``.

The packages ``hedgewars-data``, ``supertuxkart-data`` and ``nexuiz-music`` are reserved for an
external benchmark: asking for them is an error, whatever the source.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from codecsep_mm.errors import CodecSepError

RESERVED_PACKAGES = frozenset({"hedgewars-data", "supertuxkart-data", "nexuiz-music"})
AUDIO_SUFFIXES = frozenset({".wav", ".ogg", ".oga", ".flac", ".opus", ".mp3"})
ARCHIVE_SUFFIXES = frozenset({".zip", ".pk3", ".wz"})

CORE_PACKAGES = (
    "tuxpaint-stamps-default",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-core-sounds-ru-wav",
    "ktuberling-data",
    "klettres-data",
    "wesnoth-1.16-data",
    "wesnoth-1.16-music",
    "sonic-pi-samples",
    "hydrogen-drumkits",
    "sound-theme-freedesktop",
    "oxygen-sounds",
    "ufoai-sound",
    "ufoai-music",
    "planetblupi-music-ogg",
)
EXTRA_PACKAGES = (
    "0ad-data",
    "warzone2100-music",
    "singularity-music",
    "hyperrogue-music",
    "supertux-data",
    "colobot-common-sounds",
    "minetest-data",
    "wordwarvi-sound",
    "lmms-common",
    "widelands-data",
    "megaglest-data",
    "lincity-ng-data",
    "lomiri-sounds",
    "yaru-theme-sound",
    "deepin-sound-theme",
    "frozen-bubble-data",
    "extremetuxracer-data",
)
# Sources kept out of every training run, for choosing between models (benchmarks/heldmix): other
# speakers, soundtracks and games than those of `full`. Their label rows put them in `valid` whole.
HELDOUT_PACKAGES = (
    "asterisk-prompt-it-menardi-wav",
    "asterisk-moh-opsound-wav",
    "flare-game",
    "marsshooter-data",
    "openarena-data",
    "warzone2100-data",
    "chromium-bsu-data",
    "lbreakout2-data",
    "tecnoballz-data",
)
PACKAGE_SETS: dict[str, tuple[str, ...]] = {
    "core": CORE_PACKAGES,
    "full": CORE_PACKAGES + EXTRA_PACKAGES,
    "heldout": HELDOUT_PACKAGES,
}
# Licence to record when a package's copyright file is not machine-readable (checked by hand).
FALLBACK_LICENCES = {
    "asterisk-core-sounds-en-wav": "CC-BY-SA-3.0",
    "asterisk-core-sounds-fr-wav": "CC-BY-SA-3.0",
    "asterisk-core-sounds-es-wav": "CC-BY-SA-3.0",
    "asterisk-core-sounds-it-wav": "CC-BY-SA-3.0",
    "asterisk-core-sounds-ru-wav": "CC-BY-SA-3.0",
    "0ad-data": "CC-BY-SA-3.0",
    "wesnoth-1.16-data": "GPL-2+",
    "wesnoth-1.16-music": "GPL-2+",
    "singularity-music": "CC-BY-SA-3.0",
    "asterisk-moh-opsound-wav": "CC-BY-SA-3.0",
    "lbreakout2-data": "GPL",
}


class CorpusError(CodecSepError):
    """The corpus cannot be built or read: missing packages, reserved packages, bad table."""


class ReservedPackageError(CorpusError):
    """A package kept for an external benchmark was asked for."""


def check_not_reserved(packages: Iterable[str]) -> None:
    """Raise :class:`ReservedPackageError` if any of ``packages`` is reserved.

    Example:
        >>> check_not_reserved(["tuxpaint-stamps-default"])
    """
    reserved = sorted(set(packages) & RESERVED_PACKAGES)
    if reserved:
        raise ReservedPackageError(
            f"packages {reserved} are reserved for an external benchmark and are never used; "
            "remove them from the package list"
        )


def packages_for(set_name: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The packages of a named set plus ``extra`` ones, reserved packages refused."""
    if set_name not in PACKAGE_SETS:
        raise CorpusError(f"unknown package set {set_name!r}; choose one of {sorted(PACKAGE_SETS)}")
    packages = tuple(dict.fromkeys((*PACKAGE_SETS[set_name], *extra)))
    check_not_reserved(packages)
    return packages


@dataclass(frozen=True)
class PackageFile:
    """One audio file of a package: a plain file, or a member of a zip/pk3 archive inside it."""

    package: str
    path: str
    disk_path: Path
    member: str | None = None

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.disk_path.read_bytes()
        return _open_archive(self.disk_path).read(self.member)

    def sibling(self, name: str) -> Path | None:
        """A plain file beside this one (e.g. tuxpaint's ``dog.txt``/``dog.png``), if present."""
        if self.member is not None:
            return None
        candidate = self.disk_path.with_name(name)
        return candidate if candidate.is_file() else None


class PackageSource:
    """Where package files come from. Subclasses implement the four methods below."""

    def ensure(self, packages: Iterable[str]) -> None:
        raise NotImplementedError

    def version(self, package: str) -> str:
        raise NotImplementedError

    def installed_files(self, package: str) -> list[tuple[str, Path]]:
        """``(installed path, path on disk)`` of every regular file of ``package``."""
        raise NotImplementedError

    def copyright(self, package: str) -> str | None:
        raise NotImplementedError

    def audio_files(self, package: str) -> list[PackageFile]:
        """The package's audio files, archive members included, sorted by path."""
        check_not_reserved([package])
        found = []
        for path, disk_path in self.installed_files(package):
            suffix = Path(path).suffix.lower()
            if suffix in AUDIO_SUFFIXES:
                found.append(PackageFile(package, path, disk_path))
            elif suffix in ARCHIVE_SUFFIXES:
                found.extend(_archive_members(package, path, disk_path))
        return sorted(found, key=lambda f: f.path)


class AptPackages(PackageSource):
    """Packages installed on this system with apt-get (installs what is missing when root)."""

    def ensure(self, packages: Iterable[str]) -> None:
        packages = list(packages)
        check_not_reserved(packages)
        missing = [p for p in packages if not self._installed(p)]
        if not missing:
            return
        command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
        if os.geteuid() != 0:
            raise CorpusError(
                f"packages {missing} are not installed and installing needs root; run "
                f"`sudo {' '.join(command)}` and build again (or use --packages-tree)"
            )
        if shutil.which("apt-get") is None:
            raise CorpusError(
                "apt-get not found; this builder needs Debian, or use --packages-tree"
            )
        print(f"installing {len(missing)} Debian packages: {' '.join(missing)}", flush=True)
        done = subprocess.run(command, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            raise CorpusError(
                f"`{' '.join(command)}` failed (exit {done.returncode}); see its output"
            )

    def _installed(self, package: str) -> bool:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True
        )
        return done.returncode == 0 and done.stdout.strip() == "installed"

    def version(self, package: str) -> str:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise CorpusError(
                f"package {package} is not installed; run `apt-get install {package}`"
            )
        return done.stdout.strip()

    def installed_files(self, package: str) -> list[tuple[str, Path]]:
        done = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        if done.returncode != 0:
            raise CorpusError(
                f"package {package} is not installed; run `apt-get install {package}`"
            )
        files = []
        for line in done.stdout.splitlines():
            path = Path(line)
            if line.startswith("/") and path.is_file() and not path.is_symlink():
                files.append((line, path))
        return files

    def copyright(self, package: str) -> str | None:
        path = Path("/usr/share/doc") / package / "copyright"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


class TreePackages(PackageSource):
    """Packages unpacked under ``root/<package>/`` (``dpkg-deb -x``), version in ``VERSION``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise CorpusError(f"{self.root}: no such package tree; unpack packages there first")

    def ensure(self, packages: Iterable[str]) -> None:
        packages = list(packages)
        check_not_reserved(packages)
        missing = [p for p in packages if not (self.root / p).is_dir()]
        if missing:
            raise CorpusError(
                f"packages {missing} are missing from {self.root}; unpack each with "
                f"`apt-get download PKG && dpkg-deb -x PKG_*.deb {self.root}/PKG`"
            )

    def version(self, package: str) -> str:
        path = self.root / package / "VERSION"
        return path.read_text().strip() if path.is_file() else "unknown"

    def installed_files(self, package: str) -> list[tuple[str, Path]]:
        base = self.root / package
        files = []
        for dirpath, _, names in os.walk(base):
            for name in names:
                disk_path = Path(dirpath) / name
                if disk_path.is_symlink():
                    continue
                files.append(("/" + disk_path.relative_to(base).as_posix(), disk_path))
        return files

    def copyright(self, package: str) -> str | None:
        path = self.root / package / "usr/share/doc" / package / "copyright"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


@lru_cache(maxsize=4)
def _open_archive(path: Path) -> zipfile.ZipFile:
    """An open archive, kept: 0 A.D.'s zip has tens of thousands of entries to index."""
    return zipfile.ZipFile(path)


def _archive_members(package: str, path: str, disk_path: Path) -> Iterator[PackageFile]:
    try:
        with zipfile.ZipFile(disk_path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return
    for member in sorted(names):
        if Path(member).suffix.lower() in AUDIO_SUFFIXES:
            yield PackageFile(package, f"{path}/{member}", disk_path, member)


# ---- licences from Debian copyright files -------------------------------------------------------


@dataclass(frozen=True)
class CopyrightStanza:
    patterns: tuple[str, ...]
    licence: str


def parse_copyright(text: str | None) -> list[CopyrightStanza]:
    """The ``Files:`` stanzas of a machine-readable (DEP-5) copyright file, in file order."""
    if not text or "Files:" not in text:
        return []
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields = _fields(block)
        if "files" in fields and "license" in fields:
            licence = fields["license"].splitlines()[0].strip()
            stanzas.append(CopyrightStanza(tuple(fields["files"].split()), licence))
    return stanzas


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def licence_of(path: str, stanzas: list[CopyrightStanza], fallback: str | None) -> str:
    """The licence of an installed file: the last DEP-5 stanza one of whose patterns matches a
    tail of its path, else ``fallback``.

    Installed paths differ from the source paths a copyright file names by a prefix, so a pattern
    also matches with its own leading folders dropped (``etc/samples/a.flac`` matches
    ``/usr/share/sonic-pi/samples/a.flac``), as long as a folder remains; a hydrogen kit
    ``drumkits/K.h2drumkit`` stands for the folder ``drumkits/K/``.
    """
    tails = _tails(path)
    chosen = None
    for stanza in stanzas:
        for pattern in stanza.patterns:
            if pattern == "*" or any(
                fnmatch.fnmatchcase(tail, p) for p in _pattern_variants(pattern) for tail in tails
            ):
                chosen = stanza.licence
                break
    return chosen or fallback or "see copyright file"


def _pattern_variants(pattern: str) -> list[str]:
    if pattern.startswith("debian/"):
        return [pattern]
    if pattern.endswith(".h2drumkit"):
        pattern = pattern[: -len(".h2drumkit")] + "/*"
    parts = pattern.split("/")
    return [pattern] + ["/".join(parts[i:]) for i in range(1, len(parts) - 1)]


def _tails(path: str) -> list[str]:
    """Every tail of the path, also with an archive's name left out (``base/0snd.pk3/sound/x``
    is ``base/sound/x`` in the source tree the copyright file describes)."""
    parts = path.strip("/").split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    inside = [p for p in parts if Path(p).suffix.lower() not in ARCHIVE_SUFFIXES]
    if len(inside) != len(parts):
        tails += ["/".join(inside[i:]) for i in range(len(inside))]
    return tails
