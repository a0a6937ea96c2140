"""Source manifests for user-provided datasets laid out like Divide and Remaster (dnr-v2).

dnr-v2 holds ``{tr,cv,tt}/<id>/{speech,music,sfx}.wav`` (plus ``mix.wav``). Training the paper's way
mixes fresh triples of these stems on the fly, so the manifest lists every stem with its class; the
label is the class word (dnr-v2 has no per-stem captions).

Example:
    >>> from codecsep_mm.data.dnr import write_dnr_manifest
    >>> write_dnr_manifest("/data/dnr_v2", "/data/dnr_v2/sources.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from codecsep_mm.data.manifest import CLASS_WORDS, CLASSES, ManifestError, SourceRecord, write_jsonl

SPLIT_FOLDERS = {"tr": "train", "cv": "valid", "tt": "test"}


def dnr_records(root: str | os.PathLike) -> list[SourceRecord]:
    """Every stem of a dnr-v2 tree as a :class:`SourceRecord` (paths relative to ``root``)."""
    root = Path(root)
    records = []
    for folder, split in SPLIT_FOLDERS.items():
        for item in sorted(p for p in (root / folder).glob("*") if p.is_dir()):
            for cls in CLASSES:
                stem = item / f"{cls}.wav"
                if stem.is_file():
                    records.append(SourceRecord(path=str(stem.relative_to(root)), cls=cls,
                                                label=CLASS_WORDS[cls], split=split,
                                                group=f"dnr-{folder}-{item.name}"))
    if not records:
        raise ManifestError(f"{root}: no tr/cv/tt/<id>/{{speech,music,sfx}}.wav found; is this dnr-v2?")
    return records


def write_dnr_manifest(root: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``root/sources.jsonl`` (or ``out``, which must be inside ``root``) for ``dnr_records``."""
    root = Path(root)
    out = Path(out) if out is not None else root / "sources.jsonl"
    if out.resolve().parent != root.resolve():
        raise ManifestError(f"{out}: write the manifest into {root} (paths in it are relative to it)")
    return write_jsonl(out, dnr_records(root))
