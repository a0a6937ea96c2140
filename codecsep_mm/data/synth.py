"""Optional synthetic additions to the corpus: General MIDI music, rendered scores and text-to-speech.

* Music: short pieces generated from a seed (a chord progression, a melody, a bass line, arpeggios
  or a drum pattern) for a named ensemble, written as a MIDI file and rendered by ``fluidsynth``
  with the FluidR3 General MIDI soundfont (Debian ``fluid-soundfont-gm``, MIT). Because we choose
  the GM program of every part, each piece comes with an exact caption ("a string quartet").
* Scores: the MIDI files of packages in :data:`MIDI_SCORE_PACKAGES` (OpenTTD's OpenMSX set),
  each played through every soundfont of :data:`SCORE_SOUNDFONTS` that is installed (FluidR3,
  TimGM6mb, MuseScore General): composed music, heard with several sets of instruments.
* Speech: ``espeak-ng`` (Debian) reading the tuxpaint sentences of the corpus in their languages.
  The builder caps it at 30 % of all speech hours. Both are marked ``synthetic`` and always train.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from codecsep_mm.data.manifest import SourceRecord
from codecsep_mm.data.packages import CorpusError

MAX_TTS_SHARE = 0.3
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TICKS = 480
DRUMS = "drums"
# (label, caption, [(GM program or DRUMS, role)]) with roles melody / harmony / bass / arpeggio
ENSEMBLES: list[tuple[str, str, list[tuple[int | str, str]]]] = [
    ("piano", "solo piano", [(0, "melody"), (0, "harmony")]),
    (
        "string quartet",
        "a string quartet",
        [(40, "melody"), (40, "harmony"), (41, "harmony"), (42, "bass")],
    ),
    ("flute and harp", "a flute with a harp", [(73, "melody"), (46, "arpeggio")]),
    ("acoustic guitar", "solo acoustic guitar", [(24, "arpeggio"), (24, "bass")]),
    ("church organ", "a church organ", [(19, "harmony"), (19, "melody"), (19, "bass")]),
    ("brass ensemble", "a brass ensemble", [(56, "melody"), (60, "harmony"), (57, "bass")]),
    ("choir", "a choir singing", [(52, "melody"), (52, "harmony")]),
    ("clarinet and piano", "a clarinet with piano", [(71, "melody"), (0, "arpeggio")]),
    (
        "jazz band",
        "saxophone, piano, bass and drums",
        [(65, "melody"), (0, "harmony"), (32, "bass"), (DRUMS, "drums")],
    ),
    (
        "electric guitar band",
        "electric guitar, bass and drums",
        [(29, "harmony"), (27, "melody"), (33, "bass"), (DRUMS, "drums")],
    ),
    ("marimba", "a marimba", [(12, "melody"), (12, "arpeggio")]),
    (
        "synth pop",
        "synthesizer pop with drums",
        [(81, "melody"), (89, "harmony"), (38, "bass"), (DRUMS, "drums")],
    ),
]
# (soundfont file, Debian package, licence, name used in paths and origins)
SCORE_SOUNDFONTS: tuple[tuple[Path, str, str, str], ...] = (
    (SOUNDFONT, "fluid-soundfont-gm", "MIT", "fluidr3"),
    (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont", "GPL-2", "timgm6mb"),
    (
        Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
        "musescore-general-soundfont-small",
        "MIT",
        "musescore-general",
    ),
)
# package with MIDI scores -> (label, caption, licence of the scores)
MIDI_SCORE_PACKAGES: dict[str, tuple[str, str, str]] = {
    "openttd-openmsx": ("game music", "instrumental game music", "GPL-2.0"),
}
_MAJOR = [0, 2, 4, 5, 7, 9, 11]
_MINOR = [0, 2, 3, 5, 7, 8, 10]
_PROGRESSIONS = [[0, 3, 4, 0], [0, 5, 3, 4], [0, 4, 5, 3], [5, 3, 0, 4], [0, 3, 0, 4]]


def compose_midi(seed: int, ensemble_index: int, seconds: float = 40.0) -> bytes:
    """A format-0 MIDI file for one piece of ``ENSEMBLES[ensemble_index]``."""
    rng = np.random.default_rng(seed)
    _, _, parts = ENSEMBLES[ensemble_index]
    bpm = int(rng.integers(72, 140))
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    root = int(rng.integers(50, 62))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    n_bars = max(2, int(seconds * bpm / 60 / 4))
    events: list[tuple[int, bytes]] = [(0, b"\xff\x51\x03" + int(60e6 / bpm).to_bytes(3, "big"))]
    channel = 0
    for program, role in parts:
        if program == DRUMS:
            events += _drums(n_bars, rng)
            continue
        events.append((0, bytes([0xC0 | channel, int(program)])))
        for bar in range(n_bars):
            degree = progression[bar % len(progression)]
            events += _bar_notes(role, channel, bar, degree, scale, root, rng)
        channel = channel + 1 if channel + 1 != 9 else 10
    return _midi_file(events)


def _pitch(scale, root, degree, octave=0):
    return root + 12 * (octave + degree // 7) + scale[degree % 7]


def _note(channel, start, length, pitch, velocity):
    pitch = int(np.clip(pitch, 24, 108))
    return [
        (start, bytes([0x90 | channel, pitch, velocity])),
        (start + length, bytes([0x80 | channel, pitch, 0])),
    ]


def _bar_notes(role, channel, bar, degree, scale, root, rng):
    start, beat = bar * 4 * TICKS, TICKS
    notes = []
    if role == "harmony":
        for step in (0, 2, 4):
            notes += _note(channel, start, 4 * beat - 10, _pitch(scale, root, degree + step), 60)
    elif role == "bass":
        for b in range(0, 4, 2):
            notes += _note(
                channel, start + b * beat, 2 * beat - 10, _pitch(scale, root, degree, -1), 80
            )
    elif role == "arpeggio":
        for i in range(8):
            step = (0, 2, 4, 7, 4, 2, 0, 2)[i]
            notes += _note(
                channel,
                start + i * beat // 2,
                beat // 2 - 5,
                _pitch(scale, root, degree + step),
                64,
            )
    else:  # melody: a random walk over the scale, quarter and eighth notes
        position, tone = 0, degree + 7
        while position < 4 * beat:
            length = beat if rng.random() < 0.6 else beat // 2
            tone += int(rng.integers(-2, 3))
            tone = int(np.clip(tone, degree + 3, degree + 12))
            notes += _note(
                channel,
                start + position,
                length - 10,
                _pitch(scale, root, tone),
                int(rng.integers(70, 100)),
            )
            position += length
    return notes


def _drums(n_bars, rng):
    notes = []
    busy = rng.random() < 0.5
    for bar in range(n_bars):
        start = bar * 4 * TICKS
        for i in range(8):
            t = start + i * TICKS // 2
            notes += _note(9, t, 60, 42, 60)  # closed hi-hat
            if i in (0, 4) or (busy and i == 5):
                notes += _note(9, t, 60, 36, 100)  # kick
            if i in (2, 6):
                notes += _note(9, t, 60, 38, 90)  # snare
    return notes


def _midi_file(events: list[tuple[int, bytes]]) -> bytes:
    events = sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    track, now = bytearray(), 0
    for tick, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += _varlen(TICKS) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TICKS.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def render_midi_music(
    out: Path, hours: float, seed: int, log: Callable[[str], None] = print
) -> list[SourceRecord]:
    """Render ``hours`` of generated pieces into ``out/synth/music``; their records (train)."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None or not SOUNDFONT.is_file():
        raise CorpusError(
            "synthetic music needs fluidsynth and the GM soundfont; run "
            "`apt-get install fluidsynth fluid-soundfont-gm` or leave out --synth-music"
        )
    render = _fluidsynth_renderer(fluidsynth)

    def play(piece: int, ensemble: int, wav: Path) -> None:
        midi = wav.with_suffix(".mid")
        midi.write_bytes(compose_midi(seed * 100_003 + piece, ensemble))
        render(SOUNDFONT, midi, wav)

    version = installed_version("fluid-soundfont-gm")
    records, total, index = [], 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < hours * 3600:
            ensemble = index % len(ENSEMBLES)
            label, caption, _ = ENSEMBLES[ensemble]
            record = _rendered_music(
                out, Path("synth/music") / f"gm-{index:05d}.flac", Path(tmp),
                functools.partial(play, index, ensemble),
                label=label, caption=caption, licence="MIT (FluidR3_GM soundfont); generated score",
                group=f"synth-music:{index}", package="fluid-soundfont-gm", package_version=version,
                origin=f"generated MIDI, seed {seed}, piece {index}",
            )
            records.append(record)
            total += record.duration or 0.0
            index += 1
            if index % 50 == 0:
                log(f"  synthetic music: {index} pieces, {total / 3600:.2f} h")
    return records


