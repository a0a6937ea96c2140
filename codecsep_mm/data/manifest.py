"""Manifests: JSON Lines descriptions of source recordings and of rendered test mixtures.

A **source manifest** has one recording (or a segment of one) per line::

    {"path": "sfx/dog_bark_01.flac", "class": "sfx", "label": "dog bark",
     "caption": "a dog barking", "start": 0.0, "end": 2.5, "licence": "CC-BY-3.0",
     "sha256": "...", "split": "train"}

``path`` is relative to the manifest's folder (or absolute); ``class`` is one of :data:`CLASSES`;
``label`` and/or ``caption`` say what it sounds like; ``start``/``end`` (seconds) pick a segment.

A **mixture manifest** (what ``codecsep-mm eval`` reads; ``codecsep-mm data render-benchmark``
writes one) has one fixed mixture per line; the mixture is the sum of its sources' stems::

    {"id": "openmix-0001", "mixture": "mixtures/openmix-0001.flac",
     "sources": [{"path": "stems/openmix-0001/0-speech.flac", "class": "speech",
                  "label": "male speech", "caption": "a man speaking English",
                  "audio_query": "queries/openmix-0001-0.flac", "image_query": null,
                  "open_vocabulary": false}, ...]}

Every reader error names the file and the line number, so a bad line is found at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from codecsep_mm.errors import ConfigError

CLASSES = ("speech", "music", "sfx")
# The coarse text prompt of each class (what "prompting by class word" means, in training and eval).
CLASS_WORDS = {"speech": "speech", "music": "music", "sfx": "sound effects"}
SPLITS = ("train", "valid", "test")


class ManifestError(ConfigError):
    """A manifest line that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class SourceRecord:
    """One line of a source manifest. ``path`` is resolved against the manifest's folder."""

    path: str
    cls: str
    label: str | None = None
    caption: str | None = None
    start: float | None = None
    end: float | None = None
    licence: str | None = None
    sha256: str | None = None
    split: str = "train"
    duration: float | None = None
    group: str | None = None
    package: str | None = None
    package_version: str | None = None
    origin: str | None = None
    image: str | None = None
    synthetic: bool = False

    def descriptions(self) -> list[str]:
        """The class word, label and caption (those present), coarse to fine."""
        return [d for d in (CLASS_WORDS[self.cls], self.label, self.caption) if d]

    def to_json(self) -> dict[str, Any]:
        data = {("class" if k == "cls" else k): v for k, v in asdict(self).items()}
        return {k: v for k, v in data.items() if v is not None and v is not False}


@dataclass(frozen=True)
class MixtureSource:
    """One source of a rendered mixture: its stem file and what to ask for it."""

    path: str
    cls: str
    label: str | None = None
    caption: str | None = None
    audio_query: str | None = None
    image_query: str | None = None
    open_vocabulary: bool = False
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {("class" if k == "cls" else k): v for k, v in asdict(self).items()}
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class MixtureRecord:
    """One line of a mixture manifest."""

    id: str
    mixture: str
    sources: tuple[MixtureSource, ...] = field(default_factory=tuple)
    sample_rate: int | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "mixture": self.mixture,
                                "sources": [s.to_json() for s in self.sources]}
        if self.sample_rate is not None:
            data["sample_rate"] = self.sample_rate
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        return data


def read_sources(path: str | os.PathLike, check_files: bool = True) -> list[SourceRecord]:
    """Read a source manifest; paths come back absolute.

    Raises:
        ManifestError: naming the line: bad JSON, unknown key, unknown class or split, missing file.
    """
    path = Path(path)
    records = []
    for line_no, data in _json_lines(path):
        where = f"{path}:{line_no}"
        record = _build(SourceRecord, _rename_class(data), where)
        _check_class(record.cls, where)
        if record.split not in SPLITS:
            raise ManifestError(f"{where}: split {record.split!r} is not one of {list(SPLITS)}")
        if not (record.label or record.caption):
            raise ManifestError(f"{where}: give a 'label' or a 'caption' (what the recording sounds like)")
        if record.start is not None and record.end is not None and record.end <= record.start:
            raise ManifestError(f"{where}: 'end' ({record.end}) must be after 'start' ({record.start})")
        resolved = _resolve(path, record.path, where, check_files)
        records.append(_replace(record, path=resolved))
    if not records:
        raise ManifestError(f"{path}: manifest holds no records")
    return records


