"""Training through the real `codecsep-mm train` entry point: steps, checkpoints, resume, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from codecsep_mm.cli import main
from codecsep_mm.separator import Separator

from .conftest import REPO, TINY_CONFIG, tiny_overrides


def _masker(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoints" / "last" / "masker.safetensors"))


def _assert_same_weights(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol, rtol=0), key


def test_two_steps_through_the_cli_write_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), "--json", *tiny_overrides(out, steps=2)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2
    assert summary["last_validation"]["valid/loss"] == pytest.approx(summary["best_valid_loss"])
    # the masker moved away from its initialisation
    initial = Separator.from_pretrained("tiny").masker.state_dict()  # same seed-0 tiny architecture
    trained = _masker(out)
    assert any(not torch.equal(initial[k], trained[k]) for k in trained if k in initial)
    # the best model is a model folder that separates
    separator = Separator.from_pretrained(out / "best")
    result = separator.separate(torch.randn(8000).numpy() * 0.1, ["speech"])
    assert result.stems.shape == (1, 8000)
    assert (out / "config.yaml").is_file() and (out / "log.jsonl").is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_validate_only_prints_the_starting_weights_figures_and_writes_nothing(tmp_path, capsys):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    out = tmp_path / "run"
    args = tiny_overrides(out, **{"loss.kind": "latent"})
    assert main(["train", str(TINY_CONFIG), "--json", "--validate-only", *args]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"])).validate()
    assert printed.keys() == expected.keys() and "valid/loss" in printed
    assert all(printed[key] == pytest.approx(expected[key], abs=1e-5) for key in expected)
    assert not out.exists()
    assert main(["train", str(TINY_CONFIG), "--validate-only", *args]) == 0
    assert capsys.readouterr().out.startswith("validation of the starting weights: valid/loss ")


@pytest.mark.parametrize("command, config", [("train-codec", "codec-tiny.yaml"),
                                             ("train-audio-encoder", "audio-encoder-tiny.yaml")])
def test_validate_only_scores_the_codec_and_audio_encoder_trainers_starts_too(tmp_path, capsys, command, config):
    out = tmp_path / "run"
    args = ["--set", f"run.out_dir={out}", "--set", "data.valid_items=4", "--set", "run.progress=false"]
    assert main([command, str(REPO / "configs" / config), "--json", "--validate-only", *args]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(printed["valid/loss"]) and not out.exists()


def test_validate_only_without_validation_items_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = tiny_overrides(out, **{"data.valid_items": 0})
    assert main(["train", str(TINY_CONFIG), "--validate-only", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.valid_items" in err[0] and not out.exists()


def test_training_lowers_the_validation_loss(tmp_path):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    args = tiny_overrides(tmp_path / "run", steps=30, **{"run.valid_every": 30, "optim.lr": 3e-3, "loss.kind": "latent"})
    config = load_config(TINY_CONFIG, [a for a in args if a != "--set"])
    trainer = Trainer(config)
    before = trainer.validate()["valid/loss"]
    result = trainer.fit()
    after = result.history[-1]["valid/loss"]
    assert after < 0.8 * before, (before, after)


def test_the_latent_loss_in_db_averages_each_stems_error_in_db(tmp_path, monkeypatch):
    import torch

    from codecsep_mm.data.mixing import collate
    from codecsep_mm.train import trainer as training
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.loss import latent_nmse
    from codecsep_mm.train.trainer import Trainer

    seen = []

    def recording(estimate, target, **absent):
        seen.append(latent_nmse(estimate, target, **absent))
        return seen[-1]

    monkeypatch.setattr(training, "latent_nmse", recording)
    args = tiny_overrides(tmp_path / "run", **{"loss.kind": "latent", "loss.latent_db": True, "run.batch_size": 2})
    trainer = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"]))
    batch = collate([trainer.valid_set[0], trainer.valid_set[1]])
    with torch.no_grad():
        value = float(trainer.loss(batch))
    per_stem = seen[-1]
    assert per_stem.numel() >= 4 and float(per_stem.max() / per_stem.min()) > 1.01
    assert abs(value - float((10 * torch.log10(per_stem + 1e-6)).mean())) < 1e-4


def test_left_out_sources_train_their_prompts_towards_silence(tmp_path):
    from codecsep_mm.data.mixing import collate
    from codecsep_mm.errors import ConfigError
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    args = tiny_overrides(tmp_path / "run", steps=2, **{"loss.kind": "latent", "loss.latent_db": True,
                                                        "data.mixing.absent_prob": "{music: 1.0}"})
    config = load_config(TINY_CONFIG, [a for a in args if a != "--set"])
    trainer = Trainer(config)
    items = [trainer.train_set[0], trainer.train_set[1]]
    music = config.data.mixing.classes.index("music")
    assert all(not item.stems[music].any() and item.stems.any() for item in items)
    assert all(item.stems[music].any() for item in (trainer.valid_set[0], trainer.valid_set[1]))
    with torch.no_grad():
        loss = float(trainer.loss(collate(items)))
    assert np.isfinite(loss) and loss > -60.0  # a silent target counts down to -30 dB, not to -inf
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    with pytest.raises(ConfigError, match="absent_prob.*loss.kind: latent"):
        load_config(TINY_CONFIG, [a for a in args if a != "--set"] + ["loss.kind=si-sdr"])


@pytest.mark.parametrize("mixture_term", [True, False])
def test_the_si_sdr_loss_counts_the_decoded_sum_only_with_the_mixture_term(tmp_path, monkeypatch, mixture_term):
    from codecsep_mm.data.mixing import collate
    from codecsep_mm.train import trainer as training
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.loss import neg_si_sdr, separation_loss
    from codecsep_mm.train.trainer import Trainer

    seen = []

    def recording(est_stems, stems, est_mixture=None, mixture=None):
        seen.append((est_stems, stems, est_mixture))
        return separation_loss(est_stems, stems, est_mixture, mixture)

    monkeypatch.setattr(training, "separation_loss", recording)
    args = tiny_overrides(tmp_path / "run", **{"loss.kind": "si-sdr", "loss.mixture_term": str(mixture_term).lower(),
                                               "run.batch_size": 2})
    trainer = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"]))
    with torch.no_grad():
        value = float(trainer.loss(collate([trainer.valid_set[0], trainer.valid_set[1]])))
    est_stems, stems, est_mixture = seen[-1]
    stems_only = float(neg_si_sdr(est_stems, stems).mean())
    if mixture_term:
        assert est_mixture is not None and abs(value - stems_only) > 1e-3
    else:
        assert est_mixture is None and value == pytest.approx(stems_only, abs=1e-5)


def test_the_trainer_scores_left_out_sources_down_to_the_configured_floor(tmp_path, monkeypatch):
    from codecsep_mm.data.mixing import collate
    from codecsep_mm.train import trainer as training
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.loss import latent_nmse
    from codecsep_mm.train.trainer import Trainer

    seen = []

    def recording(estimate, target, **options):
        seen.append((latent_nmse(estimate, target, **options), options))
        return seen[-1][0]

    monkeypatch.setattr(training, "latent_nmse", recording)
    args = tiny_overrides(tmp_path / "run", **{"loss.kind": "latent", "loss.latent_db": True,
                                               "data.mixing.absent_prob": "{music: 1.0}", "loss.absent_floor_db": -10})
    trainer = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"]))
    with torch.no_grad():
        trainer.loss(collate([trainer.train_set[0], trainer.train_set[1]]))
    errors, options = seen[-1]
    assert options["absent_floor"] == pytest.approx(0.1)
    assert bool(options["absent"].any()) and float(errors[options["absent"]].min()) >= 0.1 - 1e-6


@pytest.mark.parametrize("value", ["0", "3", "-100", "low", "true"])
def test_bad_absent_floors_are_refused(tmp_path, value):
    from codecsep_mm.errors import ConfigError
    from codecsep_mm.train.config import load_config

    args = tiny_overrides(tmp_path / "run", **{"loss.kind": "latent", "loss.absent_floor_db": value})
    with pytest.raises(ConfigError, match="loss.absent_floor_db"):
        load_config(TINY_CONFIG, [a for a in args if a != "--set"])


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(straight, steps=4, **{"run.checkpoint_every": 2})]) == 0
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(split, steps=2, **{"run.valid_every": 4})]) == 0
    assert main(["train", str(TINY_CONFIG), "--resume",
                 *tiny_overrides(split, steps=4, **{"run.checkpoint_every": 2})]) == 0
    _assert_same_weights(_masker(straight), _masker(split), atol=1e-6)
    state = json.loads((split / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["step"] == 4


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    extra = {"run.checkpoint_every": 3, "run.valid_every": 1000}
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(straight, steps=60, **extra)]) == 0
    import torch

    # the killed run's first part on as many threads as the straight run (the reductions' order
    # differs between thread counts, and 60 steps carry that past the tolerance)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    command = [sys.executable, "-m", "codecsep_mm", "train", str(TINY_CONFIG),
               *tiny_overrides(killed, steps=60, **extra)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_file = killed / "checkpoints" / "last" / "trainer_state.json"
    deadline = time.time() + 120
    while not state_file.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    saved_step = json.loads(state_file.read_text())["step"]
    assert 3 <= saved_step < 60
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(killed, steps=60, **extra)]) == 0
    _assert_same_weights(_masker(straight), _masker(killed), atol=1e-6)


def test_ddp_on_two_gloo_processes_matches_one_process_with_the_same_items(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(single, steps=3, **{"run.batch_size": 4})]) == 0
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000),
         "-m", "codecsep_mm", "train", str(TINY_CONFIG), *tiny_overrides(ddp, steps=3)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # 2 ranks x batch 2 see the items of 1 rank x batch 4; averaged gradients give the same weights
    _assert_same_weights(_masker(single), _masker(ddp), atol=1e-5)


def test_prompt_encoder_runs_once_per_distinct_prompt(tmp_path):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    args = tiny_overrides(tmp_path / "run", steps=6, **{"run.valid_every": 1000})
    trainer = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"]))
    trainer.fit()
    encoder = trainer.separator.encoders["text"]
    info = encoder.cache_info()
    assert info["misses"] <= info["size"]  # every miss is a distinct prompt, never recomputed
    assert info["hits"] > info["misses"]


def test_manifest_training_reads_recordings(tmp_path, source_manifest):
    out = tmp_path / "run"
    args = tiny_overrides(out, steps=2, **{"data.synthetic": False, "data.manifest": str(source_manifest)})
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    assert (out / "best" / "config.json").is_file()


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path, capsys):
    out = tmp_path / "run"
    args = tiny_overrides(out, steps=50, **{"run.valid_every": 2, "run.early_stop_patience": 2,
                                           "run.min_delta": 1000.0})
    assert main(["train", str(TINY_CONFIG), "--json", *args]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the first validation sets the best; two more without a 1000-unit gain end the run
    assert summary["stopped_early"] and summary["steps"] == 6
    state = json.loads((out / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["step"] == 6 and state["bad_evals"] == 2


def test_bf16_autocast_step(tmp_path):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    args = tiny_overrides(tmp_path / "run", steps=1, **{"run.amp": "bf16"})
    trainer = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"]))
    assert trainer.amp_dtype == torch.bfloat16
    result = trainer.fit()
    assert result.step == 1 and np.isfinite(result.best_valid_loss)


def test_warmup_raises_the_learning_rate_linearly_then_hands_over(tmp_path):
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    args = tiny_overrides(tmp_path / "run", steps=6, **{"optim.lr": 1e-3, "optim.warmup_steps": 4,
                                                         "run.log_every": 1, "run.valid_every": 100})
    result = Trainer(load_config(TINY_CONFIG, [a for a in args if a != "--set"])).fit()
    logged = [json.loads(line) for line in (result.out_dir / "log.jsonl").read_text().splitlines()]
    rates = [entry["train/lr"] for entry in logged if "train/lr" in entry]
    assert rates == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])


def test_a_checkpoint_from_before_a_new_option_resumes_with_that_options_default(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, steps=2)]) == 0
    state_file = out / "checkpoints" / "last" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["optim"]["warmup_steps"]  # as written before the option existed
    state_file.write_text(json.dumps(state))
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(out, steps=3)]) == 0
    assert json.loads(state_file.read_text())["step"] == 3
    capsys.readouterr()
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(out, steps=4, **{"optim.warmup_steps": 5})]) != 0
    assert "optim.warmup_steps" in capsys.readouterr().err


def test_a_nested_option_added_later_resumes_with_its_default_and_a_change_is_named(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, steps=2)]) == 0
    state_file = out / "checkpoints" / "last" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["data"]["mixing"]["peak_db"]  # as if written before data.mixing.peak_db existed
    state_file.write_text(json.dumps(state))
    assert main(["train", str(TINY_CONFIG), "--resume", *tiny_overrides(out, steps=3)]) == 0
    capsys.readouterr()
    args = tiny_overrides(out, steps=4, **{"data.mixing.peak_db": -3.0})
    assert main(["train", str(TINY_CONFIG), "--resume", *args]) != 0
    error = capsys.readouterr().err
    assert "data.mixing.peak_db" in error and "data.mixing)" not in error



def test_kept_checkpoints_hold_each_checkpoints_weights_and_average_to_their_mean(tmp_path, capsys):
    from codecsep_mm.errors import ConfigError
    from codecsep_mm.train.checkpoint import average_weights

    out = tmp_path / "run"
    args = tiny_overrides(out, steps=4, **{"run.checkpoint_every": 2, "run.keep_checkpoints": "true"})
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    kept = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    assert kept == ["step-0000002", "step-0000004"]
    second, fourth = (load_file(str(out / "checkpoints" / k / "masker.safetensors")) for k in kept)
    _assert_same_weights(fourth, _masker(out))
    trained = [k for k in second if not second[k].equal(fourth[k])]
    assert trained  # two steps apart: the weights moved

    mean = average_weights([out / "checkpoints" / k for k in kept])
    for key in second:
        torch.testing.assert_close(mean[key], (second[key] + fourth[key]) / 2)

    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, str(other))
    with pytest.raises(ConfigError, match="other tensors"):
        average_weights([out / "checkpoints" / kept[0], other])


def test_a_model_trained_from_a_base_does_not_inherit_its_mask_floor_or_power(tmp_path, capsys):
    import dataclasses

    base = tmp_path / "base"
    floored = Separator.from_pretrained("tiny")
    floored.settings = dataclasses.replace(floored.settings, mask_floor=0.3, mask_power=0.7)
    floored.save_pretrained(base)
    assert Separator.from_pretrained(base).settings.mask_floor == pytest.approx(0.3)
    assert Separator.from_pretrained(base).settings.mask_power == pytest.approx(0.7)
    out = tmp_path / "run"
    assert main(["train", str(TINY_CONFIG), *tiny_overrides(out, steps=1, **{"model.base": str(base)})]) == 0
    capsys.readouterr()
    # training and validation never apply a floor or a power, so the new weights are saved without them
    assert Separator.from_pretrained(out / "best").settings.mask_floor == 0.0
    assert Separator.from_pretrained(out / "best").settings.mask_power == 1.0


def test_a_trained_model_separates_in_windows_as_long_as_its_training_crops_at_their_loudness(tmp_path, capsys):
    out = tmp_path / "run"
    args = tiny_overrides(out, steps=1, **{"data.mixing.crop_seconds": 1.5, "data.mixing.mixture_lufs": -30.0})
    assert main(["train", str(TINY_CONFIG), *args]) == 0
    capsys.readouterr()
    settings = json.loads((out / "best" / "config.json").read_text())["separation"]
    assert settings["chunk_seconds"] + 2 * settings["context_seconds"] == pytest.approx(1.5)
    assert settings.pop("remove_offset") is True
    assert settings == pytest.approx({"chunk_seconds": 0.75, "overlap_seconds": 0.375, "context_seconds": 0.375,
                                      "mask_floor": 0.0, "input_lufs": -30.0, "mask_power": 1.0})
    assert Separator.from_pretrained(out / "best").settings.chunk_seconds == pytest.approx(0.75)
