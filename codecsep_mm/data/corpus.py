"""The open-audio corpus: real recordings from Debian packages as 16 kHz mono FLAC plus manifests.

Layout of a built corpus ``OUT/``::

    audio/<package>/<installed path>.flac   every recording, 16 kHz mono, 16-bit FLAC
    images/<package>/<installed path>.png   pictures paired with sounds (tuxpaint stamps)
    synth/...                               optional synthetic music and speech
    licences/<package>.copyright            each package's Debian copyright file
    sources.jsonl                           every recording (SourceRecord lines, with ``split``)
    train.jsonl  valid.jsonl  test.jsonl    the same records, one file per split
    build.json                              packages and versions, options, counts, build time,
                                            tools (fluidsynth, soundfonts, espeak-ng) and versions

Paths in the manifests are relative to ``OUT``. Building again reuses converted files that are
already there (``force=True`` converts everything again).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from codecsep_mm.data.labels import Labelled, LabelTable, default_label_table, load_label_table
from codecsep_mm.data.manifest import SPLITS, SourceRecord, write_jsonl
from codecsep_mm.data.packages import (
    FALLBACK_LICENCES,
    AptPackages,
    CorpusError,
    PackageFile,
    PackageSource,
    TreePackages,
    licence_of,
    packages_for,
    parse_copyright,
)
from codecsep_mm.data.split import SplitConfig, SplitItem, assign_splits

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4
SOURCES_MANIFEST = "sources.jsonl"
READABLE = 0o644  # atomic_path's temporary files are private; outputs are meant to be shared
BUILD_INFO = "build.json"
TTS_ENGINES = ("espeak", "piper", "both")
_SAID = re.compile(r'someone saying "([^"]{3,})" in ([A-Za-z ]+)')


MAX_SYNTH_HOURS = 1000.0  # the most hours of one synthetic addition a build takes


@dataclass(frozen=True)
class BuildConfig:
    """Options of :func:`build_corpus`.

    Attributes:
        out: the corpus folder.
        package_set: ``core`` (small packages, ~1.5 GB download) or ``full`` (adds 0 A.D. and more
            soundtracks, ~2.9 GB more).
        extra_packages: more packages to read (they need rows in the label table).
        packages_tree: read unpacked packages from ``DIR/<package>/`` instead of installing them.
        label_table: a label table to use instead of the committed one.
        synth_music_hours: hours of General MIDI music rendered with fluidsynth (0: none).
        midi_scores: also play the MIDI scores of ``synth.MIDI_SCORE_PACKAGES`` (OpenTTD's
            OpenMSX) through each installed soundfont of ``synth.SCORE_SOUNDFONTS`` (train).
        synth_sfx_hours: hours of procedural sound effects (``synth_sfx``; 0: none; train).
        tts_hours: hours of TTS speech (capped at 30 % of all speech hours; 0: none).
        tts_engine: ``espeak`` (espeak-ng, 14 languages), ``piper`` (the Piper joe voice,
            English) or ``both`` (half each).
        piper: a Python that can import ``piper``, or a ``piper`` script (default: found).
        split: split fractions and seed.
        force: convert every file again even when its FLAC exists.
        limit_per_package: use at most this many files per package (quick trial builds).
    """

    out: Path
    package_set: str = "core"
    extra_packages: tuple[str, ...] = ()
    packages_tree: Path | None = None
    label_table: Path | None = None
    synth_music_hours: float = 0.0
    midi_scores: bool = False
    synth_sfx_hours: float = 0.0
    tts_hours: float = 0.0
    tts_engine: str = "espeak"
    piper: Path | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    force: bool = False
    limit_per_package: int | None = None

    def __post_init__(self) -> None:
        for key in ("synth_music_hours", "synth_sfx_hours", "tts_hours"):
            if not 0.0 <= getattr(self, key) <= MAX_SYNTH_HOURS:
                raise CorpusError(f"{key} is {getattr(self, key)}; give 0 (none) to {MAX_SYNTH_HOURS:g} hours")
        if self.limit_per_package is not None and self.limit_per_package < 1:
            raise CorpusError(f"limit_per_package is {self.limit_per_package}; give at least 1 file per "
                              "package, or no limit")


@dataclass
class BuildReport:
    """What a build did. ``dropped``: labelled files that were unreadable, silent or shorter
    than 0.1 s; ``n_reused``: recordings already converted by an earlier build (not timed again)."""

    out: Path
    n_files: int = 0
    n_skipped_unlabelled: int = 0
    n_dropped: int = 0
    n_reused: int = 0
    seconds: float = 0.0
    packages: dict[str, str] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def build_corpus(
    config: BuildConfig,
    source: PackageSource | None = None,
    log: Callable[[str], None] = print,
) -> BuildReport:
    """Install/read the packages, convert and label their audio, split it, write the manifests.

    Raises:
        ReservedPackageError: a reserved package was asked for.
        CorpusError: packages missing (and not installable), bad label table.
    """
    started = time.monotonic()
    out = Path(config.out)
    packages = packages_for(config.package_set, config.extra_packages)
    if source is None:
        source = TreePackages(config.packages_tree) if config.packages_tree else AptPackages()
    table = load_label_table(config.label_table) if config.label_table else default_label_table()
    source.ensure(packages + score_packages(config))
    if isinstance(source, AptPackages):  # programs for the synthetic additions, if asked for
        source.ensure(tool_packages(config))
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport(out=out)
    records: list[SourceRecord] = []
    items: list[SplitItem] = []
    for package in packages:
        version = source.version(package)
        report.packages[package] = version
        package_records, package_items = _convert_package(
            package, version, source, table, config, report, log
        )
        records += package_records
        items += package_items
    splits = assign_splits(items, config.split)
    records = [replace(r, split=s) for r, s in zip(records, splits)]
    synthetic = _synthetic_records(config, records, source, log)
    for record in synthetic:
        report.packages.setdefault(record.package or "synthetic", record.package_version or "")
    records += synthetic
    if synthetic:  # the programs and soundfonts that made them, as installed on this machine
        from codecsep_mm.data.synth import installed_version

        report.tools = {package: installed_version(package) for package in tool_packages(config)}
        if config.tts_hours > 0 and config.tts_engine in ("piper", "both"):
            from codecsep_mm.data.piper_tts import engine_versions, find_piper

            report.tools.update(engine_versions(find_piper(config.piper)))
    write_manifests(out, records)
    report.n_files = len(records)
    report.seconds = time.monotonic() - started
    _write_build_info(out, config, report, table)
    log(f"corpus: {len(records)} files in {out} ({report.seconds:.0f} s)")
    return report


def tool_packages(config: BuildConfig) -> list[str]:
    """Debian packages the synthetic options need (fluidsynth and soundfonts, espeak-ng); the
    Piper engine's Python packages are added by the build (``piper_tts.engine_versions``)."""
    tools = []
    if config.synth_music_hours > 0:
        tools += ["fluidsynth", "fluid-soundfont-gm"]
    if config.midi_scores:
        from codecsep_mm.data.synth import SCORE_SOUNDFONTS

        tools += ["fluidsynth"] + [font[1] for font in SCORE_SOUNDFONTS if font[1] not in tools]
    if config.tts_hours > 0 and config.tts_engine in ("espeak", "both"):
        tools += ["espeak-ng"]
    return tools


