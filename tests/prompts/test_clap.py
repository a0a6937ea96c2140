"""clap-text / clap-audio: a tiny random LAION-CLAP saved as a checkpoint and loaded offline through
the same loader as the published weights (RoBERTa tower built from the checkpoint's shapes)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from codecsep_mm import hub
from codecsep_mm.errors import AudioInputError, ConfigError, PromptError, WeightsNotFoundError
from codecsep_mm.prompts import PromptEncoder, create
from codecsep_mm.prompts import clap as clap_module

EMBED_DIM = 32
TINY_ROBERTA = {"num_hidden_layers": 1, "num_attention_heads": 12, "intermediate_size": 64}


def byte_unicode_alphabet() -> list[str]:
    """GPT-2's byte -> printable-character table (RoBERTa's byte-level BPE alphabet)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), 256),
    ]
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_tokenizer(folder, alphabet: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *alphabet, "<mask>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")


def _roberta() -> dict:
    return {"vocab_size": 261, "hidden_size": 768, "max_position_embeddings": 80, "type_vocab_size": 1,
            "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5, **TINY_ROBERTA}


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    """(checkpoint path, model-config JSON, tokenizer folder, the reference model)."""
    from laion_clap.clap_module import factory

    root = tmp_path_factory.mktemp("tiny-clap")
    config = {**factory._MODEL_CONFIGS["HTSAT-tiny"], "joint_embed_shape": EMBED_DIM}
    config_path = root / "tiny-clap.json"
    config_path.write_text(json.dumps(config))
    write_tokenizer(root / "tokenizer", byte_unicode_alphabet())
    torch.manual_seed(0)
    model = clap_module.build_clap_model(config, _roberta()).eval()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    checkpoint = root / "tiny-clap.pt"
    torch.save({"epoch": 1, "name": "tiny", "state_dict": state}, checkpoint)
    return checkpoint, config_path, root / "tokenizer", model


@pytest.fixture(scope="module")
def clap_text(tiny_clap):
    checkpoint, config_path, tokenizer, _ = tiny_clap
    return create(
        "clap-text", checkpoint=str(checkpoint), amodel=str(config_path), tokenizer=str(tokenizer)
    )


@pytest.fixture(scope="module")
def clap_audio(clap_text):
    return clap_text.clap.audio_encoder()


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(
        np.float32
    )


def test_text_loads_checkpoint_weights_and_embeds_normalised(clap_text, tiny_clap):
    _, _, _, reference = tiny_clap
    loaded = clap_text.clap.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in reference.state_dict().items())
    embeddings = clap_text.encode(["a dog barking", "solo piano", "a dog barking"])
    assert embeddings.shape == (3, EMBED_DIM) and not embeddings.requires_grad
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(embeddings[0], embeddings[2], atol=1e-6)
    assert not torch.allclose(embeddings[0], embeddings[1], atol=1e-3)
    tokens = clap_text.clap.tokenizer(
        ["a dog barking", "solo piano", "a dog barking"],
        padding="max_length",
        truncation=True,
        max_length=77,
        return_tensors="pt",
    )
    with torch.no_grad():
        expected = reference.get_text_embedding(dict(tokens))
    assert torch.allclose(embeddings, expected, atol=1e-5)


def test_text_and_audio_share_a_space_named_after_the_checkpoint(clap_text, clap_audio):
    assert isinstance(clap_text, PromptEncoder) and isinstance(clap_audio, PromptEncoder)
    assert clap_text.space == clap_audio.space == "clap-tiny-clap"
    assert (clap_text.modality, clap_audio.modality) == ("text", "audio")
    assert clap_text.embed_dim == clap_audio.embed_dim == EMBED_DIM
    assert clap_text.options["checkpoint"].endswith("tiny-clap.pt")
    assert clap_module.CLAP_SPACES["630k-audioset-best"] == "clap-laion-630k"


def test_empty_text_is_a_prompt_error(clap_text):
    for bad in ["", "   ", None]:
        with pytest.raises(PromptError, match="empty text prompt"):
            clap_text.encode(["a dog", bad])


def test_audio_query_forms_rates_and_averaging(clap_audio, tmp_path):
    a16, b16 = tone(440, 2.0, 16000) + noise(2.0, 16000, 1) * 0.2, noise(2.0, 16000, 2)
    a48 = tone(440, 2.0, 48000) + noise(2.0, 48000, 1) * 0.2
    path = tmp_path / "a.wav"
    sf.write(path, a16, 16000, subtype="FLOAT")
    rows = clap_audio.encode(
        [
            str(path),
            (a16, 16000),
            (a48, 48000),
            (b16, 16000),
            [(a16, 16000), (b16, 16000)],
            (np.stack([a16, a16]), 16000),
            (path, 16000),
        ]
    )
    assert rows.shape == (7, EMBED_DIM)
    assert torch.allclose(rows.norm(dim=-1), torch.ones(7), atol=1e-5)
    assert torch.allclose(rows[0], rows[1], atol=1e-5), "a file and its array embed the same"
    assert torch.allclose(rows[6], rows[0], atol=1e-6), "(path, rate) reads the file's own rate"
    assert torch.allclose(rows[5], rows[1], atol=1e-4), "stereo is downmixed"
    cos = rows @ rows.T
    assert cos[1, 2] > cos[1, 3], "a resampled query stays closer to itself than another sound"
    averaged = torch.nn.functional.normalize(rows[1] + rows[3], dim=0)
    assert torch.allclose(rows[4], averaged, atol=1e-5), "several examples are averaged"


