"""Score a Separator on fixed, rendered mixtures the way the CodecSep paper does, and more.

For every mixture of a mixture manifest (see :mod:`codecsep_mm.data.manifest`) and every source in it,
the source is extracted once per prompt kind:

- ``class``: the class word ("speech", "music", "sound effects");
- ``label`` / ``caption``: the source's fine label and its caption;
- ``audio``: its audio-query clip (another recording of the same sound), when the manifest has one and
  the model has an audio prompt encoder;
- ``image``: its image query, likewise.

All prompts of a mixture go through one ``separate`` call (one codec-encoder pass). Each estimate is
scored against its reference stem (SI-SDR, SI-SDRi, SDR; :mod:`codecsep_mm.eval.metrics`). Two
reference points come with it: the codec-resynthesis upper bound (``decode(encode(source))``, the best
a latent mask could do if it were perfect and the codec transparent to masking) and the
mixture-as-estimate baseline (SI-SDRi = 0 by definition).

With ``mode="codes"`` the same is scored in code-stream mode: each mixture is encoded to codes
(``encode_codes``), separated there (``separate_codes``) and the stems decoded; the upper bound is then
the codes' resynthesis (``decode_codes(encode_codes(source))``), which the quantizer limits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codecsep_mm.data.manifest import CLASS_WORDS, CLASSES, MixtureRecord, MixtureSource
from codecsep_mm.eval.metrics import chunked, mono, score, sdr, si_sdr

PROMPT_KINDS = ("class", "label", "caption", "audio", "image")
MODES = ("wave", "codes")
MODALITY = {"class": "text", "label": "text", "caption": "text", "audio": "audio", "image": "image"}


@dataclass
class EvalResults:
    """Rows per (mixture, source, prompt kind) and the reference points, with summaries.

    Attributes:
        rows: one dict per scored estimate (id, source, class, label, open_vocabulary, kind,
            prompt, si_sdr, si_sdri, sdr, mixture_si_sdr).
        upper_bound: one dict per source (id, source, class, si_sdr, sdr) of the codec resynthesis.
        skipped: prompt kinds that could not be scored, with the reason.
        info: model, manifest and settings.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    upper_bound: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Means by prompt kind and class, over the classes, for open-vocabulary labels, and the
        reference points."""
        by_kind: dict[str, Any] = {}
        for kind in PROMPT_KINDS:
            rows = [r for r in self.rows if r["kind"] == kind]
            if not rows:
                continue
            per_class = {c: _means([r for r in rows if r["class"] == c]) for c in CLASSES}
            per_class = {c: v for c, v in per_class.items() if v["n"]}
            entry = {"classes": per_class,
                     "mean_over_classes": {m: float(np.mean([v[m] for v in per_class.values()]))
                                           for m in ("si_sdr", "si_sdri", "sdr")
                                           if all(m in v for v in per_class.values())}}
            open_rows = [r for r in rows if r["open_vocabulary"]]
            if open_rows:
                entry["open_vocabulary"] = _means(open_rows)
            by_kind[kind] = entry
        upper = {c: _means([u for u in self.upper_bound if u["class"] == c], ("si_sdr", "sdr"))
                 for c in CLASSES}
        baseline = {}
        for c in CLASSES:
            values = {(r["id"], r["source"]): r["mixture_si_sdr"] for r in self.rows if r["class"] == c}
            if values:
                baseline[c] = {"si_sdr": float(np.mean(list(values.values()))), "n": len(values)}
        return {"by_kind": by_kind, "upper_bound": {c: v for c, v in upper.items() if v["n"]},
                "mixture_baseline": baseline, "skipped": self.skipped,
                "n_mixtures": len({r["id"] for r in self.rows})}


@dataclass
class Separated:
    """One mixture separated with every prompt ``separate_each`` found for its sources.

    Attributes:
        record: the mixture's manifest record.
        mixture, sample_rate: the mixture as loaded.
        references: each source's reference stem, in the record's order.
        jobs: ``(source index, prompt kind, prompt)`` per estimate.
        estimates: the stems, one per job, ``(n, samples)``.
    """

    record: MixtureRecord
    mixture: np.ndarray
    sample_rate: int
    references: list[np.ndarray]
    jobs: list[tuple[int, str, Any]]
    estimates: np.ndarray


def separate_each(
    separator, records: Iterable[MixtureRecord], kinds: Sequence[str], mode: str = "wave"
) -> Iterator[Separated]:
    """Separate each mixture once, with the prompt of every kind in ``kinds`` that each source has
    (one ``separate`` call, one codec-encoder pass, per mixture; ``mode="codes"``: in code-stream
    mode); mixtures without any are skipped. The loop under ``evaluate`` and the benchmark scripts
    that score or inspect the same stems."""
    from codecsep_mm.audio import load_audio

    for record in records:
        jobs = [(i, kind, prompt) for i, source in enumerate(record.sources) for kind in kinds
                if (prompt := _prompt(source, kind)) is not None]
        if not jobs:
            continue
        mixture, rate = load_audio(record.mixture)
        references = [load_audio(s.path)[0] for s in record.sources]
        prompts = [p for _, _, p in jobs]
        if mode == "codes":
            estimates = _separate_codes(separator, mixture, rate, prompts)
        else:
            estimates = separator.separate(mixture, prompts, sample_rate=rate).stems
        yield Separated(record, mixture, rate, references, jobs, estimates)


def _separate_codes(separator, mixture: np.ndarray, sample_rate: int, prompts: list) -> np.ndarray:
    """Code-stream mode: ``(n_prompts, channels, samples)`` decoded stems. Prompts that describe
    alike (two sources of one class) are separated once and their stem scored against each source."""
    unique = {prompt.describe(): prompt for prompt in prompts}
    stems = separator.separate_codes(separator.encode_codes(mixture, sample_rate), list(unique.values()))
    decoded = {label: separator.decode_codes(stream) for label, stream in stems.items()}
    return np.stack([decoded[prompt.describe()] for prompt in prompts])


def evaluate(
    separator,
    records: Sequence[MixtureRecord],
    kinds: Sequence[str] = PROMPT_KINDS,
    chunk_seconds: float = 10.0,
    with_sdr: bool = True,
    upper_bound: bool = True,
    progress: bool = False,
    mode: str = "wave",
) -> EvalResults:
    """Score ``separator`` on ``records`` for each prompt kind, in wave or code-stream ``mode`` (see
    the module docstring)."""
    from codecsep_mm.errors import ConfigError

    if not kinds:
        raise ConfigError(f"no prompt kinds to score; give one or more of {list(PROMPT_KINDS)}")
    if not 0.0 < float(chunk_seconds) < math.inf:
        raise ConfigError(f"chunk_seconds is {chunk_seconds}; give a scoring chunk length above 0 seconds "
                          "(paper: 10)")
    unknown = [k for k in kinds if k not in PROMPT_KINDS]
    if unknown:
        raise ConfigError(f"unknown prompt kinds {unknown}; valid: {list(PROMPT_KINDS)}")
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid: {list(MODES)}")
    results = EvalResults()
    kinds = [k for k in kinds if _usable(separator, k, results.skipped)]
    for done in separate_each(separator, _progress(records, progress), kinds, mode):
        record, mixture, rate, references = done.record, done.mixture, done.sample_rate, done.references
        baselines: dict[int, float] = {}  # the mixture's SI-SDR per source, computed once
        for (index, kind, prompt), estimate in zip(done.jobs, done.estimates):
            source = record.sources[index]
            scores = score(estimate, references[index], mixture, rate, chunk_seconds, with_sdr,
                           baseline=baselines.get(index))
            baselines[index] = scores["mixture_si_sdr"]
            results.rows.append({
                "id": record.id, "source": index, "class": source.cls, "label": source.label,
                "open_vocabulary": source.open_vocabulary, "kind": kind,
                "prompt": prompt.describe(), **scores,
            })
        if upper_bound:
            for index, source in enumerate(record.sources):
                resynth = mono(codec_resynthesis(separator, references[index], rate, mode))
                reference = mono(references[index])
                results.upper_bound.append({
                    "id": record.id, "source": index, "class": source.cls,
                    "si_sdr": chunked(si_sdr, resynth, reference, rate, chunk_seconds),
                    "sdr": chunked(sdr, resynth, reference, rate, chunk_seconds) if with_sdr else None,
                })
    return results


def codec_resynthesis(separator, wav: np.ndarray, sample_rate: int, mode: str = "wave") -> np.ndarray:
    """``decode(encode(wav))`` with the model's codec (continuous latent, as wave mode masks it), or
    with ``mode="codes"`` ``decode_codes(encode_codes(wav))`` (through the quantizer).

    ``wav: (channels, samples)`` at ``sample_rate`` -> the same shape and rate.
    """
    import torch

    from codecsep_mm.audio import resample

    if mode == "codes":
        return separator.decode_codes(separator.encode_codes(wav, sample_rate))

    codec = separator.codec
    at_codec = resample(wav, sample_rate, codec.sample_rate)
    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(at_codec, dtype=np.float32))[:, None].to(separator.device)
        decoded = codec.decode(codec.encode(batch))[:, 0, : at_codec.shape[-1]].cpu().numpy()
    back = resample(decoded, codec.sample_rate, sample_rate)
    out = np.zeros_like(wav)
    n = min(out.shape[-1], back.shape[-1])
    out[:, :n] = back[:, :n]
    return out


def _prompt(source: MixtureSource, kind: str):
    from codecsep_mm.prompts.query import Prompt

    if kind == "class":
        return Prompt.text(CLASS_WORDS[source.cls])
    if kind in ("label", "caption"):
        text = getattr(source, kind)
        return Prompt.text(text) if text else None
    if kind == "audio":
        return Prompt.audio(source.audio_query) if source.audio_query else None
    return Prompt.image(source.image_query) if source.image_query else None


def _usable(separator, kind: str, skipped: dict[str, str]) -> bool:
    modality = MODALITY[kind]
    if modality in separator.encoders:
        return True
    skipped[kind] = f"the model has no {modality} prompt encoder"
    return False


def _means(rows: list[dict[str, Any]], metrics=("si_sdr", "si_sdri", "sdr")) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for metric in metrics:
        values = [r[metric] for r in rows if r.get(metric) is not None]
        if values:
            out[metric] = float(np.mean(values))
            out[f"{metric}_median"] = float(np.median(values))
    return out


def _progress(items, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc="eval", unit="mixture", disable=not enabled)
