"""The FiLM Transformer masker and its presets."""

from __future__ import annotations

import pytest
import torch

from codecsep_mm.errors import ConfigError, UnknownNameError
from codecsep_mm.masker import (
    FiLMTransformerMasker,
    MaskerConfig,
    count_parameters,
    masker_config,
)


def test_paper_preset_parameter_counts():
    counts = count_parameters(FiLMTransformerMasker(masker_config("codecsep-paper")))
    assert counts["masker"] == 15_260_672  # "about 15.3 M"
    assert counts["film"] == 5_253_120  # "about 5.25 M"


def test_paper_preset_architecture():
    config = masker_config("codecsep-paper")
    assert (config.d_model, config.n_layers, config.n_heads, config.ffn_dim) == (256, 16, 8, 1024)
    assert (config.latent_dim, config.cond_dim, config.max_len) == (1024, 512, 2500)
    assert (config.film, config.mask_activation, config.dropout) == ("shift", "snake", 0.1)
    masker = FiLMTransformerMasker(config)
    assert masker.conv_in.bias is None and masker.conv_up.bias is None
    assert hasattr(masker.conv_mid, "parametrizations")  # weight norm


def test_prompt_changes_the_mask_and_shapes_hold():
    torch.manual_seed(0)
    masker = FiLMTransformerMasker(masker_config("tiny")).eval()
    latent = torch.randn(1, 128, 40).repeat(2, 1, 1)
    cond = torch.nn.functional.normalize(torch.randn(2, 64), dim=-1)
    mask = masker(latent, cond)
    assert mask.shape == latent.shape
    assert (mask[0] - mask[1]).abs().mean() > 1e-3


def test_zero_film_init_makes_prompt_irrelevant_at_start():
    masker = FiLMTransformerMasker(masker_config("tiny", film_init="zero", film="scale_shift")).eval()
    latent = torch.randn(1, 128, 20).repeat(2, 1, 1)
    mask = masker(latent, torch.randn(2, 64))
    assert torch.allclose(mask[0], mask[1], atol=1e-6)


def test_config_roundtrip_and_errors():
    config = masker_config("default", cond_dim=384)
    assert MaskerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="valid keys"):
        MaskerConfig.from_dict({"d_modle": 3})
    with pytest.raises(UnknownNameError):
        masker_config("huge")
    with pytest.raises(ConfigError):
        masker_config("tiny", film="gate")


def test_too_long_input_and_wrong_cond_are_clear_errors():
    masker = FiLMTransformerMasker(masker_config("tiny", max_len=30))
    with pytest.raises(ConfigError, match="chunk"):
        masker(torch.randn(1, 128, 31), torch.randn(1, 64))
    with pytest.raises(ConfigError, match="conditioning"):
        masker(torch.randn(1, 128, 10), torch.randn(1, 32))


def test_a_log_magnitude_masker_reads_magnitudes_only():
    import torch

    from codecsep_mm.errors import ConfigError
    from codecsep_mm.masker import FiLMTransformerMasker, masker_config

    torch.manual_seed(0)
    masker = FiLMTransformerMasker(masker_config("tiny", input_transform="log-magnitude")).eval()
    latent, cond = torch.randn(2, 128, 20), torch.randn(2, 64)
    signs = torch.randint(0, 2, latent.shape) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(masker(latent, cond), masker(latent * signs, cond))
        plain = FiLMTransformerMasker(masker_config("tiny")).eval()
        assert not torch.allclose(plain(latent, cond), plain(latent * signs, cond))
    with pytest.raises(ConfigError, match="input_transform"):
        masker_config("tiny", input_transform="cube-root")
