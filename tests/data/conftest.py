"""A small fake Debian package tree made of synthetic recordings (no apt, no network).

The tree mirrors ``dpkg-deb -x`` output: ``ROOT/<package>/usr/share/...`` with a ``VERSION`` file
and a DEP-5 copyright file per package; every core package has a folder, a few hold audio. It is
labelled by the real, committed label table, so these tests also check the table's patterns.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecsep_mm.data.packages import CORE_PACKAGES

TUX = "usr/share/tuxpaint/stamps"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-2

Files: sounds/special/*
Copyright: 2020 Someone Else
License: CC0-1.0
"""


def _sound(kind: str, seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    if kind == "voice":  # a harmonic tone with a syllable envelope
        f0 = 120 + 40 * seed % 80
        wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        wav = wav * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    elif kind == "music":  # a note every half second
        notes = 220 * 2 ** (rng.integers(0, 12, size=int(seconds * 2) + 1) / 12)
        wav = np.sin(2 * np.pi * notes[(t * 2).astype(int)] * t) * np.exp(-3 * (t % 0.5))
    else:  # noise bursts
        wav = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t + seed) > 0.3)
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def _write(path: Path, kind: str, seconds: float, seed: int, rate: int = 44100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".ogg": "OGG", ".oga": "OGG", ".wav": "WAV", ".flac": "FLAC"}[path.suffix]
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    stereo = np.stack([_sound(kind, seconds, rate, seed)] * 2, axis=1) if seed % 2 else None
    data = stereo if stereo is not None else _sound(kind, seconds, rate, seed)
    sf.write(str(path), data, rate, format=fmt, subtype=subtype)


def _tuxpaint_stamp(pkg: Path, folder: str, name: str, caption: str, seed: int, langs=()) -> None:
    base = pkg / TUX / folder
    _write(base / f"{name}.ogg", "sfx", 1.5, seed)
    lines = [caption] + [f"{lang}.utf8={text}" for lang, text in langs]
    (base / f"{name}.txt").write_text("\n".join(lines) + "\n")
    (base / f"{name}.png").write_bytes(b"\x89PNG fake picture of " + name.encode())
    for k, (lang, _) in enumerate(langs):
        _write(base / f"{name}_desc_{lang}.ogg", "voice", 1.2, seed * 10 + k)
    _write(base / f"{name}_desc.ogg", "voice", 1.1, seed * 10 + 9)


def make_fake_tree(root: Path) -> Path:
    for package in CORE_PACKAGES:
        pkg = root / package
        (pkg / "usr/share/doc" / package).mkdir(parents=True, exist_ok=True)
        (pkg / "usr/share/doc" / package / "copyright").write_text(COPYRIGHT)
        (pkg / "VERSION").write_text("1.0-test\n")
    langs = [("fr", "Un chien."), ("es", "Un perro."), ("ca", "Un gos."), ("ru", "Собака.")]
    tux = root / "tuxpaint-stamps-default"
    _tuxpaint_stamp(tux, "animals/mammals/dogs", "dog", "A dog.", 1, langs)
    _tuxpaint_stamp(tux, "animals/mammals/bovines", "cow", "A cow.", 2, langs)
    _tuxpaint_stamp(tux, "animals/mammals/bovines", "sheep", "A sheep.", 3, langs)
    _tuxpaint_stamp(tux, "household", "kettle", "A kettle.", 4, langs)
    _tuxpaint_stamp(tux, "animals/birds", "cuckoo", "A cuckoo.", 5, langs)
    _tuxpaint_stamp(tux, "animals/birds", "owl", "An owl.", 6, langs)
    _tuxpaint_stamp(tux, "animals/mammals/equines", "horse", "A horse.", 7, langs)
    _write(tux / TUX / "symbols/faces/happy.ogg", "voice", 1.0, 8)  # matches no row: unused
    wesnoth = root / "wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds"
    for k in range(1, 4):
        _write(wesnoth / f"wolf-growl-{k}.ogg", "sfx", 0.8, 20 + k)
        _write(wesnoth / f"horse-hit-{k}.ogg", "sfx", 0.8, 30 + k)
    for k in range(1, 9):
        _write(wesnoth / "horn-signals" / f"horn-{k}.ogg", "sfx", 1.0, 40 + k)
    _write(wesnoth / "ambient/birds1.ogg", "sfx", 7.0, 50)
    _write(wesnoth / "ambient/birds2.ogg", "sfx", 7.0, 51)
    music = root / "wesnoth-1.16-music/usr/share/games/wesnoth/1.16/data/core/music"
    for k, name in enumerate(("battle", "elf-land", "knolls", "wanderer")):
        _write(music / f"{name}.ogg", "music", 12.0, 60 + k)
    blupi = root / "planetblupi-music-ogg/usr/share/planetblupi/music"
    for k in range(3):
        _write(blupi / f"music00{k}.ogg", "music", 9.0, 70 + k)
    asterisk = root / "asterisk-core-sounds-en-wav/usr/share/asterisk/sounds/en_US_f_Allison"
    for k, name in enumerate(("hello", "goodbye", "welcome")):
        _write(asterisk / f"{name}.wav", "voice", 1.0, 80 + k, rate=8000)
    _write(asterisk / "silence/1.wav", "voice", 1.0, 90, rate=8000)
    kt = root / "ktuberling-data/usr/share/ktuberling/sounds"
    for k, word in enumerate(("apple", "hat", "nose")):
        _write(kt / "en" / f"{word}.ogg", "voice", 0.9, 100 + k)
        _write(kt / "de" / f"{word}.ogg", "voice", 0.9, 110 + k)
    theme = root / "sound-theme-freedesktop/usr/share/sounds/freedesktop/stereo"
    _write(theme / "camera-shutter.oga", "sfx", 0.6, 120)
    _write(theme / "bell.oga", "sfx", 0.6, 121)
    _write(theme / "phone-incoming-call.oga", "sfx", 2.0, 122)
    sonic = root / "sonic-pi-samples/usr/share/sonic-pi/samples"
    _write(sonic / "ambi_piano.flac", "music", 3.0, 130)
    _write(sonic / "broken.flac", "music", 1.0, 131)
    (sonic / "loop_amen.flac").write_bytes(b"not audio at all")  # unreadable: counted, skipped
    archive = root / "ufoai-music/usr/share/games/ufoai/base/0music.pk3"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as pk3:
        for k in range(2):
            buffer = io.BytesIO()
            sf.write(
                buffer, _sound("music", 8.0, 22050, 140 + k), 22050, format="OGG", subtype="VORBIS"
            )
            pk3.writestr(f"music/track{k}.ogg", buffer.getvalue())
    return root


@pytest.fixture(scope="session")
def fake_tree(tmp_path_factory) -> Path:
    return make_fake_tree(tmp_path_factory.mktemp("packages"))


@pytest.fixture(scope="session")
def fake_corpus(fake_tree, tmp_path_factory) -> Path:
    from codecsep_mm.data.corpus import BuildConfig, build_corpus

    out = tmp_path_factory.mktemp("corpus")
    build_corpus(BuildConfig(out=out, packages_tree=fake_tree), log=lambda _: None)
    return out
