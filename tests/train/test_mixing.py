"""On-the-fly training mixtures: exact sums, loudness recipe, determinism, prompts."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from codecsep_mm.data.manifest import read_sources
from codecsep_mm.data.mixing import MixingConfig, MixtureDataset
from codecsep_mm.data.synthetic import synthetic_banks
from codecsep_mm.errors import ConfigError


def test_mixture_is_the_sum_of_its_stems_and_respects_the_peak(source_manifest):
    config = MixingConfig(crop_seconds=1.0)
    dataset = MixtureDataset.from_records(read_sources(source_manifest), config, "train", seed=3)
    for index in range(6):
        item = dataset[index]
        assert item.stems.shape == (3, 16000) and item.mixture.shape == (1, 16000)
        np.testing.assert_array_equal(item.mixture[0], item.stems.sum(0))
        assert np.abs(item.mixture).max() <= 10 ** (-0.5 / 20) + 1e-6
        assert item.classes == ["speech", "music", "sfx"]


def test_stem_loudness_follows_the_class_targets_when_there_is_headroom():
    config = MixingConfig(crop_seconds=2.0, gain_db=0.0, mixture_lufs=-40.0, peak_db=0.0)
    dataset = MixtureDataset(synthetic_banks(config.classes, 16000), config, seed=0)
    meter = pyloudnorm.Meter(16000)
    item = dataset[0]
    loudness = [meter.integrated_loudness(stem.astype(np.float64)) for stem in item.stems]
    # one common gain moves all stems: their differences are the class targets' differences
    assert loudness[0] - loudness[1] == pytest.approx(-17 - -24, abs=0.2)
    assert loudness[2] - loudness[1] == pytest.approx(-21 - -24, abs=0.2)
    assert meter.integrated_loudness(item.mixture[0].astype(np.float64)) == pytest.approx(-40, abs=0.2)


def test_items_are_a_function_of_seed_and_index():
    config = MixingConfig(crop_seconds=0.5)
    a = MixtureDataset(synthetic_banks(config.classes, 16000), config, seed=1)
    b = MixtureDataset(synthetic_banks(config.classes, 16000), config, seed=1)
    c = MixtureDataset(synthetic_banks(config.classes, 16000), config, seed=2)
    np.testing.assert_array_equal(a[5].mixture, b[5].mixture)
    assert a[5].prompts == b[5].prompts
    assert not np.array_equal(a[5].mixture, a[6].mixture)
    assert not np.array_equal(a[5].mixture, c[5].mixture)


def test_prompts_come_from_the_configured_fields_and_templates():
    banks = synthetic_banks(("speech", "music", "sfx"), 16000)
    only_labels = MixingConfig(crop_seconds=0.5, prompt_fields={"label": 1.0},
                               templates={"label": ["the sound of {}"]})
    labels = {r.label for bank in banks.values() for r in bank.records}
    prompts = {p for i in range(20) for p in MixtureDataset(banks, only_labels)[i].prompts}
    assert prompts <= {f"the sound of {label}" for label in labels} and len(prompts) > 3
    classes = MixingConfig(crop_seconds=0.5, prompt_fields={"class": 1.0})
    prompts = {p for i in range(10) for p in MixtureDataset(banks, classes)[i].prompts}
    assert prompts == {"speech", "music", "sound effects"}


def test_audio_queries_are_other_crops_of_the_same_recording():
    config = MixingConfig(crop_seconds=0.5, audio_query_prob=1.0)
    item = MixtureDataset(synthetic_banks(config.classes, 16000), config, seed=0)[0]
    for prompt, stem in zip(item.prompts, item.stems):
        kind, clip = prompt
        assert kind == "audio" and clip.shape == stem.shape


def test_a_silent_recording_is_described_instead_of_played_as_a_query():
    config = MixingConfig(crop_seconds=0.5, audio_query_prob=1.0)
    banks = synthetic_banks(config.classes, 16000)
    quiet = banks[config.classes[0]]
    quiet.crop = lambda index, n_samples, rng: np.zeros(n_samples, dtype=np.float32)
    item = MixtureDataset(banks, config, seed=0)[0]
    kinds = [prompt[0] if isinstance(prompt, tuple) else "text" for prompt in item.prompts]
    assert kinds[item.classes.index(config.classes[0])] == "text"
    assert kinds.count("audio") == len(kinds) - 1


def test_bad_mixing_settings():
    with pytest.raises(ConfigError, match="not in"):
        MixingConfig(classes=("speech", "noise"))
    with pytest.raises(ConfigError, match="placeholder"):
        MixingConfig(templates={"label": ["no slot"]})
    with pytest.raises(ConfigError, match="crop_seconds"):
        MixingConfig(crop_seconds=0.1)