def test_long_query_is_pooled_over_ten_second_clips(clap_audio):
    rate = 48000
    long_wav = np.concatenate([tone(300, 10.0, rate), noise(5.0, rate, 3)])
    first, last = long_wav[: 10 * rate], long_wav[-10 * rate :]
    pooled, parts = (
        clap_audio.encode([(long_wav, rate)]),
        clap_audio.encode([(first, rate), (last, rate)]),
    )
    expected = torch.nn.functional.normalize(parts.mean(0), dim=0)
    assert torch.allclose(pooled[0], expected, atol=1e-5)


def test_bad_audio_queries(clap_audio, tmp_path):
    with pytest.raises(AudioInputError, match="silent"):
        clap_audio.encode([(np.zeros(16000, np.float32), 16000)])
    with pytest.raises(AudioInputError, match="1 samples"):
        clap_audio.encode([(np.array([0.5], np.float32), 16000)])
    with pytest.raises(AudioInputError, match="no such file"):
        clap_audio.encode([str(tmp_path / "missing.wav")])
    with pytest.raises(PromptError, match="sample rate"):
        clap_audio.encode([np.ones(16000, np.float32)])
    with pytest.raises(PromptError, match="empty list"):
        clap_audio.encode([[]])
    with pytest.raises(PromptError, match="must be .array, sample_rate."):
        clap_audio.encode([[(np.ones(16000, np.float32), 16000, 1)]])
    with pytest.raises(AudioInputError, match="got object, which is not audio samples; give a file path"):
        clap_audio.encode([(object(), 16000)])
    for rate in (-1, 0, 44100.5, "44100", True):
        with pytest.raises(AudioInputError, match=f"sample rate {rate!r} is not usable; give the rate in Hz"):
            clap_audio.encode([(np.ones(16000, np.float32), rate)])


def test_missing_checkpoint_fails_fast_with_the_fix(tmp_path):
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="codecsep-mm download 630k-audioset-best"):
        create("clap-text", checkpoint="630k-audioset-best")
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        create("clap-audio", checkpoint=str(tmp_path / "nope.pt"))
    assert time.perf_counter() - start < 5.0


def test_download_fetches_checkpoint_and_tokenizer_into_the_cache(monkeypatch):
    fetched = []

    def fake_download(url, destination, sha256=None, timeout=None, progress=True):
        fetched.append((url, destination, timeout))
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(b"x")
        return destination

    monkeypatch.setattr(hub, "download", fake_download)
    path = clap_module.download_clap_checkpoint("630k-best", timeout=3)
    assert (
        path == hub.weights_dir() / "630k-best.pt" == clap_module.clap_checkpoint_path("630k-best")
    )
    urls = [url for url, _, _ in fetched]
    assert urls[-1] == "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-best.pt"
    assert {u.rsplit("/", 1)[1] for u in urls[:-1]} == {"vocab.json", "merges.txt"}
    assert all(timeout == 3 for _, _, timeout in fetched)
    clap_module.download_clap_checkpoint("630k-best", timeout=3)
    assert len(fetched) == 3, "files already present are not fetched again"
    for _, destination, _ in fetched:
        destination.unlink()


def test_empty_offline_tokenizer_is_detected(tmp_path):
    empty = tmp_path / "empty-tokenizer"
    write_tokenizer(empty, [])  # what transformers falls back to offline: special tokens only
    with pytest.raises(WeightsNotFoundError, match="only 5 tokens.*codecsep-mm download"):
        clap_module.load_roberta_tokenizer(empty)
    with pytest.raises(WeightsNotFoundError, match="no such folder"):
        clap_module.load_roberta_tokenizer(tmp_path / "absent")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "vocab.json").write_text("<html>not found</html>")
    (corrupt / "merges.txt").write_text("")
    with pytest.raises(WeightsNotFoundError, match="cannot read"):
        clap_module.load_roberta_tokenizer(corrupt)


def test_default_tokenizer_offline_without_files_is_an_error():
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("roberta-base", "vocab.json"), str):
        pytest.skip("this machine has roberta-base in its Hugging Face cache")
    with pytest.raises(WeightsNotFoundError, match="RoBERTa tokenizer"):
        clap_module.load_roberta_tokenizer()


def test_checkpoint_that_does_not_fit_is_a_config_error(tiny_clap, tmp_path):
    checkpoint, config_path, tokenizer, _ = tiny_clap
    with pytest.raises(ConfigError, match="does not fit amodel=.*enable_fusion=True"):
        clap_module.load_clap(
            checkpoint, amodel=config_path, tokenizer=tokenizer, enable_fusion=True
        )


class Payload:
    """Stands for arbitrary pickled code in a checkpoint."""


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(ConfigError, match="refusing to unpickle"):
        clap_module.load_clap_state_dict(path)


def test_offline_guard_sets_the_hub_flag(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(clap_module.ALLOW_NETWORK_ENV, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    clap_module.ensure_hub_offline(allow_network=True)
    assert constants.HF_HUB_OFFLINE is False
    clap_module.ensure_hub_offline()
    assert constants.HF_HUB_OFFLINE is True and clap_module.os.environ["HF_HUB_OFFLINE"] == "1"


def test_building_a_clap_model_shows_no_warning_about_laion_clap_code(tiny_clap):
    import subprocess
    import sys

    # torch gives that warning once per process, and this one has built a model already
    _, config_path, _, _ = tiny_clap
    code = ("import json, sys; from codecsep_mm.prompts.clap import build_clap_model; "
            f"build_clap_model(json.loads(open(sys.argv[1]).read()), {_roberta()!r})")
    done = subprocess.run([sys.executable, "-c", code, str(config_path)], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONWARNINGS": "always"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "meshgrid" not in done.stderr
