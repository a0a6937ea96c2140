"""On-the-fly training mixtures: exact sums, loudness recipe, determinism, prompts."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from codecsep_mm.data.manifest import read_sources
from codecsep_mm.data.mixing import MixingConfig, MixtureDataset, change_speed, random_equaliser
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


def test_audio_queries_can_come_from_another_recording_of_the_label():
    from codecsep_mm.data.manifest import SourceRecord
    from codecsep_mm.data.mixing import query_candidates

    def record(name, label, group):
        return SourceRecord(path=f"{name}.flac", cls="sfx", label=label, caption=label, group=group)

    records = [record("a", "door", "pkg1"), record("b", "door", "pkg1"), record("c", "door", "pkg2"),
               record("d", "bell", "pkg1"), record("e", "bell", "pkg1"), record("f", "dog", "pkg3")]
    # another group first (a, b -> c), the same group when the label has no other (d <-> e), none for f
    assert query_candidates(records) == [[2], [2], [0, 1], [4], [3], []]

    banks = synthetic_banks(("speech", "music", "sfx"), 16000)
    for cls, bank in banks.items():
        bank.records = [record(f"{cls}{i}", f"{cls} label {i // 2}", f"g{i}") for i in range(4)]
        crops: list[int] = []
        original = bank.crop
        bank.crop = lambda index, n, rng, crops=crops, original=original: crops.append(index) or original(0, n, rng)
        bank.crops = crops
    for source, same in (("recording", True), ("label", False)):
        config = MixingConfig(crop_seconds=0.5, audio_query_prob=1.0, audio_query_from=source)
        dataset = MixtureDataset(banks, config, seed=0)
        for index in range(6):
            for bank in banks.values():
                bank.crops.clear()
            dataset[index]
            for bank in banks.values():
                stem, query = bank.crops[0], bank.crops[-1]  # the stem's crop, then its query's
                assert (query == stem) == same and query // 2 == stem // 2  # the same label
    with pytest.raises(ConfigError, match="audio_query_from 'class'; valid: \\['recording', 'label'\\]"):
        MixingConfig(audio_query_from="class")


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


def _peak_hz(wav: np.ndarray, sample_rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.fft.rfftfreq(len(wav), 1 / sample_rate)[spectrum.argmax()])


def test_a_speed_change_moves_pitch_and_length_together():
    tone = np.sin(2 * np.pi * 1000 * np.arange(17600) / 16000).astype(np.float32)  # 1.1 s
    faster = change_speed(tone, 16000)  # played in 1.0 s: 1.1x faster and higher
    assert faster.shape == (16000,) and faster.dtype == np.float32
    assert _peak_hz(faster) == pytest.approx(1100, abs=3)
    slower = change_speed(tone[:14545], 16000)  # 0.909 s stretched to 1 s
    assert _peak_hz(slower) == pytest.approx(1000 * 14545 / 16000, abs=3)


def test_the_random_equaliser_stays_within_its_bound_and_changes_the_spectrum():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(64000).astype(np.float32)
    out = random_equaliser(noise, 6.0, 16000, np.random.default_rng(1))
    assert out.shape == noise.shape and out.dtype == np.float32
    # per-band gain (64 bands of the power spectrum) between 60 Hz and 7.5 kHz
    bands = np.linspace(15, 30000, 65).astype(int)
    power_in, power_out = np.abs(np.fft.rfft(noise)) ** 2, np.abs(np.fft.rfft(out)) ** 2
    gain_db = np.array([10 * np.log10(power_out[a:b].sum() / power_in[a:b].sum()) for a, b in zip(bands, bands[1:])])
    assert np.abs(gain_db).max() <= 6.0 + 0.3
    assert gain_db.max() - gain_db.min() > 2.0


def test_augmented_items_are_exact_sums_deterministic_and_differ_from_plain_ones():
    banks = synthetic_banks(("speech", "music", "sfx"), 16000)
    plain = MixingConfig(crop_seconds=1.0)
    augmented = MixingConfig(crop_seconds=1.0, speed_range=0.2, eq_db=6.0)
    a, b = MixtureDataset(banks, augmented, seed=4), MixtureDataset(banks, augmented, seed=4)
    item = a[2]
    assert item.stems.shape == (3, 16000)
    np.testing.assert_array_equal(item.mixture[0], item.stems.sum(0))
    np.testing.assert_array_equal(item.mixture, b[2].mixture)
    assert not np.allclose(item.mixture, MixtureDataset(banks, plain, seed=4)[2].mixture)
    assert augmented.without_augmentation() == plain


@pytest.mark.parametrize("key, value", [("speed_range", -0.1), ("speed_range", 1.5), ("eq_db", -1.0),
                                        ("eq_db", 30.0)])
def test_bad_augmentation_settings(key, value):
    with pytest.raises(ConfigError, match=key):
        MixingConfig(**{key: value})


def test_absent_sources_are_silent_stems_whose_prompts_are_kept():
    banks = synthetic_banks(("speech", "music", "sfx"), 16000)
    plain = MixtureDataset(banks, MixingConfig(crop_seconds=0.5), seed=3)
    never_music = MixtureDataset(banks, MixingConfig(crop_seconds=0.5, absent_prob={"music": 1.0}), seed=3)
    item = never_music[0]
    assert not item.stems[1].any() and item.stems[0].any() and item.stems[2].any()
    np.testing.assert_array_equal(item.mixture[0], item.stems.sum(0))
    assert len(item.prompts) == 3 and item.prompts[1] == plain[0].prompts[1]  # the music prompt is kept
    half = MixtureDataset(banks, MixingConfig(crop_seconds=0.5, absent_prob={"music": 0.5}), seed=3)
    left_out = []
    for index in range(200):
        item = half[index]
        left_out.append(not item.stems[1].any())
        if not left_out[-1]:  # a mixture that keeps every source is the one drawn without the option
            np.testing.assert_array_equal(item.mixture, plain[index].mixture)
    assert 0.4 < np.mean(left_out) < 0.6
    everything = MixtureDataset(banks, MixingConfig(crop_seconds=0.5, absent_prob={c: 1.0 for c in
                                                    ("speech", "music", "sfx")}), seed=3)
    assert [bool(stem.any()) for stem in everything[0].stems] == [False, False, True]  # one is always kept
    assert MixingConfig(absent_prob={"music": 0.5}).without_augmentation().absent_prob == {}


class _OffsetBank:
    """A bank whose crops carry a DC offset of ``offset``."""

    def __init__(self, bank, offset: float):
        self.bank, self.offset, self.records = bank, offset, bank.records

    def __len__(self) -> int:
        return len(self.bank)

    def crop(self, index, n_samples, rng):
        return self.bank.crop(index, n_samples, rng) + np.float32(self.offset)


def test_remove_offset_takes_each_stems_dc_out_and_changes_nothing_else():
    banks = synthetic_banks(("speech", "music", "sfx"), 16000)
    shifted = {cls: _OffsetBank(bank, 0.1) for cls, bank in banks.items()}
    kept = MixtureDataset(shifted, MixingConfig(crop_seconds=0.5), seed=3)[1]
    assert abs(kept.mixture.mean()) > 0.05  # the offsets are in the mixture, as before
    removed = MixtureDataset(shifted, MixingConfig(crop_seconds=0.5, remove_offset=True), seed=3)[1]
    assert np.abs(removed.stems.mean(-1)).max() < 1e-5 and abs(removed.mixture.mean()) < 1e-5
    np.testing.assert_array_equal(removed.mixture[0], removed.stems.sum(0))
    assert removed.prompts == kept.prompts  # the same draws
    clean = MixtureDataset(banks, MixingConfig(crop_seconds=0.5, remove_offset=True), seed=3)[1]
    np.testing.assert_allclose(removed.stems, clean.stems, atol=1e-5)  # as if the offsets were never there
    with pytest.raises(ConfigError, match="remove_offset is 'yes'"):
        MixingConfig(remove_offset="yes")


@pytest.mark.parametrize("value, match", [({"noise": 0.5}, "not mixed classes"), ({"music": 1.5}, "between 0 and 1"),
                                          ({"music": "often"}, "between 0 and 1")])
def test_bad_absent_odds(value, match):
    with pytest.raises(ConfigError, match=match):
        MixingConfig(absent_prob=value)


def _counting_bank(durations, labels=None):
    """A bank of records with the given durations (and labels) whose crops record which record
    was drawn."""
    from codecsep_mm.data.manifest import SourceRecord

    labels = labels or ["l"] * len(durations)
    records = [SourceRecord(path=f"r{i}.flac", cls="music", label=label, duration=d)
               for i, (d, label) in enumerate(zip(durations, labels))]

    class Bank:
        def __init__(self):
            self.records, self.drawn = records, []

        def __len__(self):
            return len(self.records)

        def crop(self, index, n_samples, rng):
            self.drawn.append(index)
            return rng.standard_normal(n_samples).astype(np.float32) * 0.1

    return Bank()


def test_duration_weighting_draws_records_by_their_capped_length():
    banks = synthetic_banks(("speech", "sfx"), 16000)
    # a 0.5 s hit, a 3 s loop, two songs of 60 s and 600 s (both count as 30 s)
    banks["music"] = music = _counting_bank([0.5, 3.0, 60.0, 600.0])
    weighted = MixingConfig(crop_seconds=0.5, duration_weight_seconds={"music": 30.0})
    dataset = MixtureDataset(banks, weighted, seed=0)
    rng = np.random.default_rng(0)
    draws = [dataset._pick_record(music, "music", rng) for _ in range(20000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000,
                               np.array([0.5, 3.0, 30.0, 30.0]) / 63.5, atol=0.01)
    for index in range(5):  # items draw their music the same way
        dataset[index]
    assert len(music.drawn) == 5 and set(music.drawn) <= {0, 1, 2, 3}


def test_without_duration_weighting_every_record_is_equally_likely():
    banks = synthetic_banks(("speech", "sfx"), 16000)
    banks["music"] = music = _counting_bank([0.5, 3.0, 60.0, 600.0])
    dataset = MixtureDataset(banks, MixingConfig(crop_seconds=0.5), seed=0)
    rng = np.random.default_rng(0)
    draws = [dataset._pick_record(music, "music", rng) for _ in range(20000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, 0.25, atol=0.01)


@pytest.mark.parametrize("value, match", [({"noise": 30.0}, "class 'noise'"), ({"music": 0.0}, "positive")])
def test_bad_duration_weighting(value, match):
    with pytest.raises(ConfigError, match=match):
        MixingConfig(duration_weight_seconds=value)


def test_the_trainers_validation_items_are_never_augmented(tmp_path):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import _datasets

    from .conftest import TINY_CONFIG, tiny_overrides

    args = tiny_overrides(tmp_path, **{"data.mixing.speed_range": 0.2, "data.mixing.eq_db": 6.0})
    config = load_config(TINY_CONFIG, [a for a in args if a != "--set"])
    train, valid = _datasets(config)
    assert (train.config.speed_range, train.config.eq_db) == (0.2, 6.0)
    assert (valid.config.speed_range, valid.config.eq_db) == (0.0, 0.0)


def test_balanced_labels_are_drawn_equally_often_then_by_duration_within_a_label():
    banks = synthetic_banks(("speech", "sfx"), 16000)
    # label a: three recordings (1 s, 1 s, 2 s); label b: one 0.5 s recording
    banks["music"] = music = _counting_bank([1.0, 1.0, 2.0, 0.5], ["a", "a", "a", "b"])
    rng = np.random.default_rng(0)
    weighted = MixingConfig(crop_seconds=0.5, duration_weight_seconds={"music": 4.0}, balance_labels=("music",))
    dataset = MixtureDataset(banks, weighted, seed=0)
    draws = [dataset._pick_record(music, "music", rng) for _ in range(20000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, [0.125, 0.125, 0.25, 0.5], atol=0.01)
    uniform = MixtureDataset(banks, MixingConfig(crop_seconds=0.5, balance_labels=["music"]), seed=0)
    draws = [uniform._pick_record(music, "music", rng) for _ in range(20000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, [1 / 6, 1 / 6, 1 / 6, 0.5], atol=0.01)
    for index in range(3):  # items draw their music the same way
        dataset[index]
    assert len(music.drawn) == 3


def test_balance_labels_reads_from_a_config_and_refuses_unknown_classes():
    config = MixingConfig.from_dict({"balance_labels": ["sfx"]})
    assert config.balance_labels == ("sfx",) and config.to_dict()["balance_labels"] == ["sfx"]
    assert MixingConfig().balance_labels == ()
    with pytest.raises(ConfigError, match="balance_labels: unknown classes \\['noise'\\]"):
        MixingConfig(balance_labels=("noise",))


def test_label_balanced_odds_give_every_label_the_same_share():
    from codecsep_mm.data.manifest import SourceRecord
    from codecsep_mm.data.mixing import label_balanced_odds

    records = [SourceRecord(path=f"r{i}.flac", cls="sfx", label=label, duration=1.0)
               for i, label in enumerate("aabc")]
    odds = label_balanced_odds(records, np.array([0.1, 0.3, 0.2, 0.4]))
    np.testing.assert_allclose(odds, [1 / 12, 3 / 12, 1 / 3, 1 / 3])
    assert odds.sum() == pytest.approx(1.0)


def test_duration_draw_odds_are_the_capped_lengths_normalised():
    from codecsep_mm.data.manifest import SourceRecord
    from codecsep_mm.data.mixing import duration_draw_odds

    records = [SourceRecord(path=f"r{i}.flac", cls="sfx", label="l", duration=d)
               for i, d in enumerate([0.5, 2.0, 10.0])]
    records.append(SourceRecord(path="r3.flac", cls="sfx", label="l", duration=None))  # counts as the cap
    np.testing.assert_allclose(duration_draw_odds(records, 4.0), np.array([0.5, 2.0, 4.0, 4.0]) / 10.5)