def read_mixtures(path: str | os.PathLike, check_files: bool = True) -> list[MixtureRecord]:
    """Read a mixture manifest; every path comes back absolute.

    Raises:
        ManifestError: naming the line.
    """
    path = Path(path)
    records = []
    for line_no, data in _json_lines(path):
        where = f"{path}:{line_no}"
        raw_sources = data.get("sources")
        if not isinstance(raw_sources, list) or not raw_sources:
            raise ManifestError(f"{where}: 'sources' must be a non-empty list of stems")
        sources = []
        for index, raw in enumerate(raw_sources):
            here = f"{where} source {index}"
            if not isinstance(raw, dict):
                raise ManifestError(f"{here}: expected a JSON object")
            source = _build(MixtureSource, _rename_class(raw), here)
            _check_class(source.cls, here)
            updates = {"path": _resolve(path, source.path, here, check_files)}
            for key in ("audio_query", "image_query"):
                if getattr(source, key):
                    updates[key] = _resolve(path, getattr(source, key), here, check_files)
            sources.append(_replace(source, **updates))
        record = _build(MixtureRecord, {**data, "sources": tuple(sources)}, where)
        records.append(_replace(record, mixture=_resolve(path, record.mixture, where, check_files)))
    if not records:
        raise ManifestError(f"{path}: manifest holds no mixtures")
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise ManifestError(f"{path}: mixture ids are not unique")
    return records


def write_jsonl(path: str | os.PathLike, records: Iterable[Any], relative_to: str | os.PathLike | None = None) -> Path:
    """Write records (dataclasses with ``to_json`` or dicts) as JSON Lines, atomically."""
    from codecsep_mm.audio import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        data = record.to_json() if hasattr(record, "to_json") else dict(record)
        lines.append(json.dumps(data, ensure_ascii=False, sort_keys=False))
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _text_lines(handle, path: Path):
    line_no = 0
    try:
        for line_no, line in enumerate(handle, start=1):
            yield line_no, line
    except UnicodeDecodeError as error:
        raise ManifestError(f"{path}:{line_no + 1}: not UTF-8 text; a manifest is JSON Lines, one object per "
                            "line (see docs/evaluation.md)") from error


def _json_lines(path: Path):
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest; check the path")
    with open(path, encoding="utf-8") as handle:
        for line_no, line in _text_lines(handle, path):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise ManifestError(f"{path}:{line_no}: not valid JSON ({error.msg})") from error
            if not isinstance(data, dict):
                raise ManifestError(f"{path}:{line_no}: expected a JSON object per line")
            yield line_no, data


def _rename_class(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if "class" in data:
        data["cls"] = data.pop("class")
    return data


def _build(cls, data: dict[str, Any], where: str):
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        shown = ["class" if n == "cls" else n for n in names]
        raise ManifestError(f"{where}: unknown keys {unknown}; valid keys: {shown}")
    missing = [n for n in names if n not in data and _is_required(cls, n)]
    if missing:
        raise ManifestError(f"{where}: missing keys {['class' if n == 'cls' else n for n in missing]}")
    try:
        return cls(**data)
    except TypeError as error:
        raise ManifestError(f"{where}: {error}") from error


def _is_required(cls, name: str) -> bool:
    from dataclasses import MISSING

    for f in fields(cls):
        if f.name == name:
            return f.default is MISSING and f.default_factory is MISSING
    return False


def _check_class(cls: str, where: str) -> None:
    if cls not in CLASSES:
        raise ManifestError(f"{where}: class {cls!r} is not one of {list(CLASSES)}")


def _resolve(manifest: Path, relative: str, where: str, check: bool) -> str:
    if not isinstance(relative, str) or not relative:
        raise ManifestError(f"{where}: a path must be a non-empty string")
    resolved = Path(relative) if os.path.isabs(relative) else manifest.parent / relative
    if check and not resolved.is_file():
        raise ManifestError(f"{where}: {resolved} does not exist; fix the path or rebuild the corpus")
    return str(resolved)


def _replace(record, **changes):
    from dataclasses import replace

    return replace(record, **changes)


def classes_of(records: Sequence[SourceRecord]) -> dict[str, list[SourceRecord]]:
    """Records grouped by class, in :data:`CLASSES` order; every class must be present."""
    grouped: dict[str, list[SourceRecord]] = {c: [] for c in CLASSES}
    for record in records:
        grouped[record.cls].append(record)
    return grouped
