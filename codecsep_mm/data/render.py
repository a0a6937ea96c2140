"""Render a benchmark recipe into mixtures, stems and queries, bit-exactly, from a built corpus.

A **recipe** (``benchmarks/openmix/recipe.jsonl``) has one mixture per line; every number needed to
render it is stored as an integer sample index or an exact float gain::

    {"id": "openmix-0001", "sample_rate": 16000, "n_samples": 80000, "pcm_sha256": "...",
     "sources": [{"class": "sfx", "label": "dog", "caption": "a dog barking",
                  "path": "audio/tuxpaint-stamps-default/.../dog.ogg.flac", "sha256": "...",
                  "package": "...", "package_version": "...", "licence": "GPL-2",
                  "offset": 0, "length": 24000, "onset": 17000, "gain": 0.31, "gain_db": 1.2,
                  "open_vocabulary": false, "pcm_sha256": "...",
                  "audio_query": {"path": "...", "sha256": "...", "offset": 0, "length": 16000},
                  "image_query": {"path": "images/...png", "sha256": "..."}}, ...]}

Each stem is ``gain * source[offset:offset+length]`` placed at ``onset`` and quantised to 24 bits;
the mixture is the integer sum of the stems, so it equals the sum of the stems exactly (also after
reading the files back as float32). ``pcm_sha256`` is the sha256 of those 24-bit integers
(little-endian int32), so a render is checked independently of the FLAC encoder.

The output folder holds ``mixtures.jsonl`` (the mixture manifest that ``codecsep-mm eval`` reads),
``mixtures/<id>.flac``, ``stems/<id>/<k>-<class>.flac`` and ``queries/<id>-<k>.{flac,png}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codecsep_mm.data.manifest import MixtureRecord, MixtureSource, write_jsonl
from codecsep_mm.data.packages import CorpusError

FULL_SCALE_24 = 2**23
MIXTURE_MANIFEST = "mixtures.jsonl"


class RecipeError(CorpusError):
    """A recipe line that cannot be rendered: bad fields, missing or changed corpus files."""


def read_recipe(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a recipe, checked for the fields rendering needs."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe; check the path")
    lines = []
    for line_no, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecipeError(f"{path}:{line_no}: not valid JSON ({error.msg})") from error
        for key in ("id", "sample_rate", "n_samples", "sources"):
            if key not in data:
                raise RecipeError(f"{path}:{line_no}: missing key {key!r}")
        for source in data["sources"]:
            for key in ("class", "path", "sha256", "offset", "length", "onset", "gain"):
                if key not in source:
                    raise RecipeError(f"{path}:{line_no}: a source lacks key {key!r}")
        lines.append(data)
    if not lines:
        raise RecipeError(f"{path}: the recipe holds no mixtures")
    return lines


def pcm_sha256(samples: np.ndarray) -> str:
    """sha256 of integer samples as little-endian int32."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype="<i4").tobytes()).hexdigest()


class CorpusReader:
    """Reads corpus files for rendering, checking each file's sha256 once."""

    def __init__(self, corpus: str | Path):
        self.corpus = Path(corpus)
        if not self.corpus.is_dir():
            raise RecipeError(
                f"{self.corpus}: no such corpus folder; build it with "
                f"`codecsep-mm data build --set full --out {self.corpus}`"
            )
        self._checked: dict[str, str] = {}

    def check(self, entry: dict[str, Any]) -> Path:
        path = self.corpus / entry["path"]
        if not path.is_file():
            package = entry.get("package", "the package named in the recipe")
            version = entry.get("package_version", "?")
            raise RecipeError(
                f"{path} is missing from the corpus: it comes from Debian package {package} "
                f"({version}); rebuild with `codecsep-mm data build --set full --out {self.corpus}`"
            )
        if entry["path"] not in self._checked:
            from codecsep_mm.data.corpus import sha256_of

            self._checked[entry["path"]] = sha256_of(path)
        if self._checked[entry["path"]] != entry["sha256"]:
            raise RecipeError(
                f"{path}: sha256 differs from the recipe (the corpus was built from another "
                f"version of {entry.get('package', 'its package')}); rebuild the corpus with the "
                "package versions listed in the recipe's meta file"
            )
        return path

    def frames(self, relative: str) -> int:
        import soundfile as sf

        return int(sf.info(str(self.corpus / relative)).frames)

    def segment(self, entry: dict[str, Any]) -> np.ndarray:
        """``length`` samples from ``offset``, float64, exactly as stored (16-bit grid)."""
        import soundfile as sf

        path = self.check(entry)
        data, _ = sf.read(
            str(path),
            start=int(entry["offset"]),
            frames=int(entry["length"]),
            dtype="float64",
            always_2d=True,
        )
        if data.shape[0] != int(entry["length"]):
            raise RecipeError(f"{path}: shorter than the recipe says; rebuild the corpus")
        return data[:, 0]


