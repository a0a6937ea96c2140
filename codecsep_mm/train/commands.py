"""``codecsep-mm train``: the CLI over :class:`~codecsep_mm.train.trainer.Trainer`."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a masker from a YAML config (codec and prompt encoders stay frozen)",
        description="Train a masker. Multi-GPU / multi-node: launch the same command with torchrun, "
                    "e.g. `torchrun --nproc_per_node 4 -m codecsep_mm train CONFIG.yaml`.",
    )
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/last")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set run.steps=10 (repeatable)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(run=cmd_train)
    register_codec(sub)


def cmd_train(args: argparse.Namespace) -> int:
    from codecsep_mm.train.config import load_config
    from codecsep_mm.train.trainer import Trainer

    config = load_config(args.config, args.set)
    trainer = Trainer(config, resume=args.resume)
    result = trainer.fit()
    if trainer.rank != 0:
        return 0
    summary = {
        "steps": result.step,
        "best_valid_loss": result.best_valid_loss,
        "stopped_early": result.stopped_early,
        "out_dir": str(result.out_dir),
        "model": str(result.out_dir / "best"),
        "last_validation": result.history[-1] if result.history else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"trained {result.step} steps; best validation loss {result.best_valid_loss:.3f}; "
              f"model in {result.out_dir / 'best'}"
              + (" (stopped early)" if result.stopped_early else ""))
    return 0


def register_codec(sub) -> None:
    p = sub.add_parser(
        "train-codec", help="train a DAC-architecture codec from a YAML config",
        description="Train a codec (multi-scale mel + waveform + VQ losses). The best weights land "
                    "in OUT_DIR/best/codec.pth (DAC's format); use them as model.codec in a masker "
                    "config. Several GPUs: torchrun --nproc_per_node N -m codecsep_mm train-codec ...",
    )
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/last")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_train_codec)


def cmd_train_codec(args: argparse.Namespace) -> int:
    from codecsep_mm.train.codec import BEST_FILE, CodecTrainConfig, CodecTrainer
    from codecsep_mm.train.config import load_config

    config = load_config(args.config, args.set, cls=CodecTrainConfig)
    trainer = CodecTrainer(config, resume=args.resume)
    result = trainer.fit()
    if trainer.rank != 0:
        return 0
    last = result.history[-1] if result.history else {}
    summary = {"steps": result.step, "best_valid_loss": result.best_valid_loss,
               "stopped_early": result.stopped_early, "codec": str(result.out_dir / "best" / BEST_FILE),
               "last_validation": last}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"trained {result.step} steps; best validation loss {result.best_valid_loss:.3f}; "
              f"codec in {summary['codec']}")
    return 0
