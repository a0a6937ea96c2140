"""Bad training input: one clear line naming the key or the manifest line, exit code 2."""

from __future__ import annotations

import json

import pytest

from codecsep_mm.cli import main

from .conftest import TINY_CONFIG, tiny_overrides


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("codecsep-mm: error: ")
    return err[0]


def test_unknown_config_key_is_named_with_the_valid_ones(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(TINY_CONFIG.read_text() + "\n" + "optim:\n  learning_rate: 0.1\n")
    assert main(["train", str(config)]) == 2
    line = _error(capsys)
    assert "optim.learning_rate" in line and "'lr'" in line


def test_nested_unknown_key_and_wrong_type(tmp_path, capsys):
    assert main(["train", str(TINY_CONFIG), "--set", "data.mixing.crop_second=1"]) == 2
    assert "data.mixing.crop_second" in _error(capsys)
    assert main(["train", str(TINY_CONFIG), "--set", "run.steps=many"]) == 2
    assert "run.steps" in _error(capsys)


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert "no such config file" in _error(capsys)


@pytest.mark.parametrize("command", ["train", "train-codec", "train-audio-encoder"])
def test_every_trainer_checks_its_config_before_it_starts(tmp_path, capsys, command):
    audio = tmp_path / "mix.wav"  # a recording given as the config
    audio.write_bytes(b"RIFF\x0c\xe2\x08\x00WAVEfmt " + bytes(range(128, 256)))
    assert main([command, str(audio)]) == 2
    assert "not UTF-8 text" in _error(capsys)
    config = tmp_path / "run.yaml"
    config.write_text(f"run:\n  out_dir: {tmp_path / 'run'}\n  steps: 5\n")  # no data
    assert main([command, str(config)]) == 2
    assert "give a source manifest" in _error(capsys)
    assert main([command, str(config), "--set", "data.synthetic=true", "--set", "run.steps=0"]) == 2
    assert "run.steps must be at least 1" in _error(capsys)  # only a k-means fit of a codec has 0
    assert main([command, str(config), "--set", "data.synthetic=true", "--set", "run.steps=-1"]) == 2
    assert "run.steps must be at least" in _error(capsys)
    assert main([command, str(config), "--set", "data.synthetic=true", "--set", "run.log_every=0"]) == 2
    assert "run.log_every must be at least 1" in _error(capsys)
    for key, value, message in (("optim.lr", "nan", "optim.lr is nan; give a learning rate above 0"),
                                ("optim.lr", "-1", "optim.lr is -1; give a learning rate above 0"),
                                ("optim.warmup_steps", "-5", "optim.warmup_steps is -5; give a number of steps"),
                                ("optim.betas", "[0.9, 1.5]", "optim.betas is (0.9, 1.5); give two numbers"),
                                ("optim.plateau_factor", "1.0", "optim.plateau_factor is 1.0"),
                                ("optim.grad_clip", "inf", "optim.grad_clip is inf")):
        assert main([command, str(config), "--set", "data.synthetic=true", "--set", f"{key}={value}"]) == 2
        assert message in _error(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, value, message", [
    ("data.mixing.crop_seconds", "nan", "crop_seconds must be at least 0.5"),
    ("data.mixing.gain_db", "inf", "mixing gain_db is inf; give 0 to 40 dB"),
    ("data.mixing.gain_db", "-3", "mixing gain_db is -3; give 0 to 40 dB"),
    ("data.mixing.mixture_lufs", "10", "mixing mixture_lufs is 10; give -70 to 0 dB"),
    ("data.mixing.loudness_lufs", "{speech: .nan, music: -24, sfx: -21}", "mixing loudness_lufs.speech is nan"),
    ("data.mixing.loudness_lufs", "{speech: loud, music: -24, sfx: -21}", "mixing loudness_lufs.speech is 'loud'"),
])
def test_a_mixing_level_out_of_range_is_refused_before_training(tmp_path, capsys, key, value, message):
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, steps=1), "--set", f"{key}={value}"]) == 2
    assert message in _error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"path": "missing.flac"}, "does not exist"),
        ({"class": "noise"}, "class 'noise' is not one of"),
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"split": "dev"}, "split 'dev'"),
    ],
)
def test_bad_manifest_line_is_named(tmp_path, capsys, source_manifest, change, expected):
    lines = source_manifest.read_text().splitlines()
    broken = {**json.loads(lines[3]), **change}
    lines[3] = json.dumps(broken)
    source_manifest.write_text("\n".join(lines) + "\n")
    args = tiny_overrides(tmp_path / "run", **{"data.synthetic": False, "data.manifest": str(source_manifest)})
    assert main(["train", str(TINY_CONFIG), *args]) == 2
    line = _error(capsys)
    assert f"{source_manifest}:4" in line and expected in line