def render_midi_scores(
    out: Path,
    scores: Sequence[tuple[str, str, str, Path]],
    soundfonts: Sequence[tuple[Path, str, str, str]] = SCORE_SOUNDFONTS,
    log: Callable[[str], None] = print,
    render: Callable[[Path, Path, Path], None] | None = None,
) -> list[SourceRecord]:
    """Play every score ``(package, version, installed path, file)`` through every installed
    soundfont into ``out/synth/scores``; their records (music, train, one group per score).

    ``render(soundfont, midi, wav)`` writes the audio (default: fluidsynth at 16 kHz).
    """
    fonts = [font for font in soundfonts if font[0].is_file()]
    if render is None:
        fluidsynth = shutil.which("fluidsynth")
        if fluidsynth is None or not fonts:
            raise CorpusError(
                "rendering MIDI scores needs fluidsynth and a GM soundfont; run `apt-get install "
                "fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small`"
                " or leave out --midi-scores"
            )
        render = _fluidsynth_renderer(fluidsynth)
    records, total = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, installed, midi in scores:
            label, caption, score_licence = MIDI_SCORE_PACKAGES[package]
            stem = Path(installed).stem
            for font, font_package, font_licence, name in fonts:
                record = _rendered_music(
                    out, Path("synth/scores") / package / name / f"{stem}.flac", Path(tmp),
                    functools.partial(render, font, midi),
                    label=label, caption=caption,
                    licence=f"{score_licence} (score); {font_licence} ({font.name})",
                    group=f"midi-score:{package}:{stem}", package=package, package_version=version,
                    origin=f"{installed} played with {font.name} ({font_package})",
                )
                records.append(record)
                total += record.duration or 0.0
    log(f"  MIDI scores: {len(scores)} scores x {len(fonts)} soundfonts, {total / 3600:.2f} h")
    return records