def render_stems(line: dict[str, Any], reader: CorpusReader) -> tuple[np.ndarray, list[np.ndarray]]:
    """The 24-bit integer mixture and stems of one recipe line. Pure: same input, same bits."""
    n_samples = int(line["n_samples"])
    stems = []
    for source in line["sources"]:
        placed = np.zeros(n_samples, dtype=np.float64)
        segment = reader.segment(source)
        onset = int(source["onset"])
        end = min(n_samples, onset + len(segment))
        placed[onset:end] = segment[: end - onset] * float(source["gain"])
        stems.append(
            np.clip(np.round(placed * FULL_SCALE_24), -FULL_SCALE_24 + 1, FULL_SCALE_24 - 1).astype(
                np.int64
            )
        )
    mixture = np.sum(stems, axis=0)
    if np.abs(mixture).max() >= FULL_SCALE_24:
        raise RecipeError(f"{line['id']}: the mixture clips; the recipe's gains are wrong")
    return mixture.astype(np.int32), [s.astype(np.int32) for s in stems]


def _write_pcm24(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    from codecsep_mm.audio import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(
            str(tmp), samples.astype(np.int32) << 8, sample_rate, format="FLAC", subtype="PCM_24"
        )
        os.chmod(tmp, 0o644)


def _write_query(
    reader: CorpusReader, query: dict[str, Any], target: Path, sample_rate: int
) -> None:
    import soundfile as sf

    from codecsep_mm.audio import atomic_path

    clip = reader.segment(query)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        sf.write(str(tmp), clip, sample_rate, format="FLAC", subtype="PCM_16")
        os.chmod(tmp, 0o644)


def render_recipe(
    recipe: str | Path | Sequence[dict[str, Any]],
    corpus: str | Path,
    out: str | Path,
    log: Callable[[str], None] = print,
) -> Path:
    """Render every mixture of ``recipe`` into ``out``; return the mixture manifest's path.

    Raises:
        RecipeError: a missing corpus file (naming its Debian package), a checksum mismatch, or a
            render whose samples differ from the recipe's ``pcm_sha256``.
    """
    lines = read_recipe(recipe) if isinstance(recipe, (str, Path)) else list(recipe)
    reader = CorpusReader(corpus)
    out = Path(out)
    for line in lines:  # check every input before writing anything
        for source in line["sources"]:
            reader.check(source)
            for key in ("audio_query", "image_query"):
                if source.get(key):
                    reader.check(source[key])
    records = []
    for index, line in enumerate(lines, start=1):
        records.append(_render_line(line, reader, out))
        if index % 50 == 0:
            log(f"  rendered {index}/{len(lines)}")
    manifest = write_jsonl(out / MIXTURE_MANIFEST, records)
    os.chmod(manifest, 0o644)
    log(f"benchmark: {len(records)} mixtures in {out}")
    return manifest


def _render_line(line: dict[str, Any], reader: CorpusReader, out: Path) -> MixtureRecord:
    from codecsep_mm.data.corpus import sha256_of

    rate = int(line["sample_rate"])
    mixture, stems = render_stems(line, reader)
    if line.get("pcm_sha256") and pcm_sha256(mixture) != line["pcm_sha256"]:
        raise RecipeError(f"{line['id']}: rendered samples differ from the recipe's pcm_sha256")
    mixture_path = Path("mixtures") / f"{line['id']}.flac"
    _write_pcm24(out / mixture_path, mixture, rate)
    sources = []
    for k, (source, stem) in enumerate(zip(line["sources"], stems)):
        stem_path = Path("stems") / line["id"] / f"{k}-{source['class']}.flac"
        _write_pcm24(out / stem_path, stem, rate)
        audio_query = image_query = None
        if source.get("audio_query"):
            audio_query = Path("queries") / f"{line['id']}-{k}.flac"
            _write_query(reader, source["audio_query"], out / audio_query, rate)
        if source.get("image_query"):
            image_query = Path("queries") / f"{line['id']}-{k}.png"
            (out / image_query).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reader.check(source["image_query"]), out / image_query)
        sources.append(
            MixtureSource(
                path=stem_path.as_posix(),
                cls=source["class"],
                label=source.get("label"),
                caption=source.get("caption"),
                audio_query=audio_query.as_posix() if audio_query else None,
                image_query=image_query.as_posix() if image_query else None,
                open_vocabulary=bool(source.get("open_vocabulary", False)),
                sha256=sha256_of(out / stem_path),
            )
        )
    return MixtureRecord(
        id=line["id"],
        mixture=mixture_path.as_posix(),
        sources=tuple(sources),
        sample_rate=rate,
        sha256=sha256_of(out / mixture_path),
    )
