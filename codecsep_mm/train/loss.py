"""Training losses, named by their shape contract.

The waveform loss is the paper's: negative zero-mean SI-SDR on decoded waveforms, averaged over the
stems and the mixture reconstruction (the decoder applied to the sum of the masked latents). SI-SDR
comes from torchmetrics (a maintained implementation), and is differentiable.
"""

from __future__ import annotations

import torch


def neg_si_sdr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative zero-mean SI-SDR in dB.

    Shape:
        estimate, target: ``(..., samples)`` -> ``(...)``.
    """
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    return -scale_invariant_signal_distortion_ratio(estimate.float(), target.float(), zero_mean=True)


ABSENT_ERROR_FLOOR = 1e-3  # -30 dB: by default a silent target's error counts down to here, no further


def latent_nmse(estimate: torch.Tensor, target: torch.Tensor, eps: float = 1e-8,
                absent: torch.Tensor | None = None, mixture: torch.Tensor | None = None,
                absent_floor: float = ABSENT_ERROR_FLOOR) -> torch.Tensor:
    """Squared error normalised by the target's energy, per item.

    An item marked in ``absent`` has a silent target (a source left out of its mixture): its error
    is the estimate's energy over the ``mixture`` latent's (what share of the mixture it let
    through), floored at ``absent_floor`` so that silencing one prompt cannot outweigh separating
    the others.

    Shape:
        estimate, target, mixture: ``(batch, ..., channels, frames)``; absent: ``(batch, ...)``
        booleans -> ``(batch, ...)``.
    """
    error = (estimate.float() - target.float()).pow(2).sum(dim=(-2, -1))
    nmse = error / (target.float().pow(2).sum(dim=(-2, -1)) + eps)
    if absent is None or not bool(absent.any()):
        return nmse
    if mixture is None:
        raise ValueError("latent_nmse: absent items need the mixture latent to be scored against")
    share = estimate.float().pow(2).sum(dim=(-2, -1)) / (mixture.float().pow(2).sum(dim=(-2, -1)) + eps)
    return torch.where(absent, share.clamp_min(absent_floor), nmse)


def separation_loss(
    est_stems: torch.Tensor,
    stems: torch.Tensor,
    est_mixture: torch.Tensor | None = None,
    mixture: torch.Tensor | None = None,
) -> torch.Tensor:
    """The paper's waveform loss: mean of -SI-SDR over the k stems and the mixture reconstruction.

    Shape:
        est_stems, stems: ``(batch, k, samples)``; est_mixture, mixture: ``(batch, samples)``
        -> scalar.
    """
    terms = neg_si_sdr(est_stems, stems)  # (batch, k)
    if est_mixture is not None and mixture is not None:
        terms = torch.cat([terms, neg_si_sdr(est_mixture, mixture)[:, None]], dim=1)
    return terms.mean()