def _rendered_music(
    out: Path, relative: Path, tmp: Path, play: Callable[[Path], None], **fields: str
) -> SourceRecord:
    """The record of a synthetic train music file ``out/relative`` (``fields``: the keyword
    arguments of :func:`synthetic_record`); when it is not there yet, ``play(wav)`` writes the audio
    first and it is stored peak-normalised at 16 kHz."""
    target = out / relative
    if not target.is_file():
        wav = tmp / "rendered.wav"
        play(wav)
        _write_normalised(wav, target)
    return synthetic_record(out, relative, "music", **fields)


def synthetic_record(
    out: Path,
    relative: Path | str,
    cls: str,
    *,
    label: str,
    caption: str,
    licence: str,
    group: str,
    package: str,
    package_version: str,
    origin: str,
) -> SourceRecord:
    """The ``train`` record of the synthetic file ``out/relative`` (written already): its checksum
    and duration read from the file."""
    from codecsep_mm.data.corpus import sha256_of

    target = out / relative
    return SourceRecord(
        path=Path(relative).as_posix(), cls=cls, label=label, caption=caption, licence=licence,
        sha256=sha256_of(target), split="train", duration=round(_duration(target), 4), group=group,
        package=package, package_version=package_version, origin=origin, synthetic=True,
    )


def _fluidsynth_renderer(fluidsynth: str) -> Callable[[Path, Path, Path], None]:
    def render(font: Path, midi: Path, wav: Path) -> None:
        command = [fluidsynth, "-ni", "-q", "-g", "0.5", "-r", "16000", "-F", str(wav), str(font), str(midi)]
        subprocess.run(command, check=True, capture_output=True)

    return render