def score_packages(config: BuildConfig) -> tuple[str, ...]:
    """Packages whose MIDI scores ``--midi-scores`` plays (none without it)."""
    if not config.midi_scores:
        return ()
    from codecsep_mm.data.synth import MIDI_SCORE_PACKAGES

    return tuple(MIDI_SCORE_PACKAGES)


def _convert_package(package, version, source, table: LabelTable, config, report, log):
    out = Path(config.out)
    stanzas = parse_copyright(source.copyright(package))
    copyright_text = source.copyright(package)
    if copyright_text is not None:
        target = out / "licences" / f"{package}.copyright"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(copyright_text, encoding="utf-8")
    files = source.audio_files(package)
    labelled = [(f, table.resolve(f)) for f in files]
    report.n_skipped_unlabelled += sum(1 for _, lab in labelled if lab is None)
    labelled = [(f, lab) for f, lab in labelled if lab is not None]
    if config.limit_per_package is not None:
        labelled = labelled[: config.limit_per_package]
    log(f"{package} {version}: {len(labelled)} labelled of {len(files)} audio files")
    records, items = [], []
    for index, (file, lab) in enumerate(labelled, start=1):
        assert lab is not None  # unlabelled files were dropped above
        relative = Path("audio") / package / (file.path.lstrip("/") + ".flac")
        reused = (out / relative).is_file() and not config.force
        duration = convert_to_flac(file, out / relative, force=config.force)
        report.n_reused += reused
        if duration is None:
            report.n_dropped += 1
            report.dropped.append(f"{package}:{file.path}")
            continue
        fallback = FALLBACK_LICENCES.get(package, f"see licences/{package}.copyright")
        licence = licence_of(file.path, stanzas, fallback)
        records.append(
            SourceRecord(
                path=relative.as_posix(),
                cls=lab.cls,
                label=lab.label,
                caption=lab.caption,
                licence=licence,
                sha256=sha256_of(out / relative),
                duration=round(duration, 4),
                group=lab.group,
                package=package,
                package_version=version,
                origin=file.path,
                image=_copy_image(file, lab, out, package),
            )
        )
        items.append(SplitItem(lab.cls, lab.label, lab.group, lab.split))
        if index % 500 == 0:
            log(f"  {package}: {index}/{len(labelled)}")
    return records, items


