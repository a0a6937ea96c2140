"""The latent loss for sources that are there and for sources left out of a mixture."""

from __future__ import annotations

import pytest
import torch

from codecsep_mm.train.loss import ABSENT_ERROR_FLOOR, latent_nmse


def test_a_left_out_source_is_scored_by_the_share_of_the_mixture_let_through():
    mixture = torch.ones(3, 2, 5)
    target = torch.stack([0.5 * torch.ones(2, 5), torch.zeros(2, 5), torch.zeros(2, 5)])
    estimate = torch.stack([0.25 * torch.ones(2, 5), 0.5 * torch.ones(2, 5), torch.zeros(2, 5)])
    absent = torch.tensor([False, True, True])
    error = latent_nmse(estimate, target, absent=absent, mixture=mixture)
    assert error[0] == pytest.approx(0.25)  # (0.25)^2 / (0.5)^2, as without absent items
    assert error[1] == pytest.approx(0.25)  # it let a quarter of the mixture's energy through
    assert error[2] == pytest.approx(ABSENT_ERROR_FLOOR)  # silence counts down to the floor only
    assert torch.equal(latent_nmse(estimate[:1], target[:1]), error[:1])
    with pytest.raises(ValueError, match="mixture latent"):
        latent_nmse(estimate, target, absent=absent)


def test_the_floor_for_left_out_sources_can_be_raised():
    mixture = torch.ones(2, 2, 5)
    target = torch.zeros(2, 2, 5)
    estimate = torch.stack([0.5 * torch.ones(2, 5), 0.1 * torch.ones(2, 5)])
    absent = torch.tensor([True, True])
    error = latent_nmse(estimate, target, absent=absent, mixture=mixture, absent_floor=0.1)
    assert error[0] == pytest.approx(0.25)  # above the floor: the share itself
    assert error[1] == pytest.approx(0.1)  # 1 % let through counts as 10 %, the floor (-10 dB)