def test_corrupt_recording_is_named(tmp_path, capsys, source_manifest):
    records = [json.loads(line) for line in source_manifest.read_text().splitlines()]
    for record in records:
        if record["class"] == "speech" and record["split"] == "train":
            (source_manifest.parent / record["path"]).write_bytes(b"fLaC not really audio")
    args = tiny_overrides(tmp_path / "run", steps=3,
                          **{"data.synthetic": False, "data.manifest": str(source_manifest)})
    assert main(["train", str(TINY_CONFIG), *args]) == 2
    line = _error(capsys)
    assert "speech-" in line and "cannot read audio" in line


def test_checkpoint_of_another_architecture(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(first)]) == 0
    capsys.readouterr()
    args = tiny_overrides(tmp_path / "second", **{"model.masker_overrides": "{d_model: 48}",
                                                  "model.init_from": str(first / "best")})
    assert main(["train", str(TINY_CONFIG), *args]) == 2
    line = _error(capsys)
    assert "different masker architecture" in line and "48" in line


def test_a_missing_init_from_is_a_one_line_error(tmp_path, capsys):
    args = tiny_overrides(tmp_path / "run", **{"model.init_from": str(tmp_path / "nowhere")})
    assert main(["train", str(TINY_CONFIG), *args]) == 2
    line = _error(capsys)
    assert "model.init_from" in line and "not found" in line
    assert not (tmp_path / "run" / "best").exists()


def test_resume_refuses_a_changed_config_and_a_missing_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(out)]) == 2
    assert "no checkpoint to resume from" in _error(capsys)
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out)]) == 0
    capsys.readouterr()
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(out, **{"optim.lr": 0.5})]) == 2
    assert "optim.lr" in _error(capsys)


def test_a_written_config_reads_back_identically(tmp_path):
    import yaml

    from codecsep_mm.train.config import TrainConfig, load_config

    config = load_config(TINY_CONFIG)
    assert TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out)]) == 0
    assert main(["train", str(out / "config.yaml"), "--resume", "--set", "run.steps=3",
                 "--set", "run.progress=false"]) == 0


@pytest.mark.parametrize("command, config, key, value, message", [
    ("train", "tiny.yaml", "data.valid_items", "0", "data.valid_items must be at least 1"),
    ("train-codec", "codec-tiny.yaml", "data.valid_items", "0", "data.valid_items must be at least 1"),
    ("train-audio-encoder", "audio-encoder-tiny.yaml", "data.valid_items", "0", "data.valid_items must be at least 1"),
    ("train", "tiny.yaml", "data.num_workers", "-1", "data.num_workers must be 0"),
    ("train-audio-encoder", "audio-encoder-tiny.yaml", "loss.temperature", "0", "loss.temperature is 0; give a softmax"),
    ("train-audio-encoder", "audio-encoder-tiny.yaml", "data.clip_seconds", "0", "data.clip_seconds is 0; give 0.5"),
    ("train-audio-encoder", "audio-encoder-tiny.yaml", "data.clip_seconds", ".nan", "data.clip_seconds is nan"),
    ("train-codec", "codec-tiny.yaml", "loss.mel_weight", "-1", "loss.mel_weight is -1; give a weight >= 0"),
    ("train-codec", "codec-tiny.yaml", "loss.single_source_prob", "2", "loss.single_source_prob is 2; give 0 to 1"),
    ("train-codec", "codec-tiny.yaml", "codec.decoder_rates", "[8, 5, 4]", "must give the same hop"),
    ("train-codec", "codec-tiny.yaml", "codec.n_codebooks", "0", "codec.n_codebooks is 0; it must be at least 1"),
])
def test_trainer_sections_refuse_values_that_cannot_train(tmp_path, capsys, command, config, key, value, message):
    out = tmp_path / "run"
    argv = [command, str(TINY_CONFIG.parent / config), "--set", f"run.out_dir={out}", "--set", "run.steps=1",
            "--set", f"{key}={value}"]
    assert main(argv) == 2
    assert message in _error(capsys)
    assert not out.exists()


def test_a_masker_run_stops_before_training_when_its_best_folder_holds_another_result(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "best" / "codec.pth").write_bytes(b"a codec run's result")
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, steps=1)]) == 2
    assert "best: holds files that are not a model's (codec.pth)" in _error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["best"]  # nothing trained, nothing written
    assert (out / "best" / "codec.pth").read_bytes() == b"a codec run's result"