# ---- text to speech -----------------------------------------------------------------------------

ESPEAK_VOICES = {
    "English": "en-us",
    "French": "fr",
    "Spanish": "es",
    "Catalan": "ca",
    "Russian": "ru",
    "Romanian": "ro",
    "Bulgarian": "bg",
    "Greek": "el",
    "Danish": "da",
    "German": "de",
    "Italian": "it",
    "Dutch": "nl",
    "Lithuanian": "lt",
    "Belarusian": "be",
}
VOICE_VARIANTS = [("m3", "male"), ("f3", "female"), ("m1", "male"), ("f2", "female")]


def synthesise_speech(
    out: Path,
    hours: float,
    sentences: Sequence[tuple[str, str]],
    seed: int,
    log: Callable[[str], None] = print,
) -> list[SourceRecord]:
    """espeak-ng reading ``(language, sentence)`` pairs, three at a time, into ``out/synth/speech``."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise CorpusError("TTS needs espeak-ng; run `apt-get install espeak-ng` or leave out --tts")
    usable = [(lang, text) for lang, text in sentences if lang in ESPEAK_VOICES]
    if not usable:
        raise CorpusError("no sentences to read for TTS; the corpus needs tuxpaint transcripts")
    version = installed_version("espeak-ng-data")
    rng = np.random.default_rng(seed)
    records, total, index = [], 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < hours * 3600:
            lang = usable[int(rng.integers(len(usable)))][0]
            pool = [t for lg, t in usable if lg == lang]
            text = " ".join(pool[int(rng.integers(len(pool)))] for _ in range(3))
            variant, sex = VOICE_VARIANTS[int(rng.integers(len(VOICE_VARIANTS)))]
            speed, pitch = int(rng.integers(130, 190)), int(rng.integers(30, 70))
            relative = Path("synth/speech") / f"espeak-{index:05d}.flac"
            target = out / relative
            if not target.is_file():
                wav = Path(tmp) / "speech.wav"
                subprocess.run(
                    [
                        espeak,
                        "-v",
                        f"{ESPEAK_VOICES[lang]}+{variant}",
                        "-s",
                        str(speed),
                        "-p",
                        str(pitch),
                        "-w",
                        str(wav),
                        text,
                    ],
                    check=True,
                    capture_output=True,
                )
                _write_normalised(wav, target)
            record = synthetic_record(
                out, relative, "speech", label=f"{lang} speech",
                caption=f'a synthetic {sex} voice saying "{text}" in {lang}',
                licence="GPL-3+ (espeak-ng)", group=f"synth-speech:{lang}:{variant}",
                package="espeak-ng-data", package_version=version,
                origin=f"espeak-ng -v {ESPEAK_VOICES[lang]}+{variant} -s {speed} -p {pitch}",
            )
            records.append(record)
            total += record.duration or 0.0
            index += 1
    log(f"  synthetic speech: {index} clips, {total / 3600:.2f} h")
    return records


def _write_normalised(wav: Path, target: Path) -> None:
    import soundfile as sf

    from codecsep_mm.audio import resample

    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)[None]
    mono = resample(mono, rate, 16_000)
    peak = float(np.abs(mono).max())
    if peak > 0:
        mono = mono * (0.9 / peak)
    write_train_flac(target, mono[0])


def write_train_flac(target: Path, mono: np.ndarray) -> None:
    """Store ``mono`` (samples at 16 kHz) as 16-bit FLAC at ``target``, atomically, world-readable."""
    import soundfile as sf

    from codecsep_mm.audio import atomic_path

    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        sf.write(str(tmp), mono, 16_000, format="FLAC", subtype="PCM_16")
        os.chmod(tmp, 0o644)


def _duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def installed_version(package: str) -> str:
    """The version dpkg has installed of ``package``, or "unknown" (also for a package dpkg only
    knows of, such as one another package recommends: it has no version)."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", package], capture_output=True, text=True
    )
    status, _, version = done.stdout.strip().partition("|")
    return version if done.returncode == 0 and status.startswith("ii") and version else "unknown"
