"""The Separator: wave and code-stream modes, batching, chunking, save/load."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tone_mix

import codecsep_mm
from codecsep_mm import Separator
from codecsep_mm.audio import loudness_lufs
from codecsep_mm.errors import (
    AudioInputError,
    ConfigError,
    PromptError,
    UnknownNameError,
    WeightsNotFoundError,
)
from codecsep_mm.separator import SeparationSettings


@pytest.fixture(scope="module")
def sep():
    return Separator.from_pretrained("tiny")


def snr_db(reference, estimate):
    return 10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum())


def test_shapes_follow_the_input(sep):
    mono = tone_mix(1.0)[0]
    stereo = tone_mix(1.0, channels=2)
    batch = np.stack([stereo, stereo * 0.5])
    assert sep.separate(mono, ["a", "b"]).stems.shape == (2, 16000)
    assert sep.separate(stereo, ["a"]).stems.shape == (1, 2, 16000)
    result = sep.separate(batch, ["a", "b", "c"], residual=True)
    assert result.stems.shape == (3, 2, 2, 16000) and result.residual.shape == (2, 2, 16000)
    assert [label for label, _ in result.items()] == ["a", "b", "c", "residual"]
    assert np.array_equal(result["b"], result.stems[1])
    with pytest.raises(KeyError, match="no stem 'music'; this result has 'a', 'b', 'c', 'residual'"):
        result["music"]


def test_stereo_channels_are_processed_independently(sep):
    stereo = tone_mix(1.0, channels=2)
    both = sep.separate(stereo, ["x"]).stems[0]
    left = sep.separate(stereo[:1], ["x"]).stems[0]
    assert np.allclose(both[:1], left, atol=1e-5)


def test_any_sample_rate_and_exact_length(sep, tmp_path):
    wav = tone_mix(1.0, sample_rate=44100)[:, :44099]
    result = sep.separate(wav, ["a"], sample_rate=44100)
    assert result.sample_rate == 44100 and result.stems.shape == (1, 1, 44099)
    path = tmp_path / "mix.wav"
    sf.write(path, wav.T, 44100)
    assert sep.separate(path, ["a"], sample_rate=44100).sample_rate == 44100  # the file's own rate: fine
    with pytest.raises(AudioInputError, match="the file is 44100 Hz, but sample_rate=16000 was given"):
        sep.separate(path, ["a"], sample_rate=16000)
    with pytest.raises(AudioInputError, match="the file is 44100 Hz"):
        sep.encode_codes(path, sample_rate=16000)


def test_codec_encoder_runs_once_for_all_prompts(sep, monkeypatch):
    calls = []
    original = sep.codec.encode
    monkeypatch.setattr(sep.codec, "encode", lambda wav: calls.append(wav.shape) or original(wav))
    sep.separate(tone_mix(1.0), ["a", "b", "c", "d"])
    assert len(calls) == 1 and calls[0][0] == 1


def test_residual_is_the_latent_left_over(sep):
    latent = sep.codec.encode(torch.from_numpy(tone_mix(1.0))[None])
    cond, _ = sep.encode_prompts(["a", "b"])
    stems = sep._stem_latents(latent, cond, residual=True)
    assert torch.allclose(stems.sum(0), latent, atol=1e-4)


def test_a_dc_offset_is_taken_out_of_the_stems_and_goes_to_everything_else(tmp_path, monkeypatch):
    own = Separator.from_pretrained("tiny")  # its settings change below
    heard = []
    encode = own.codec.encode
    monkeypatch.setattr(own.codec, "encode", lambda wav: heard.append(wav.mean(-1).flatten()) or encode(wav))
    from codecsep_mm.prompts.query import Query

    stereo = tone_mix(1.0, channels=2)
    offset = np.array([[0.3], [-0.2]], np.float32)
    prompts = ["a", Query.everything_except("a")]
    plain = own.separate(stereo, prompts, residual=True)
    shifted = own.separate(stereo + offset, prompts, residual=True)
    assert torch.allclose(heard[1], heard[0], atol=1e-4)  # the codec hears the mixture without it
    assert np.allclose(shifted.stems[0], plain.stems[0], atol=1e-3)
    assert np.allclose(shifted.stems[1], plain.stems[1] + offset, atol=1e-3)  # "everything except" keeps it
    assert np.allclose(shifted.residual, plain.residual + offset, atol=1e-3)
    own.settings = dataclasses.replace(own.settings, remove_offset=False)
    own.separate(stereo + offset, prompts, residual=True)
    assert torch.allclose(heard[2] - heard[0], torch.tensor([0.3, -0.2]), atol=1e-2)  # as it was
    own.save_pretrained(tmp_path / "model")
    assert Separator.from_pretrained(tmp_path / "model").settings.remove_offset is False
    with pytest.raises(ConfigError, match="remove_offset is 'yes'; it must be true or false"):
        SeparationSettings(remove_offset="yes")


def test_a_mask_floor_blends_each_masked_latent_with_the_mixture_latent(tmp_path):
    own = Separator.from_pretrained("tiny")  # its settings change below
    latent = own.codec.encode(torch.from_numpy(tone_mix(1.0))[None])
    cond, _ = own.encode_prompts(["a", "b"])
    plain = own.mask_latent(latent, cond)
    own.settings = dataclasses.replace(own.settings, mask_floor=0.25)
    floored = own.mask_latent(latent, cond)
    assert torch.allclose(floored, 0.25 * latent[None] + 0.75 * plain, atol=1e-6)
    assert not torch.allclose(floored, plain, atol=1e-3)
    assert own.settings.with_window(2.0).mask_floor == 0.25
    own.save_pretrained(tmp_path / "model")
    assert Separator.from_pretrained(tmp_path / "model").settings.mask_floor == 0.25
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="mask_floor"):
            SeparationSettings(mask_floor=bad)


def test_a_mask_power_raises_each_mask_before_the_floor(tmp_path):
    from einops import rearrange, repeat

    own = Separator.from_pretrained("tiny")  # its settings change below
    latent = own.codec.encode(torch.from_numpy(tone_mix(1.0))[None])
    cond, _ = own.encode_prompts(["a", "b"])
    with torch.no_grad():
        masks = own.masker(repeat(latent, "b d t -> (n b) d t", n=2), repeat(cond, "n k -> (n b) k", b=1))
    masks = rearrange(masks, "(n b) d t -> n b d t", n=2)
    own.settings = dataclasses.replace(own.settings, mask_power=0.5, mask_floor=0.25)
    powered = own.mask_latent(latent, cond)
    expected = 0.25 * latent[None] + 0.75 * latent[None] * masks.sign() * masks.abs().sqrt()
    assert torch.allclose(powered, expected, atol=1e-5)
    own.settings = dataclasses.replace(own.settings, mask_power=1.0)
    assert not torch.allclose(own.mask_latent(latent, cond), powered, atol=1e-3)
    own.settings = dataclasses.replace(own.settings, mask_power=0.5)
    assert own.settings.with_window(2.0).mask_power == 0.5
    own.save_pretrained(tmp_path / "model")
    assert Separator.from_pretrained(tmp_path / "model").settings.mask_power == 0.5
    for bad in (0.0, -1.0, 5.0):
        with pytest.raises(ConfigError, match="mask_power is .*from 0.1 to 4"):
            SeparationSettings(mask_power=bad)


def test_a_chunk_length_must_be_a_finite_number_of_seconds(sep):
    for bad in (float("nan"), float("inf"), 0.0, -2.0, "5", True):
        with pytest.raises(ConfigError, match="chunk_seconds is .*give a number of seconds above 0"):
            sep.separate(tone_mix(0.5), ["a"], chunk_seconds=bad)
        with pytest.raises(ConfigError, match="chunk_seconds is"):
            SeparationSettings(chunk_seconds=bad)
    for name in ("overlap_seconds", "context_seconds"):
        with pytest.raises(ConfigError, match=f"{name} is nan"):
            SeparationSettings(**{name: float("nan")})
    assert sep.separate(tone_mix(0.5), ["a"], chunk_seconds=None).stems.shape[-1] == 8000


def test_input_loudness_makes_wave_mode_separate_every_level_alike(tmp_path, monkeypatch):
    own = Separator.from_pretrained("tiny")  # its settings change below
    wav = tone_mix(2.0, seed=2)
    plain = own.separate(wav, ["a"]).stems
    assert own._window_gain(torch.ones(1, 1, 16000)) is None  # off by default
    assert not np.allclose(own.separate(4.0 * wav, ["a"]).stems / 4.0, plain, atol=1e-4)  # not scale-free
    own.settings = dataclasses.replace(own.settings, input_lufs=-27.0)
    heard = []
    original = own.codec.encode
    monkeypatch.setattr(own.codec, "encode", lambda x: heard.append(x.clone()) or original(x))
    levelled = own.separate(wav, ["a"]).stems
    assert [loudness_lufs(x[0, 0].numpy(), 16000) for x in heard] == pytest.approx([-27.0] * len(heard), abs=1e-3)
    for gain in (0.1, 4.0):  # a quieter or louder copy gives the same stems at its own level
        np.testing.assert_allclose(own.separate(gain * wav, ["a"]).stems / gain, levelled, atol=1e-5)
    as_int16_values = own.separate(32768.0 * wav, ["a"]).stems / 32768.0  # +90 dB: lowered all the way
    np.testing.assert_allclose(as_int16_values, levelled, atol=1e-5)
    assert own.settings.input_gain(60.0) == pytest.approx(10 ** (-87 / 20))  # no limit on lowering
    segment = torch.from_numpy(tone_mix(2.0))[None]
    quiet, loud = own._window_gain(segment), own._window_gain(4.0 * segment)
    assert torch.allclose(quiet, 4.0 * loud, rtol=1e-4)
    assert own._window_gain(torch.zeros(2, 1, 16000)).tolist() == [1.0, 1.0]  # silence: left alone
    assert own.settings.input_gain(-100.0) == pytest.approx(10 ** (30 / 20))  # at most +30 dB
    own.save_pretrained(tmp_path / "model")
    assert Separator.from_pretrained(tmp_path / "model").settings.input_lufs == -27.0
    for bad in (-80.0, 3.0):
        with pytest.raises(ConfigError, match="input_lufs"):
            SeparationSettings(input_lufs=bad)


def test_a_stereo_inputs_channels_are_levelled_together(monkeypatch):
    own = Separator.from_pretrained("tiny")
    own.settings = dataclasses.replace(own.settings, input_lufs=-27.0)
    left = tone_mix(2.0, seed=4)[0]
    wav = np.stack([left, 0.1 * left])  # the right channel 20 dB down: a source panned left
    heard = []
    original = own.codec.encode
    monkeypatch.setattr(own.codec, "encode", lambda x: heard.append(x.clone()) or original(x))
    stems = own.separate(wav, ["a"]).stems
    for window in heard:  # both channels scaled by one gain: the balance is the input's
        assert torch.allclose(window[1], 0.1 * window[0], atol=1e-6)
        assert loudness_lufs(window[:, 0].numpy(), 16000) == pytest.approx(-27.0, abs=1e-3)
    gains = own._window_gain(torch.from_numpy(wav)[:, None], channels=2)
    assert gains[0] == gains[1]
    # two mixtures in a batch still get a gain each
    batch = torch.from_numpy(np.stack([wav, 0.25 * wav])).reshape(4, 1, -1)
    assert torch.allclose(own._window_gain(batch, channels=2), gains.repeat(2) * torch.tensor([1, 1, 4, 4]), rtol=1e-4)
    np.testing.assert_allclose(own.separate(3.0 * wav, ["a"]).stems / 3.0, stems, atol=1e-5)


def test_code_stream_levels_each_window_as_wave_mode_does(tmp_path, monkeypatch):
    own = Separator.from_pretrained("tiny")
    own.settings = dataclasses.replace(own.settings, input_lufs=-27.0, chunk_seconds=1.0)
    wav = tone_mix(6.0, seed=5)
    wav[:, : 3 * 16000] *= 0.05  # a quiet first half, 26 dB down
    wave_gains, stream_gains = [], []
    window_gain, stem_latents = own._window_gain, own._stem_latents
    monkeypatch.setattr(own, "_window_gain", lambda *a: wave_gains.append(float(window_gain(*a)[0])) or window_gain(*a))
    own.separate(wav, ["a"])
    monkeypatch.setattr(own, "_stem_latents", lambda *a: stream_gains.append(float(a[-1][0])) or stem_latents(*a))
    stream = own.encode_codes(wav)  # levelled as a whole first: what the masker hears is compared
    own.separate_codes(stream, ["a"])
    assert len(stream_gains) == len(wave_gains) > 4
    assert 20 * np.log10(max(wave_gains) / min(wave_gains)) > 20  # the windows differ ...
    heard_db = 20 * np.log10(stream_gains) - stream.extra["gain_db"]
    np.testing.assert_allclose(heard_db, 20 * np.log10(wave_gains), atol=0.3)  # ... and are heard alike
    # the profile survives a .dac file; a stream without one is read with one gain, the input's
    from codecsep_mm.codecs.dacfile import read_dac_file, write_dac_file

    path = write_dac_file(tmp_path / "mix.dac", stream)
    np.testing.assert_array_equal(read_dac_file(path).extra["loudness_profile"], stream.extra["loudness_profile"])
    stream_gains.clear()
    own.separate_codes(dataclasses.replace(stream, extra={"gain_db": stream.extra["gain_db"]}), ["a"])
    level = stream.input_db - stream.extra["gain_db"]  # what the codes hold
    assert stream_gains == pytest.approx([own.settings.input_gain(level)] * len(wave_gains))


def test_a_streams_input_loudness_reads_as_descript_audio_codecs_meter_does():
    from audiotools import AudioSignal

    own = Separator.from_pretrained("tiny")
    wav = tone_mix(3.0, seed=7, channels=2)
    theirs = float(AudioSignal(torch.from_numpy(wav)[None], 16000).loudness())  # DAC's compress records this
    assert own.encode_codes(wav).input_db == pytest.approx(theirs, abs=0.2)
    quiet = np.zeros((1, 16000), np.float32)
    quiet[0, 100] = 1e-4  # next to silence (all-zero input is refused): below the gates, DAC's floor
    assert own.encode_codes(quiet).input_db == -70.0


def test_with_input_loudness_set_encode_levels_the_input_and_decode_restores_it(monkeypatch):
    own = Separator.from_pretrained("tiny")
    wav = tone_mix(2.0, seed=6, channels=2)
    plain = own.encode_codes(wav)
    assert plain.extra["gain_db"] == 0.0  # off: the input as it is
    assert (own.encode_codes(4.0 * wav).codes != plain.codes).any()
    own.settings = dataclasses.replace(own.settings, input_lufs=-27.0)
    heard = []
    original = own.codec.encode
    monkeypatch.setattr(own.codec, "encode", lambda x: heard.append(x.clone()) or original(x))
    stream = own.encode_codes(wav)
    assert loudness_lufs(torch.cat(heard, -1)[:, 0].numpy(), 16000) == pytest.approx(-27.0, abs=0.05)
    assert stream.input_db == pytest.approx(plain.input_db)  # the input's own loudness
    assert stream.extra["gain_db"] == pytest.approx(loudness_lufs(wav, 16000) + 27.0, abs=1e-4)
    louder = own.encode_codes(4.0 * wav)  # a louder copy: the same codes, decoded 4 times louder
    assert (louder.codes == stream.codes).float().mean() > 0.99
    np.testing.assert_allclose(own.decode_codes(louder), 4.0 * own.decode_codes(stream), atol=1e-3)


def test_a_gain_scales_what_the_masker_reads_not_the_stems():
    own = Separator.from_pretrained("tiny")
    latent = own.codec.encode(torch.from_numpy(tone_mix(1.0))[None])
    cond, _ = own.encode_prompts(["a", "b"])
    heard = []
    original = own.masker.forward
    own.masker.forward = lambda z, c: heard.append(z) or original(z, c)
    plain = own.mask_latent(latent, cond)
    gain = torch.tensor([3.0])
    boosted = own.mask_latent(latent, cond, gain)
    assert torch.allclose(heard[1], 3.0 * heard[0])  # the masker read the latent 3 times louder
    # a louder copy of the latent, read at the same level, gives the same masks: stems scale with it
    assert torch.allclose(own.mask_latent(2.0 * latent, cond, gain / 2.0), 2.0 * boosted, atol=1e-5)
    assert not torch.allclose(boosted, plain, atol=1e-3)


def test_a_code_stream_without_a_profile_is_read_at_the_loudness_recorded_in_it(tmp_path):
    own = Separator.from_pretrained("tiny")  # its settings change below
    stream = dataclasses.replace(own.encode_codes(tone_mix(2.0)), extra={})  # as descript-audio-codec's
    louder = dataclasses.replace(stream, input_db=stream.input_db + 12.0)
    assert (own.separate_codes(stream, ["a"])["a"].codes == own.separate_codes(louder, ["a"])["a"].codes).all()
    own.settings = dataclasses.replace(own.settings, input_lufs=-27.0)
    heard = []
    original = own.masker.forward
    own.masker.forward = lambda z, c: heard.append(z.abs().mean()) or original(z, c)
    own.separate_codes(stream, ["a"])
    own.separate_codes(louder, ["a"])
    assert float(heard[0] / heard[1]) == pytest.approx(10 ** (12 / 20), rel=1e-4)


def test_a_quiet_stem_is_quantized_again_at_the_mixtures_level(monkeypatch):
    own = Separator.from_pretrained("tiny")
    stream = own.encode_codes(tone_mix(3.0, seed=8))
    monkeypatch.setattr(own.masker, "forward", lambda latent, cond: torch.full_like(latent, 0.1))
    stems = own.separate_codes(stream, ["a"], residual=True)  # "a": the mixture 20 dB down
    quiet, rest = stems["a"], stems["residual"]  # 0.1 and 0.9 of the latent
    assert quiet.extra["gain_db"] == pytest.approx(stream.extra["gain_db"] - 20.0, abs=1e-3)
    assert rest.extra["gain_db"] == pytest.approx(stream.extra["gain_db"] + 20 * np.log10(0.9), abs=1e-3)
    # scaled back to the mixture's level it was coded as the mixture itself is
    again = own.codec.quantize(own.codec.dequantize(stream.codes), stream.n_codebooks)
    assert (quiet.codes == again).float().mean() > 0.99
    no_offset = {k: v for k, v in stream.extra.items() if k != "offset"}  # the residual's alone
    np.testing.assert_allclose(own.decode_codes(quiet),
                               0.1 * own.decode_codes(dataclasses.replace(stream, codes=again, extra=no_offset)),
                               atol=1e-5)
    assert quiet.input_db == pytest.approx(stream.input_db - 20.0, abs=1e-3)  # its loudness, for DAC


def test_chunked_matches_whole_file_away_from_edges(sep):
    wav = tone_mix(8.0, seed=3)
    whole = sep.separate(wav, ["a dog"], chunk_seconds=None).stems
    chunked = sep.separate(wav, ["a dog"], chunk_seconds=2.0).stems
    interior = slice(16000, -16000)
    assert snr_db(whole[..., interior], chunked[..., interior]) > 30


def test_chunking_is_exact_for_the_codec_path(sep, monkeypatch):
    monkeypatch.setattr(sep.masker, "forward", lambda latent, cond: torch.ones_like(latent))
    wav = tone_mix(6.0, seed=1)
    whole = sep.separate(wav, ["x"], chunk_seconds=None).stems
    chunked = sep.separate(wav, ["x"], chunk_seconds=1.0).stems
    assert snr_db(whole, chunked) > 60


def test_chunk_size_bounds_the_work_per_step(sep, monkeypatch):
    lengths = []
    original = sep.codec.encode
    monkeypatch.setattr(sep.codec, "encode", lambda wav: lengths.append(wav.shape[-1]) or original(wav))
    sep.separate(tone_mix(20.0), ["x"], chunk_seconds=2.0)
    context = sep.settings.context_seconds
    assert len(lengths) > 5 and max(lengths) <= (2.0 + 2 * context) * 16000


def test_a_chunk_no_longer_than_the_cross_fade_still_advances_by_half_a_chunk(sep, monkeypatch):
    calls = []
    original = sep.codec.encode
    monkeypatch.setattr(sep.codec, "encode", lambda wav: calls.append(wav.shape[-1]) or original(wav))
    wav = tone_mix(4.0)
    stems = sep.separate(wav, ["x"], chunk_seconds=0.5).stems  # the cross-fade is 0.5 s too
    assert sep.settings.overlap_seconds >= 0.5
    assert len(calls) <= 4.0 / 0.25 + 1  # a step of half a chunk, not of one latent frame
    assert stems.shape[-1] == wav.shape[-1] and np.isfinite(stems).all()


def test_code_stream_never_runs_the_codec_encoder_or_decoder(sep, monkeypatch):
    stream = sep.encode_codes(tone_mix(3.0, channels=2))
    for name in ("encode", "decode"):
        monkeypatch.setattr(sep.codec, name, lambda *a: pytest.fail("codec ran in code-stream mode"))
    stems = sep.separate_codes(stream, ["a", "b"], residual=True)
    assert list(stems) == ["a", "b", "residual"]
    for stem in stems.values():
        assert stem.codes.shape == stream.codes.shape and stem.channels == 2
        assert stem.fingerprint == sep.codec.fingerprint()


def test_code_stream_keeps_a_stem_for_every_prompt_even_when_labels_repeat(sep):
    stream = sep.encode_codes(tone_mix(2.0))
    stems = sep.separate_codes(stream, ["a", "a", "residual"], residual=True)
    assert list(stems) == ["a", "a (2)", "residual (2)", "residual"]
    assert (stems["a"].codes == stems["a (2)"].codes).all()  # one prompt twice: one stem twice
    assert not (stems["residual"].codes == stems["residual (2)"].codes).all()
    assert stems["a (2)"].extra["prompt"] == "a" and stems["residual"].extra["prompt"] == "residual"

def test_code_stream_matches_wave_mode_on_quantized_latents(sep):
    stream = sep.encode_codes(tone_mix(2.0))
    stems = sep.separate_codes(stream, ["a"])
    latent = sep.codec.dequantize(stream.codes)
    cond, _ = sep.encode_prompts(["a"])
    with torch.no_grad():
        masked = sep.mask_latent(latent, cond)[0]
    scale = (latent.pow(2).sum() / masked.pow(2).sum()).sqrt()  # re-quantized at the mixture's level
    expected = sep.codec.quantize(masked * scale)
    assert (stems["a"].codes == expected).float().mean() > 0.95
    assert stems["a"].extra["gain_db"] == pytest.approx(stream.extra["gain_db"] - 20 * float(scale.log10()), abs=0.01)


def test_encode_decode_codes_restore_length_and_channels(sep):
    wav = tone_mix(1.5, sample_rate=22050, channels=2)[:, :33001]
    stream = sep.encode_codes(wav, sample_rate=22050)
    out = sep.decode_codes(stream)
    assert out.shape == (2, 33001) and stream.sample_rate == 22050


def test_a_code_stream_records_the_dc_offset_it_took_out_and_only_everything_else_keeps_it(sep, tmp_path):
    from codecsep_mm.codecs import read_dac_file, write_dac_file
    from codecsep_mm.prompts.query import Query

    stereo = tone_mix(1.0, channels=2)
    offset = np.array([[0.3], [-0.2]], np.float32)
    plain, shifted = sep.encode_codes(stereo), sep.encode_codes(stereo + offset)
    assert torch.equal(shifted.codes, plain.codes)  # the codec coded the same audio
    assert np.allclose(np.subtract(shifted.extra["offset"], plain.extra["offset"]), [0.3, -0.2], atol=1e-5)
    write_dac_file(tmp_path / "mix.dac", shifted)
    decoded = sep.decode_codes(read_dac_file(tmp_path / "mix.dac"))
    assert np.allclose(decoded, sep.decode_codes(plain) + offset, atol=1e-4)
    stems = sep.separate_codes(shifted, ["a", "residual", Query.everything_except("a")], residual=True)
    assert "offset" not in stems["a"].extra and "offset" not in stems["residual (2)"].extra  # a prompt called so
    assert stems["not a"].extra["offset"] == shifted.extra["offset"]
    assert np.allclose(sep.decode_codes(stems["residual"]),
                       sep.decode_codes(sep.separate_codes(plain, ["a", "residual"], residual=True)["residual"])
                       + offset, atol=1e-4)
    del shifted.extra["offset"]  # a stream from descript-audio-codec records none: decoded as it is
    del plain.extra["offset"]
    assert np.allclose(sep.decode_codes(shifted), sep.decode_codes(plain), atol=1e-6)
    for bad in ([0.3], ["a", "b"], [float("nan"), 0.0]):
        shifted.extra["offset"] = bad
        with pytest.raises(AudioInputError, match="not one number per channel"):
            sep.decode_codes(shifted)


def test_save_and_load_roundtrip_exactly(sep, tmp_path):
    sep.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "masker.safetensors"]
    again = Separator.from_pretrained(tmp_path / "model")
    wav = tone_mix(1.0)
    assert np.array_equal(sep.separate(wav, ["a"]).stems, again.separate(wav, ["a"]).stems)


def test_saving_replaces_an_earlier_model_folder_and_nothing_else(sep, tmp_path, monkeypatch):
    from codecsep_mm.errors import OutputPathError

    sep.save_pretrained(tmp_path / "model")
    sep.save_pretrained(tmp_path / "model")  # over an earlier model: replaced
    assert Separator.from_pretrained(tmp_path / "model").masker.config == sep.masker.config
    (tmp_path / "empty").mkdir()
    sep.save_pretrained(tmp_path / "empty")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    (tmp_path / "model" / "notes.txt").write_text("mine too")
    for folder in (work, tmp_path / "model"):
        with pytest.raises(OutputPathError, match="holds files that are not a model's \\(notes.txt\\)"):
            sep.save_pretrained(folder)
        assert (folder / "notes.txt").exists()
    monkeypatch.chdir(work)
    with pytest.raises(OutputPathError, match="notes.txt"):
        sep.save_pretrained(".")  # the working folder is never wiped
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="cannot create the model folder"):
        sep.save_pretrained(blocker / "model")


def test_codec_weights_are_stored_when_not_a_preset(sep, tmp_path):
    sep.config["codec"] = {"preset": "my-own-codec"}
    try:
        sep.save_pretrained(tmp_path / "m")
    finally:
        sep.config["codec"] = {"preset": "tiny"}
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["codec"]["weights"] == "codec.safetensors"
    again = Separator.from_pretrained(tmp_path / "m")
    wav = tone_mix(1.0)
    assert np.allclose(sep.separate(wav, ["a"]).stems, again.separate(wav, ["a"]).stems, atol=1e-5)


def test_loading_is_strict(sep, tmp_path):
    sep.save_pretrained(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["masker"]["n_layers"] = 3
    config_path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="do not fit"):
        Separator.from_pretrained(tmp_path / "m")
    config["masker"]["n_layers"] = 2
    config["colour"] = "blue"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="unknown keys"):
        Separator.from_pretrained(tmp_path / "m")


def test_named_model_errors():
    with pytest.raises(UnknownNameError, match="tiny"):
        Separator.from_pretrained("no-such-model")
    with pytest.raises(WeightsNotFoundError, match="random-weights"):
        Separator.from_pretrained("codecsep-paper-16k")


def test_paper_model_with_random_weights_builds_offline():
    sep = Separator.from_pretrained("codecsep-paper-16k", random_weights=True)
    assert sep.codec.latent_dim == 1024 and sep.masker.config.cond_dim == 512
    result = sep.separate(tone_mix(0.5), ["speech"])
    assert result.stems.shape == (1, 1, 8000) and np.isfinite(result.stems).all()


def test_space_mismatch_is_refused(sep):
    from codecsep_mm import prompts

    other = prompts.create("hash-text", embed_dim=64, space="clap-laion-630k")
    with pytest.raises(PromptError, match="trained in 'hash-text-64'"):
        sep._check_space(other)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(16000, np.float32), "silent"),
        (np.zeros(0, np.float32), "zero length"),
        (np.full(100, np.nan, np.float32), "NaN"),
        (np.ones((3, 100), np.float32), "3 channels"),
        (np.ones((16000, 2), np.float32), r"looks like \(samples, channels\).*wav\.T"),
        (np.ones(16000, bool), "samples are booleans; give real-valued samples"),
        (np.ones(16000, np.complex64), "samples are complex numbers"),
        (np.array(["a", "b"]), "got an array of str32, which is not audio samples"),
        ([[0.1, 0.2], [0.3]], "samples of unequal lengths"),
    ],
)
def test_bad_arrays(sep, bad, match):
    with pytest.raises(AudioInputError, match=match):
        sep.separate(bad, ["a"])


@pytest.mark.parametrize("rate", [0, -1, 8, 44100.5, "44100", True, 10**7])
def test_a_sample_rate_audio_cannot_have_is_refused(sep, rate):
    with pytest.raises(AudioInputError, match=f"sample rate {re.escape(repr(rate))} is not usable; give the rate in Hz"):
        sep.separate(tone_mix(0.5), ["a"], sample_rate=rate)


def test_integer_pcm_is_read_as_a_fraction_of_full_scale_like_a_file(sep, tmp_path):
    """int16 from scipy.io.wavfile gives the stems soundfile's float reading of the same file gives."""
    import soundfile as sf

    pcm = np.round(tone_mix(0.5) * 20000).astype(np.int16)
    sf.write(tmp_path / "mix.wav", pcm.T, 16000, subtype="PCM_16")
    from_file = sep.separate(tmp_path / "mix.wav", ["a"]).stems
    from_int16 = sep.separate(pcm, ["a"]).stems
    assert from_int16.dtype == np.float32 and np.abs(from_int16).max() < 1.0
    np.testing.assert_allclose(from_int16, from_file, atol=1e-6)
    unsigned = (pcm.astype(np.int32) // 256 + 128).astype(np.uint8)  # 8-bit WAV: unsigned, centred on 128
    as_float = unsigned.astype(np.float32) / 128 - 1
    np.testing.assert_allclose(sep.separate(unsigned, ["a"]).stems, sep.separate(as_float, ["a"]).stems, atol=1e-6)


def test_bad_prompts(sep):
    with pytest.raises(PromptError, match="empty text"):
        sep.separate(tone_mix(0.5), ["  "])
    with pytest.raises(PromptError, match="no prompt"):
        sep.separate(tone_mix(0.5), [])


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    from codecsep_mm.audio import save_audio

    umask = os.umask(0o022)
    try:
        path = save_audio(tmp_path / "stem.wav", np.zeros((1, 160), dtype=np.float32), 16000)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_broken_model_folder_gets_a_one_line_error_that_names_the_file(tmp_path, capsys):
    import shutil

    from codecsep_mm.cli import main
    from codecsep_mm.errors import CodecSepError
    from codecsep_mm.prompts import create

    good = tmp_path / "good"
    Separator.from_pretrained("tiny").save_pretrained(good)

    def broken(name, change):
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        return folder

    def wider(folder):
        config = json.loads((folder / "config.json").read_text())
        config["masker"]["ffn_dim"] *= 2
        (folder / "config.json").write_text(json.dumps(config))

    weights = (good / "masker.safetensors").read_bytes()
    cases = {
        broken("cut", lambda f: (f / "masker.safetensors").write_bytes(weights[:100])):
            "masker.safetensors: not a readable safetensors file",
        broken("list", lambda f: (f / "config.json").write_text("[1, 2]")):
            "config.json: holds a JSON list, not an object of model settings",
        broken("latin1", lambda f: (f / "config.json").write_bytes(b'{"name": "caf\xe9"}')):
            "config.json: invalid JSON",
        broken("wider", wider): "masker weights do not fit the architecture in config.json: size mismatch for",
        broken("chunk", lambda f: f.joinpath("config.json").write_text(
            f.joinpath("config.json").read_text().replace('"chunk_seconds": 10.0', '"chunk_seconds": "x"'))):
            "config.json, separation: chunk_seconds is 'x'",
    }
    for folder, message in cases.items():
        with pytest.raises(CodecSepError, match=message):
            Separator.from_pretrained(folder)
        wav = tmp_path / "mix.wav"
        sf.write(wav, tone_mix(0.5)[0], 16000)
        out = tmp_path / f"out-{folder.name}"
        assert main(["separate", str(wav), "--text", "a", "--model", str(folder), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert message.split(":")[-1].strip() in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    audio = tmp_path / "audio-encoder"
    shutil.copytree(Path(codecsep_mm.__file__).parent / "pretrained/starter-16k/encoders/starter-audio/best", audio)
    (audio / "audio_encoder.safetensors").write_bytes(b"\x00" * 12)
    with pytest.raises(ConfigError, match="audio_encoder.safetensors: not a readable safetensors file"):
        create("starter-audio", weights=str(audio))
