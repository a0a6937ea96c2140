"""What the benchmark scripts that score a model on a rendered mixture manifest share (``input_level``,
``leakage``, ``mask_floor``): their common options, and the model, mixtures and prompt kinds those
options name. Not a benchmark itself."""

from __future__ import annotations

import argparse
from typing import Any


def add_manifest_options(parser: argparse.ArgumentParser, kinds: str = "class") -> None:
    """``--model``, ``--manifest``, ``--limit``, ``--kinds`` (comma-separated prompt kinds, default
    ``kinds``) and ``--threads``."""
    parser.add_argument("--model", default="starter-16k")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--kinds", default=kinds)
    parser.add_argument("--threads", type=int, default=None)


def load_manifest_run(args: argparse.Namespace) -> tuple[Any, list, list[str]]:
    """The separator, the first ``--limit`` mixture records and the prompt kinds the options name
    (torch limited to ``--threads`` when given)."""
    import torch

    from codecsep_mm import Separator
    from codecsep_mm.data.manifest import read_mixtures

    if args.threads:
        torch.set_num_threads(args.threads)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    return Separator.from_pretrained(args.model), read_mixtures(args.manifest)[: args.limit], kinds
