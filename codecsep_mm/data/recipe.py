"""Draw a fixed benchmark recipe of 3-source test mixtures (speech + music + sfx) from a corpus.

Per mixture (generator seeded by ``(seed, index)``, so the recipe is a pure function of the corpus
test split and the seed):

1. pick a speech clip, a music track and a sound effect from the **test** split (non-synthetic).
   Sound effects are drawn label first: an open-vocabulary label (one training never sees) with
   probability ``open_vocabulary_share``, else a label training also has, each label equally likely;
2. cut ``seconds`` of music from a random point past the first 10 % of the track; place the
   shorter speech and sfx clips at random onsets (longer ones are cut at a random point); redraw a
   cut that is nearly silent;
3. bring each source to -23 dBFS RMS over its active frames, then apply a gain drawn uniformly in
   ``±max_gain_db / 2`` (default ±2.5 dB, so the relative gain of any two sources is within
   ±5 dB); scale all stems together when the mixture would peak above -1 dBFS;
4. attach an audio query (another recording of the same label, not the stem itself, preferring
   another recording group and the test split) and the tuxpaint picture when there is one.

The gains are stored exactly, and ``pcm_sha256`` of the rendered mixture is recorded, so
:func:`~codecsep_mm.data.render.render_recipe` can check a render bit for bit.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codecsep_mm.data.corpus import SAMPLE_RATE, read_corpus
from codecsep_mm.data.manifest import SourceRecord
from codecsep_mm.data.packages import CorpusError
from codecsep_mm.data.render import CorpusReader, pcm_sha256, render_stems
from codecsep_mm.data.split import labels_only_in_test
from codecsep_mm.errors import is_whole

TARGET_DBFS = -23.0
PEAK_LIMIT = 10 ** (-1.0 / 20)
MAX_TRIES = 20
QUERY_SECONDS = 5.0
# "valid": the same kind of mixtures from the validation split, to tune and select models on
# without touching the test split (it has no open-vocabulary labels: those exist only in test).
RECIPE_SPLITS = ("test", "valid")


@dataclass(frozen=True)
class RecipeConfig:
    n_mixtures: int = 300
    seconds: float = 5.0
    seed: int = 20250917
    max_gain_db: float = 5.0
    prefix: str = "openmix"
    open_vocabulary_share: float = 0.3
    split: str = "test"
    music_min_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.split not in RECIPE_SPLITS:
            raise CorpusError(f"recipe split {self.split!r}; choose one of {list(RECIPE_SPLITS)}")
        if not 0 <= self.music_min_seconds < math.inf:
            raise CorpusError("music_min_seconds must be 0 (every music recording) or more")
        if not is_whole(self.n_mixtures) or self.n_mixtures < 1:
            raise CorpusError(f"a recipe of {self.n_mixtures!r} mixtures; give at least 1")
        if not 1.0 <= self.seconds <= 600.0:
            raise CorpusError(f"mixtures of {self.seconds} s; give 1 to 600 seconds")
        if not 0.0 <= self.max_gain_db <= 40.0 or not 0.0 <= self.open_vocabulary_share <= 1.0:
            raise CorpusError("max_gain_db must be 0 to 40 dB and open_vocabulary_share 0 to 1")


def make_recipe(
    corpus: str | Path, config: RecipeConfig = RecipeConfig(), log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """The recipe lines for ``config.n_mixtures`` mixtures drawn from the corpus split
    ``config.split`` (the test split unless told otherwise)."""
    corpus = Path(corpus)
    records = [r for r in read_corpus(corpus) if not r.synthetic]
    # open vocabulary: sound-effect labels that training and validation never see
    open_labels = {("sfx", label) for label in labels_only_in_test(records).get("sfx", [])}
    chosen_split = [r for r in records if r.split == config.split]
    pools = {c: [r for r in chosen_split if r.cls == c] for c in ("speech", "music", "sfx")}
    if config.music_min_seconds > 0:  # music tracks only, no one-shot samples
        pools["music"] = [r for r in pools["music"] if (r.duration or 0) >= config.music_min_seconds]
    for cls, pool in pools.items():
        if not pool:
            longer = (
                f" of at least {config.music_min_seconds:g} s"
                if cls == "music" and config.music_min_seconds else ""
            )
            raise CorpusError(
                f"{corpus}: the {config.split} split has no {cls} recordings{longer}; "
                "build with --set full"
            )
    sfx_by_label: dict[str, list[SourceRecord]] = defaultdict(list)
    for record in pools["sfx"]:
        sfx_by_label[record.label or "sfx"].append(record)
    seen = sorted(label for label in sfx_by_label if ("sfx", label) not in open_labels)
    unseen = sorted(label for label in sfx_by_label if ("sfx", label) in open_labels)
    sfx_labels = (seen, unseen, config.open_vocabulary_share)
    reader = CorpusReader(corpus)
    by_label: dict[tuple[str, str], list[SourceRecord]] = defaultdict(list)
    for record in records:
        by_label[(record.cls, record.label or record.cls)].append(record)
    n_samples = int(round(config.seconds * SAMPLE_RATE))
    lines = []
    pickers = {
        "speech": lambda rng: _pick_speech(pools["speech"], rng),
        "music": lambda rng: pools["music"][int(rng.integers(len(pools["music"])))],
        "sfx": lambda rng: _pick_sfx(sfx_by_label, sfx_labels, rng),
    }
    for index in range(config.n_mixtures):
        rng = np.random.default_rng([config.seed, index])
        chosen = [pickers[cls](rng) for cls in ("speech", "music", "sfx")]
        mixture_id = f"{config.prefix}-{index + 1:04d}"
        line = _mixture_line(mixture_id, chosen, n_samples, config, reader, rng, pickers)
        for source, record in zip(line["sources"], chosen):
            source["open_vocabulary"] = (record.cls, record.label) in open_labels
            query = _query_for(record, by_label, rng, config.split)
            source["audio_query"] = _query_entry(query, reader) if query else None
            source["image_query"] = (
                {"path": record.image, "sha256": _sha(corpus / record.image)}
                if record.image
                else None
            )
        mixture, stems = render_stems(line, reader)
        line["pcm_sha256"] = pcm_sha256(mixture)
        for source, stem in zip(line["sources"], stems):
            source["pcm_sha256"] = pcm_sha256(stem)
        lines.append(line)
        if (index + 1) % 50 == 0:
            log(f"  recipe: {index + 1}/{config.n_mixtures}")
    return lines


def _pick_speech(pool: list[SourceRecord], rng) -> SourceRecord:
    by_group: dict[str, list[SourceRecord]] = defaultdict(list)
    for record in pool:
        by_group[record.group or record.path].append(record)
    groups = sorted(by_group)
    members = by_group[groups[int(rng.integers(len(groups)))]]
    return members[int(rng.integers(len(members)))]


def _pick_sfx(by_label, labels, rng) -> SourceRecord:
    """An open-vocabulary label with probability ``share`` (else a seen one), then a recording."""
    seen, unseen, share = labels
    pool = unseen if (rng.random() < share and unseen) or not seen else seen
    members = by_label[pool[int(rng.integers(len(pool)))]]
    return members[int(rng.integers(len(members)))]


def _mixture_line(mixture_id, chosen, n_samples, config, reader, rng, pickers):
    sources = []
    for k, record in enumerate(chosen):
        for _ in range(MAX_TRIES):
            offset, length, onset, segment = _cut(record, n_samples, reader, rng)
            level = _active_rms(segment)
            if level > 10 ** (-50 / 20):
                break
            record = pickers[record.cls](rng)
            chosen[k] = record
        else:
            raise CorpusError(
                f"{mixture_id}: found no audible {record.cls} cut in {MAX_TRIES} tries"
            )
        gain_db = float(rng.uniform(-config.max_gain_db / 2, config.max_gain_db / 2))
        gain = 10 ** ((TARGET_DBFS + gain_db) / 20) / level
        sources.append(
            {
                "class": record.cls,
                "label": record.label,
                "caption": record.caption,
                "path": record.path,
                "sha256": record.sha256,
                "package": record.package,
                "package_version": record.package_version,
                "licence": record.licence,
                "origin": record.origin,
                "offset": offset,
                "length": length,
                "onset": onset,
                "gain": gain,
                "gain_db": round(gain_db, 3),
                "_segment": segment,
            }
        )
    placed = np.zeros(n_samples)
    for source in sources:
        segment = source.pop("_segment")
        placed[source["onset"] : source["onset"] + len(segment)] += segment * source["gain"]
    peak = float(np.abs(placed).max())
    if peak > PEAK_LIMIT:
        for source in sources:
            source["gain"] = source["gain"] * PEAK_LIMIT / peak
    return {
        "id": mixture_id,
        "sample_rate": SAMPLE_RATE,
        "n_samples": n_samples,
        "sources": sources,
    }


def _cut(record: SourceRecord, n_samples: int, reader: CorpusReader, rng):
    total = reader.frames(record.path)
    if total >= n_samples:
        skip = int(total * 0.1) if record.cls == "music" else 0
        offset = int(rng.integers(skip, max(skip + 1, total - n_samples + 1)))
        length, onset = n_samples, 0
    else:
        offset, length = 0, total
        onset = int(rng.integers(0, n_samples - total + 1))
    segment = reader.segment(
        {
            "path": record.path,
            "sha256": record.sha256,
            "offset": offset,
            "length": length,
            "package": record.package,
        }
    )
    return offset, length, onset, segment


def _active_rms(segment: np.ndarray, frame: int = 400) -> float:
    """RMS over the frames within 40 dB of the loudest frame (the "active" part)."""
    n = len(segment) // frame * frame
    if n == 0:
        return float(np.sqrt(np.mean(segment**2))) if len(segment) else 0.0
    frames = np.sqrt(np.mean(segment[:n].reshape(-1, frame) ** 2, axis=1))
    active = frames[frames > frames.max() * 10 ** (-40 / 20)]
    return float(np.sqrt(np.mean(active**2))) if len(active) else 0.0


def _query_for(record: SourceRecord, by_label, rng, split: str = "test") -> SourceRecord | None:
    """Another recording of the same label, never the stem itself: from another group of the
    recipe's split first, then from that split, then from another group of any split."""
    others = [r for r in by_label[(record.cls, record.label)] if r.path != record.path]
    if not others:
        return None
    for keep in (
        lambda r: r.group != record.group and r.split == split,
        lambda r: r.split == split,
        lambda r: r.group != record.group,
        lambda r: True,
    ):
        candidates = [r for r in others if keep(r)]
        if candidates:
            return candidates[int(rng.integers(len(candidates)))]
    return None


