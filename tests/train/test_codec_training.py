"""`codecsep-mm train-codec`: a codec trained through the real entry point, then frozen under a masker."""

from __future__ import annotations

import json

import numpy as np
import torch

from codecsep_mm.cli import main
from codecsep_mm.codecs import create_codec

from .conftest import REPO, TINY_CONFIG, tiny_overrides

CODEC_CONFIG = REPO / "configs" / "codec-tiny.yaml"


def test_train_a_codec_then_a_masker_on_it(tmp_path, capsys, recwarn):
    out = tmp_path / "codec"
    args = ["--set", f"run.out_dir={out}", "--set", "run.steps=2", "--set", "run.valid_every=2",
            "--set", "run.checkpoint_every=2", "--set", "run.progress=false", "--set", "data.valid_items=2"]
    assert main(["train-codec", str(CODEC_CONFIG), "--json", *args]) == 0
    assert not [w for w in recwarn if "stft_data" in str(w.message)]  # the mel scales' STFTs, expected
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    validation = summary["last_validation"]
    assert np.isfinite(validation["valid/loss"]) and "valid/si_sdr_continuous" in validation
    codec_file = summary["best"] + "/codec.pth"
    codec = create_codec(codec_file)  # DAC's format, through the same backend as official DAC
    assert codec.sample_rate == 16000 and codec.hop_length == 320 and codec.latent_dim == 128
    wav = torch.randn(1, 1, 8000) * 0.1
    assert codec.decode(codec.encode(wav)).shape == (1, 1, 8000)
    # resume continues the same run
    assert main(["train-codec", str(CODEC_CONFIG), "--resume", *args[:-2], "--set", "run.steps=3",
                 "--set", "data.valid_items=2"]) == 0
    state = json.loads((out / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["step"] == 3

    masker_run = tmp_path / "masker"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(masker_run, **{"model.codec": codec_file})]) == 0
    from codecsep_mm import Separator

    separator = Separator.from_pretrained(masker_run / "best")  # the trained codec is stored with it
    assert separator.codec.name == "codec"
    frozen = create_codec(codec_file)
    for key, value in frozen.model.state_dict().items():
        assert torch.equal(value, separator.codec.model.state_dict()[key]), key


def test_finetune_keeps_the_frozen_parts_and_trains_the_rest(tmp_path, capsys):
    def run(out, *extra):
        args = ["--set", f"run.out_dir={out}", "--set", "run.steps=2", "--set", "run.valid_every=2",
                "--set", "run.checkpoint_every=2", "--set", "run.progress=false",
                "--set", "data.valid_items=2", *extra]
        assert main(["train-codec", str(CODEC_CONFIG), "--json", *args]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["best"] + "/codec.pth"

    first = create_codec(run(tmp_path / "first")).model.state_dict()
    second = create_codec(run(tmp_path / "second", "--set", f"finetune.init_from={tmp_path / 'first'}",
                              "--set", 'finetune.freeze=["encoder", "quantizer"]',
                              "--set", "loss.si_sdr_weight=1.0")).model.state_dict()
    for key, value in first.items():
        if key.startswith(("encoder.", "quantizer.")):
            assert torch.equal(value, second[key]), key
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("decoder."))


    # with the encoder and decoder both frozen the continuous path teaches nothing: training skips
    # decoding it, validation still reports it
    from codecsep_mm.train.codec import CodecTrainConfig, CodecTrainer
    from codecsep_mm.train.config import load_config

    config = load_config(CODEC_CONFIG, [f"run.out_dir={tmp_path / 'third'}", f"finetune.init_from={tmp_path / 'first'}",
                                        "finetune.freeze=[encoder, decoder]", "data.valid_items=2"],
                         cls=CodecTrainConfig)
    trainer = CodecTrainer(config)
    trainer.model.train()
    assert not trainer._continuous()
    assert "valid/si_sdr_continuous" in trainer.validate()


def test_finetune_settings_are_checked(tmp_path, capsys):
    base = ["train-codec", str(CODEC_CONFIG), "--set", f"run.out_dir={tmp_path / 'x'}"]
    assert main([*base, "--set", 'finetune.freeze=["encoder"]']) != 0
    assert "finetune.init_from" in capsys.readouterr().err
    assert main([*base, "--set", f"finetune.init_from={tmp_path}", "--set", 'finetune.freeze=["wheels"]']) != 0
    assert "unknown parts" in capsys.readouterr().err
    assert main([*base, "--set", f"finetune.init_from={tmp_path / 'missing'}", "--set", "run.steps=1"]) != 0
    assert "no codec weights" in capsys.readouterr().err
    assert main([*base, "--set", "finetune.quantizer_init=pca"]) != 0
    assert "finetune.quantizer_init: 'pca'; choose 'none' or 'kmeans'" in capsys.readouterr().err
    assert not (tmp_path / "x" / "best").exists()


def test_a_quantizer_fitted_by_kmeans_is_validated_before_the_first_step(tmp_path, capsys):
    from codecsep_mm.train.codec import CodecTrainConfig, CodecTrainer
    from codecsep_mm.train.config import load_config

    out = tmp_path / "kmeans"
    overrides = [f"run.out_dir={out}", "run.steps=1", "run.valid_every=1", "run.checkpoint_every=1",
                 "run.progress=false", "data.valid_items=2", "finetune.quantizer_init_items=12"]
    plain = CodecTrainer(load_config(CODEC_CONFIG, overrides, cls=CodecTrainConfig))
    config = load_config(CODEC_CONFIG, [*overrides, "finetune.quantizer_init=kmeans"], cls=CodecTrainConfig)
    fitted = CodecTrainer(config)
    snr = fitted.quantizer_snr_db
    assert len(snr) == 4 and all(b > a for a, b in zip(snr, snr[1:])) and snr[-1] > 1.5  # 2.5 dB
    assert "quantizer fitted by k-means to 300 latent frames" in capsys.readouterr().err  # 12 x 25 frames

    def latent_snr(trainer):  # the validation items' latents through the quantizer, in dB
        from codecsep_mm.data.mixing import collate

        codec = trainer.codec.eval()
        audio = collate([trainer.valid_set[i] for i in range(2)])["mixture"]
        with torch.no_grad():
            latent = codec.encoder(codec.preprocess(audio, 16000))
            error = latent - codec.quantizer(latent, None)[0]
        return float(10 * torch.log10(latent.pow(2).sum() / error.pow(2).sum()))

    assert latent_snr(plain) < 0 < latent_snr(fitted)  # on items it was not fitted to
    # through the command: the fitted start is scored at step 0, before any step, and kept as the best
    args = [f"--set={item}" for item in [*overrides, "finetune.quantizer_init=kmeans"]]
    assert main(["train-codec", str(CODEC_CONFIG), "--json", *args]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    validated = [row["step"] for row in rows if "valid/si_sdr_quantized" in row]
    assert validated == [0, 1]
    # resuming does not fit it again: the checkpoint's quantizer is the one that goes on
    resumed = CodecTrainer(config, resume=True)
    assert resumed.quantizer_snr_db == [] and resumed.state["step"] == 1