def convert_to_flac(file: PackageFile, target: Path, force: bool = False) -> float | None:
    """Decode, downmix to mono, resample to 16 kHz, write 16-bit FLAC; return the duration.

    Returns None for files that cannot be decoded, are silent or shorter than 0.1 s. Silent means
    a peak below ``SILENCE_PEAK`` at 16 kHz, as written: a recording of faint codec noise whose
    16 kHz copy would hold nothing (Wesnoth's ``silence.ogg``, a music track) is dropped too, and
    so is such a copy an earlier build wrote.
    """
    import soundfile as sf

    if target.is_file() and not force:
        written, rate = sf.read(str(target), dtype="float32")
        return None if float(np.abs(written).max(initial=0.0)) < SILENCE_PEAK else len(written) / rate
    try:
        if file.member is None:
            data, rate = sf.read(str(file.disk_path), dtype="float32", always_2d=True)
        else:
            data, rate = sf.read(io.BytesIO(file.read_bytes()), dtype="float32", always_2d=True)
    except Exception:  # libsndfile raises several types; all mean "cannot decode"
        return None
    mono = data.mean(axis=1, dtype=np.float32)[None]
    if mono.shape[1] < MIN_SECONDS * rate or not np.isfinite(mono).all():
        return None
    if float(np.abs(mono).max()) < SILENCE_PEAK:
        return None
    from codecsep_mm.audio import atomic_path, resample

    wav = np.clip(resample(mono, int(rate), SAMPLE_RATE), -1.0, 1.0)
    if float(np.abs(wav).max()) < SILENCE_PEAK:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        sf.write(str(tmp), wav[0], SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        os.chmod(tmp, READABLE)
    return wav.shape[1] / SAMPLE_RATE


def _copy_image(file: PackageFile, lab: Labelled, out: Path, package: str) -> str | None:
    if lab.cls == "speech":
        return None
    picture = file.sibling(Path(file.path).stem + ".png")
    if picture is None:
        return None
    relative = (
        Path("images") / package / (Path(file.path).with_suffix(".png").as_posix().lstrip("/"))
    )
    (out / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(picture, out / relative)
    return relative.as_posix()


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifests(out: Path, records: list[SourceRecord]) -> None:
    """``sources.jsonl`` with every record plus one manifest per split."""
    records = sorted(records, key=lambda r: r.path)
    os.chmod(write_jsonl(out / SOURCES_MANIFEST, records), READABLE)
    for split in SPLITS:
        path = write_jsonl(out / f"{split}.jsonl", [r for r in records if r.split == split])
        os.chmod(path, READABLE)


def read_corpus(out: str | Path, check_files: bool = False) -> list[SourceRecord]:
    """The records of a built corpus, paths relative to it (as written)."""
    out = Path(out)
    manifest = out / SOURCES_MANIFEST
    if not manifest.is_file():
        raise CorpusError(
            f"{out}: no {SOURCES_MANIFEST}; build it with `codecsep-mm data build --out {out}`"
        )
    from codecsep_mm.data.manifest import read_sources

    records = read_sources(manifest, check_files=check_files)
    return [replace(r, path=Path(r.path).relative_to(out).as_posix()) for r in records]


def _synthetic_records(
    config: BuildConfig, records: list[SourceRecord], source: PackageSource, log
) -> list[SourceRecord]:
    extra: list[SourceRecord] = []
    if config.synth_music_hours > 0:
        from codecsep_mm.data.synth import render_midi_music

        extra += render_midi_music(
            Path(config.out), config.synth_music_hours, config.split.seed, log
        )
    if config.midi_scores:
        from codecsep_mm.data.synth import render_midi_scores

        scores = [
            (package, source.version(package), installed, disk_path)
            for package in score_packages(config)
            for installed, disk_path in sorted(source.installed_files(package))
            if Path(installed).suffix.lower() in (".mid", ".midi")
        ]
        if not scores:
            raise CorpusError(f"no MIDI files in {list(score_packages(config))}; is it installed?")
        extra += render_midi_scores(Path(config.out), scores, log=log)
    if config.synth_sfx_hours > 0:
        from codecsep_mm.data.split import labels_only_in_test
        from codecsep_mm.data.synth_sfx import check_labels, synthesise_sfx

        check_labels(set(labels_only_in_test(records).get("sfx", [])))
        extra += synthesise_sfx(Path(config.out), config.synth_sfx_hours, config.split.seed, log)
    if config.tts_hours > 0:
        extra += _tts_records(config, records, log)
    return extra


def _tts_records(config: BuildConfig, records: list[SourceRecord], log) -> list[SourceRecord]:
    """TTS speech from the chosen engines, all together capped at 30 % of the speech hours."""
    from codecsep_mm.data.synth import MAX_TTS_SHARE, synthesise_speech

    if config.tts_engine not in TTS_ENGINES:
        raise CorpusError(f"unknown TTS engine {config.tts_engine!r}; choose one of {TTS_ENGINES}")
    real_hours = sum(r.duration or 0 for r in records if r.cls == "speech") / 3600
    cap = real_hours * MAX_TTS_SHARE / (1 - MAX_TTS_SHARE)
    hours = min(config.tts_hours, cap)
    if hours < config.tts_hours:
        log(f"tts: capped at {hours:.2f} h (30 % of speech hours)")
    sentences = sorted({s for r in records if r.cls == "speech" and (s := _sentence_of(r.caption))})
    engines = ("espeak", "piper") if config.tts_engine == "both" else (config.tts_engine,)
    share = hours / len(engines)
    extra: list[SourceRecord] = []
    if "espeak" in engines:
        extra += synthesise_speech(Path(config.out), share, sentences, config.split.seed, log)
    if "piper" in engines:
        from codecsep_mm.data.piper_tts import synthesise_speech_piper

        english = [text for lang, text in sentences if lang == "English"]
        extra += synthesise_speech_piper(
            Path(config.out), share, english, config.split.seed, config.piper, log
        )
    return extra


def _sentence_of(caption: str | None) -> tuple[str, str] | None:
    """``(language, sentence)`` from a tuxpaint caption ``someone saying "..." in LANGUAGE``."""
    match = _SAID.fullmatch(caption or "")
    return (match.group(2), match.group(1)) if match else None


def _write_build_info(out: Path, config: BuildConfig, report: BuildReport, table: LabelTable):
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    info = {
        "sample_rate": SAMPLE_RATE,
        "options": options,
        "packages": report.packages,
        "tools": report.tools,
        "n_files": report.n_files,
        "n_skipped_unlabelled": report.n_skipped_unlabelled,
        "n_dropped": report.n_dropped,
        "n_reused": report.n_reused,
        "dropped": report.dropped[:200],
        "label_table": table.source,
        "build_seconds": round(report.seconds, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / BUILD_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