def _query_entry(record: SourceRecord, reader: CorpusReader) -> dict[str, Any]:
    length = min(reader.frames(record.path), int(QUERY_SECONDS * SAMPLE_RATE))
    return {
        "path": record.path,
        "sha256": record.sha256,
        "offset": 0,
        "length": length,
        "package": record.package,
        "package_version": record.package_version,
        "label": record.label,
        "split": record.split,
    }


def _sha(path: Path) -> str:
    from codecsep_mm.data.corpus import sha256_of

    return sha256_of(path)


def write_recipe(
    lines: list[dict[str, Any]], path: str | Path, meta: dict[str, Any] | None = None
) -> Path:
    """Write the recipe as JSON Lines (and ``<name>.meta.json`` beside it when ``meta`` is given)."""
    from codecsep_mm.audio import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(
            "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8"
        )
        os.chmod(tmp, 0o644)
    if meta is not None:
        meta_path = path.with_suffix(".meta.json")
        meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return path


def recipe_meta(
    corpus: str | Path, config: RecipeConfig, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a recipe was drawn from: options, package versions, label counts."""
    from dataclasses import asdict

    from codecsep_mm.data.corpus import BUILD_INFO

    info_path = Path(corpus) / BUILD_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    sources = [s for line in lines for s in line["sources"]]
    labels: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in sources:
        labels[s["class"]][s["label"]] += 1
    used = sorted(
        {s["package"] for s in sources}
        | {s["audio_query"]["package"] for s in sources if s.get("audio_query")}
    )
    return {
        "recipe": asdict(config),
        "command": (
            f"codecsep-mm data make-recipe --corpus CORPUS --out RECIPE --n {config.n_mixtures} "
            f"--seconds {config.seconds} --seed {config.seed}"
            + (f" --split {config.split} --prefix {config.prefix}" if config.split != "test" else "")
            + (f" --music-min-seconds {config.music_min_seconds:g}" if config.music_min_seconds else "")
        ),
        "corpus_options": info.get("options"),
        "package_versions": {p: info.get("packages", {}).get(p) for p in used},
        "n_mixtures": len(lines),
        "n_open_vocabulary_sources": sum(1 for s in sources if s.get("open_vocabulary")),
        "n_audio_queries": sum(1 for s in sources if s.get("audio_query")),
        "n_image_queries": sum(1 for s in sources if s.get("image_query")),
        "labels": {c: dict(sorted(v.items())) for c, v in sorted(labels.items())},
    }
