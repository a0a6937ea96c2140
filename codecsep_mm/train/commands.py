"""``codecsep-mm train``, ``train-codec`` and ``train-audio-encoder``: the CLI over the trainers.

All three take a YAML config, ``--resume`` and ``--set SECTION.KEY=VALUE`` overrides, and run under
``torchrun`` for several GPUs or nodes (DDP), e.g.
``torchrun --nproc_per_node 4 -m codecsep_mm train CONFIG.yaml``.
"""

from __future__ import annotations

import argparse
import importlib
import json

# command -> (help, config class, trainer class, what lands in OUT_DIR/best)
TRAINERS = {
    "train": ("train a masker from a YAML config (codec and prompt encoders stay frozen)",
              "codecsep_mm.train.config:TrainConfig", "codecsep_mm.train.trainer:Trainer",
              "a model folder"),
    "train-codec": ("train a DAC-architecture codec from a YAML config",
                    "codecsep_mm.train.codec:CodecTrainConfig", "codecsep_mm.train.codec:CodecTrainer",
                    "codec.pth, DAC's weight format (use it as model.codec)"),
    "train-audio-encoder": ("train an audio-query encoder into a locked text encoder's space",
                            "codecsep_mm.train.audio_encoder:AudioEncoderTrainConfig",
                            "codecsep_mm.train.audio_encoder:AudioEncoderTrainer",
                            "a starter-audio encoder folder"),
}


def register(sub) -> None:
    for command, (help_text, _, _, best) in TRAINERS.items():
        p = sub.add_parser(command, help=help_text,
                           description=f"{help_text}. The best result lands in OUT_DIR/best ({best}). "
                                       "Several GPUs or nodes: torchrun --nproc_per_node N -m "
                                       f"codecsep_mm {command} CONFIG.yaml")
        p.add_argument("config", metavar="CONFIG.yaml")
        p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/last")
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value, e.g. --set run.steps=10 (repeatable)")
        p.add_argument("--json", action="store_true", help="print a machine-readable summary")
        p.add_argument("--validate-only", action="store_true",
                       help="score the starting weights (the base, or the checkpoint with --resume) on the "
                            "validation items and print the figures; nothing is trained or written")
        p.set_defaults(run=cmd_train, trainer_command=command)


def cmd_train(args: argparse.Namespace) -> int:
    from codecsep_mm.train.config import load_config

    _, config_path, trainer_path, _ = TRAINERS[args.trainer_command]
    config = load_config(args.config, args.set, cls=_load(config_path))
    trainer = _load(trainer_path)(config, resume=args.resume)
    if args.validate_only:
        return _validate_only(trainer, args.json)
    result = trainer.fit()
    if trainer.rank != 0:
        return 0
    summary = {
        "steps": result.step,
        "best_valid_loss": result.best_valid_loss,
        "stopped_early": result.stopped_early,
        "out_dir": str(result.out_dir),
        "best": str(result.out_dir / "best"),
        "last_validation": result.history[-1] if result.history else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"trained {result.step} steps; best validation loss {result.best_valid_loss:.3f}; "
              f"result in {summary['best']}" + (" (stopped early)" if result.stopped_early else ""))
    return 0


def _validate_only(trainer, as_json: bool) -> int:
    from codecsep_mm.errors import ConfigError

    metrics = trainer.validate()
    if trainer.rank != 0:
        return 0
    if not metrics:
        raise ConfigError("this config has no validation items to score; set data.valid_items above 0")
    if as_json:
        print(json.dumps(metrics))
    else:
        print("validation of the starting weights: "
              + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))
    return 0


def _load(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
