"""Separation metrics from maintained implementations (torchmetrics), scored in fixed-length chunks.

- SI-SDR: zero-mean scale-invariant SDR (Le Roux et al., 2019), as in the CodecSep paper.
- SI-SDRi: SI-SDR of the estimate minus SI-SDR of the mixture used as the estimate.
- SDR: BSS-eval-style SDR with a 512-tap distortion filter (torchmetrics ``signal_distortion_ratio``).

The paper scores in 10 s chunks; signals longer than ``chunk_seconds`` are cut into chunks (a last
chunk shorter than 1 s joins the one before) and the chunk scores are averaged.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MIN_TAIL_SECONDS = 1.0


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Zero-mean SI-SDR in dB of one mono signal. Shapes: ``(samples,)``."""
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    return float(scale_invariant_signal_distortion_ratio(
        torch.from_numpy(np.asarray(estimate, dtype=np.float64)),
        torch.from_numpy(np.asarray(reference, dtype=np.float64)), zero_mean=True))


def sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SDR in dB (distortion filter of 512 taps). Shapes: ``(samples,)``."""
    from torchmetrics.functional.audio import signal_distortion_ratio

    estimate_t = torch.from_numpy(np.asarray(estimate, dtype=np.float64))
    reference_t = torch.from_numpy(np.asarray(reference, dtype=np.float64))
    value = float(signal_distortion_ratio(estimate_t, reference_t))
    if math.isfinite(value):
        return value
    # A near-perfect estimate makes the distortion filter's system singular, and some BLAS builds
    # then return NaN: solve it again with a diagonal load of 1e-10 of the reference's energy.
    load = 1e-10 * float(reference_t.pow(2).sum()) + 1e-20
    return float(signal_distortion_ratio(estimate_t, reference_t, load_diag=load))


def chunked(metric, estimate: np.ndarray, reference: np.ndarray, sample_rate: int,
            chunk_seconds: float = 10.0) -> float:
    """``metric`` averaged over ``chunk_seconds`` chunks of mono signals ``(samples,)``."""
    size = int(chunk_seconds * sample_rate)
    n = len(reference)
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_TAIL_SECONDS * sample_rate:
        del bounds[-2]
    scores = [metric(estimate[a:b], reference[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return float(np.mean(scores))


def score(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray, sample_rate: int,
          chunk_seconds: float = 10.0, with_sdr: bool = True, baseline: float | None = None) -> dict[str, float]:
    """SI-SDR, SI-SDRi and SDR of one stem estimate against its reference (mono arrays).

    ``baseline`` is the mixture's SI-SDR against the reference, when already known (it is the same
    for every estimate of one source)."""
    estimate, reference, mixture = (mono(x) for x in (estimate, reference, mixture))
    value = chunked(si_sdr, estimate, reference, sample_rate, chunk_seconds)
    if baseline is None:
        baseline = chunked(si_sdr, mixture, reference, sample_rate, chunk_seconds)
    result = {"si_sdr": value, "si_sdri": value - baseline, "mixture_si_sdr": baseline}
    if with_sdr:
        result["sdr"] = chunked(sdr, estimate, reference, sample_rate, chunk_seconds)
    return result


def mono(x: np.ndarray) -> np.ndarray:
    """Channels averaged: ``(c, s)`` or ``(s,)`` -> ``(s,)`` float64."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=0) if x.ndim == 2 else x


def stem_energies(
    estimate: np.ndarray, references: list[np.ndarray], window: int | None = None
) -> np.ndarray:
    """The energy of each reference stem in ``estimate``, then that of the part no stem explains
    (artefacts): a least-squares fit of ``estimate`` by the stems, made in each ``window``
    (samples) on its own when given (see :func:`stem_shares`). Mono arrays; the shortest length
    is used. Divided by a stem's own energy, its entry says how much of that source the estimate
    carries."""
    estimate = mono(estimate)
    stems = [mono(r) for r in references]
    n = min(len(estimate), *(len(s) for s in stems))
    step = window or n
    energies = np.zeros(len(stems) + 1)
    for start in range(0, n, step):
        part = estimate[start : start + step]
        basis = np.stack([s[start : start + step] for s in stems], axis=1)
        coefficients, *_ = np.linalg.lstsq(basis, part, rcond=None)
        fitted = basis * coefficients[None, :]
        energies[:-1] += (fitted**2).sum(axis=0)
        energies[-1] += ((part - fitted.sum(axis=1)) ** 2).sum()
    return energies


def stem_shares(
    estimate: np.ndarray, references: list[np.ndarray], window: int | None = None
) -> np.ndarray:
    """Where an estimate's energy comes from: least-squares fit of ``estimate`` by the mixture's
    reference stems, returned as shares ``(len(references) + 1,)`` summing to 1: the energy of each
    fitted stem ``c_j * s_j``, then the part no stem explains (artefacts). An estimate for source 0
    that is mostly the music stem gets a large share in the music column: leakage, which SI-SDR
    alone does not name. With ``window`` (samples) the fit is made in each window on its own, so
    that a stem let through only at times counts as that stem, not as artefacts (a stem let through
    with another spectrum still counts as artefacts). Mono arrays; the shortest length is used."""
    return energy_shares(stem_energies(estimate, references, window))


def energy_shares(energies: np.ndarray) -> np.ndarray:
    """:func:`stem_energies` as shares summing to 1 (equal shares for a silent estimate)."""
    total = energies.sum()
    return energies / total if total > 0 else np.full(len(energies), 1.0 / len(energies))
