"""Codec adapter, presets, weight loading and .dac files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codecsep_mm.codecs import (
    CodeStream,
    codec_weights_path,
    create_codec,
    get_codec_preset,
    read_dac_file,
    write_dac_file,
)
from codecsep_mm.codecs.dac_backend import load_dac_weights, save_dac_weights
from codecsep_mm.errors import (
    AudioInputError,
    CodecMismatchError,
    ConfigError,
    UnknownNameError,
    WeightsNotFoundError,
)


@pytest.fixture(scope="module")
def tiny():
    return create_codec("tiny")


def test_official_presets_match_dac_configs():
    expected = {"dac-16khz": (16000, 320, 12), "dac-24khz": (24000, 320, 32), "dac-44khz": (44100, 512, 9)}
    for name, (rate, hop, n_q) in expected.items():
        preset = get_codec_preset(name)
        assert (preset.sample_rate, preset.hop_length, preset.dac_kwargs["n_codebooks"]) == (rate, hop, n_q)


def test_dac_16khz_random_architecture_has_official_size():
    codec = create_codec("dac-16khz", random_weights=True)
    n_params = sum(p.numel() for p in codec.model.parameters())
    assert abs(n_params - 74.18e6) < 0.05e6
    assert (codec.latent_dim, codec.hop_length, codec.codebook_size) == (1024, 320, 1024)


def test_tiny_is_seeded_and_saved_through_dac_format(tiny):
    path = codec_weights_path("tiny")
    assert path is not None and path.is_file()
    # descript-audio-codec's own loader reads the same file.
    import dac

    reference = dac.DAC.load(str(path)).eval()
    wav = torch.randn(1, 1, 3200)
    assert torch.allclose(reference.encoder(wav), tiny.encode(wav), atol=1e-5)
    assert tiny.fingerprint() == create_codec("tiny").fingerprint()


def test_encode_decode_shapes_and_lengths(tiny):
    wav = torch.randn(2, 1, 16000 + 17)
    latent = tiny.encode(wav)
    assert latent.shape == (2, tiny.latent_dim, 51)
    assert tiny.decode(latent).shape == (2, 1, 51 * 320)


def test_dequantize_reproduces_the_quantized_latent(tiny):
    latent = tiny.encode(torch.randn(1, 1, 6400))
    codes = tiny.quantize(latent)
    assert codes.shape == (1, tiny.n_codebooks, 20) and codes.max() < tiny.codebook_size
    quantized = tiny.model.quantizer(latent)[0]
    assert torch.allclose(tiny.dequantize(codes), quantized, atol=1e-5)
    assert tiny.quantize(latent, 2).shape[1] == 2
    with pytest.raises(ConfigError):
        tiny.quantize(latent, 99)


def test_weight_norm_folding_keeps_output(tmp_path):
    folded, unfolded = create_codec("tiny"), create_codec("tiny", fold_weight_norm=False)
    wav = torch.randn(1, 1, 3200)
    assert torch.allclose(folded.decode(folded.encode(wav)), unfolded.decode(unfolded.encode(wav)), atol=1e-5)


def test_a_codec_stays_frozen_after_its_weight_norm_is_folded():
    for fold in (True, False):
        codec = create_codec("tiny", fold_weight_norm=fold)
        assert not any(parameter.requires_grad for parameter in codec.parameters())
        latent = codec.encode(torch.randn(1, 1, 3200))
        assert not latent.requires_grad  # no graph kept for a frozen encoder, outside no_grad too


def test_building_a_codec_prints_no_deprecation_warning_from_dac():
    import warnings

    from codecsep_mm.codecs.dac_backend import build_dac

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_dac({"encoder_dim": 4, "encoder_rates": [2], "decoder_dim": 8, "decoder_rates": [2]})
        torch.nn.utils.weight_norm(torch.nn.Linear(2, 2))  # the filter is build_dac's alone
    about_weight_norm = [w for w in caught if "weight_norm" in str(w.message)]
    assert len(about_weight_norm) == 1  # the direct call's, none from build_dac

def test_missing_official_weights_fail_fast_with_instructions():
    with pytest.raises(WeightsNotFoundError, match="codecsep-mm download dac-16khz"):
        create_codec("dac-16khz")


def test_unknown_codec_lists_available():
    with pytest.raises(UnknownNameError, match="dac-16khz"):
        create_codec("mp3")


def test_strict_loader_rejects_mismatched_weights(tmp_path):
    import dac

    model = dac.DAC(encoder_dim=8, encoder_rates=[2, 4], decoder_dim=16, decoder_rates=[4, 2],
                    n_codebooks=2, codebook_size=16, codebook_dim=4, sample_rate=16000)
    path = save_dac_weights(model, tmp_path / "w.pth")
    assert load_dac_weights(path).latent_dim == 32
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["kwargs"]["n_codebooks"] = 3
    torch.save(payload, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="do not fit"):
        load_dac_weights(tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable DAC weight file"):
        load_dac_weights(tmp_path / "junk.pth")


def test_download_offline_fails_quickly(monkeypatch, tmp_path):
    import time

    from codecsep_mm import hub
    from codecsep_mm.errors import DownloadError

    start = time.monotonic()
    with pytest.raises(DownloadError, match="could not download"):
        hub.download("http://127.0.0.1:9/weights.pth", tmp_path / "w.pth", timeout=2)
    assert time.monotonic() - start < 10
    assert not (tmp_path / "w.pth").exists()


def _stream(tiny, frames=10):
    codes = tiny.quantize(tiny.encode(torch.randn(2, 1, frames * 320)))
    return CodeStream(codes, channels=2, original_length=frames * 320 - 10, sample_rate=16000,
                      input_db=-20.0, codec="tiny", fingerprint=tiny.fingerprint())


def test_dac_file_roundtrip_and_dac_compatibility(tiny, tmp_path):
    stream = _stream(tiny)
    path = write_dac_file(tmp_path / "x.dac", stream)
    back = read_dac_file(path)
    assert torch.equal(back.codes, stream.codes)
    assert (back.channels, back.original_length, back.codec) == (2, stream.original_length, "tiny")
    import dac

    theirs = dac.DACFile.load(path)
    assert torch.equal(theirs.codes, stream.codes) and theirs.channels == 2
    # DAC's decompress needs original_length <= frames * hop - 8 at 16 kHz (its decoder returns 8
    # samples short for odd rates), also for its own files; our stream is 10 samples short.
    audio = tiny.model.decompress(theirs).audio_data
    assert audio.shape == (1, 2, stream.original_length)


def test_reads_files_written_by_dac(tiny, tmp_path):
    import dac

    codes = tiny.quantize(tiny.encode(torch.randn(1, 1, 3200)))
    theirs = dac.DACFile(codes=codes, chunk_length=10, original_length=3000, input_db=torch.tensor([-18.0]),
                         channels=1, sample_rate=16000, padding=True, dac_version="1.0.0")
    path = theirs.save(tmp_path / "theirs.dac")
    ours = read_dac_file(path)
    assert torch.equal(ours.codes, codes) and ours.normalized and ours.fingerprint is None


def test_dac_file_reader_never_unpickles_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.dac", "wb") as handle:
        np.save(handle, np.array({"codes": Evil(), "metadata": {}}, dtype=object), allow_pickle=True)
    with pytest.raises(AudioInputError, match="not a readable .dac file"):
        read_dac_file(tmp_path / "evil.dac")


def test_codes_from_another_codec_are_refused(tiny):
    stream = _stream(tiny)
    stream.fingerprint = "0123456789abcdef"
    with pytest.raises(CodecMismatchError, match="re-encode"):
        stream.check_codec(tiny)
    big = CodeStream(torch.full((1, 12, 5), 900), 1, 1600, 16000)
    with pytest.raises(CodecMismatchError, match="12 codebooks"):
        big.check_codec(tiny)
