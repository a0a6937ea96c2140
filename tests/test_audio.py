"""codecsep_mm.audio: loudness (ITU-R BS.1770)."""

from __future__ import annotations

import numpy as np
import pytest

from codecsep_mm.audio import _k_weighting, loudness_lufs, loudness_profile, profile_loudness


def test_k_weighting_at_48_khz_is_the_standards_filter():
    (shelf_b, shelf_a), (high_b, high_a) = _k_weighting(48000)
    assert np.allclose(shelf_b, [1.53512485958697, -2.69169618940638, 1.19839281085285])
    assert np.allclose(shelf_a, [1.0, -1.69065929318241, 0.73248077421585])
    assert np.allclose(high_b, [1.0, -2.0, 1.0])
    assert np.allclose(high_a, [1.0, -1.99004745483398, 0.99007225036621])


@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
def test_loudness_follows_level_channels_and_gates(sample_rate):
    rng = np.random.default_rng(0)
    noise = 0.1 * rng.standard_normal(3 * sample_rate)
    level = loudness_lufs(noise, sample_rate)
    assert -30 < level < -10
    assert loudness_lufs(0.5 * noise, sample_rate) == pytest.approx(level - 20 * np.log10(2), abs=1e-6)
    # two channels of the same signal: their powers add (+3.01 dB)
    assert loudness_lufs(np.stack([noise, noise]), sample_rate) == pytest.approx(level + 3.0103, abs=1e-3)
    # 2 s of silence after the sound are gated out (absolute gate), and so is a far quieter stretch
    # (relative gate); ungated they would lower it by 2.2 dB. Blocks across the edge still count.
    padded = np.concatenate([noise, np.zeros(2 * sample_rate)])
    assert loudness_lufs(padded, sample_rate) == pytest.approx(level, abs=0.3)
    whisper = np.concatenate([noise, 0.001 * noise])
    assert loudness_lufs(whisper, sample_rate) == pytest.approx(level, abs=0.3)
    assert loudness_lufs(np.zeros(sample_rate), sample_rate) == float("-inf")
    assert np.isfinite(loudness_lufs(noise[: sample_rate // 10], sample_rate))  # shorter than a block


def test_loudness_agrees_with_pyloudnorm():
    pyloudnorm = pytest.importorskip("pyloudnorm")  # the training extra; its filter is a close variant
    rng = np.random.default_rng(1)
    wav = 0.05 * rng.standard_normal(16000 * 4) * np.repeat(rng.uniform(0.1, 1.0, 40), 1600)
    assert loudness_lufs(wav, 16000) == pytest.approx(pyloudnorm.Meter(16000).integrated_loudness(wav), abs=0.3)


@pytest.mark.parametrize(("sample_rate", "hop"), [(16000, 320), (44100, 512)])
def test_a_loudness_profile_measures_any_run_of_frames_without_the_audio(sample_rate, hop):
    rng = np.random.default_rng(2)
    stereo = 0.1 * rng.standard_normal((2, 8 * sample_rate)) * np.repeat(rng.uniform(0.02, 1.0, 16), sample_rate // 2)
    profile = loudness_profile(stereo, sample_rate, hop)
    assert profile.shape == (-(-stereo.shape[-1] // hop),) and profile.dtype == np.float32
    for start, stop in [(0, len(profile)), (40, 240), (300, 330), (0, 5)]:  # whole, a window, short ones
        piece = stereo[:, start * hop : stop * hop]
        # equal to measuring the audio but for the K-weighting filters' start (and, at 44.1 kHz,
        # 400 ms blocks rounded to whole frames)
        assert profile_loudness(profile[start:stop], sample_rate, hop) == pytest.approx(
            loudness_lufs(piece, sample_rate), abs=0.25)
    assert profile_loudness(np.zeros(50), sample_rate, hop) == float("-inf")
