"""On the GPU machine: codecsep-mm's CLI with MiniLM answered from the packed text table, since that
machine has no MiniLM weights.

    python tools/device_finetune/launch.py train CONFIG --set ...

The table is ``$DEVICE_DATA/text_table.pt`` (default ``.gpu``); a prompt missing from it is an error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from codecsep_mm.prompts import minilm

_table = torch.load(Path(os.environ.get("DEVICE_DATA", ".gpu")) / "text_table.pt")
LOOKUP = {text: vector.float() for text, vector in zip(_table["texts"], _table["vectors"])}


def _init(self, *args, **kwargs):
    self.embed_dim, self.batch_size, self.options = minilm.MINILM_DIM, 64, {}


def _encode(self, prompts):
    missing = [p for p in prompts if p not in LOOKUP]
    if missing:
        raise KeyError(f"text prompts not in the packed table: {missing[:3]}")
    return torch.stack([LOOKUP[p] for p in prompts]) if prompts else torch.empty(0, minilm.MINILM_DIM)


minilm.MiniLMTextEncoder.__init__ = _init  # type: ignore[method-assign]
minilm.MiniLMTextEncoder.encode = _encode  # type: ignore[method-assign]

if __name__ == "__main__":
    from codecsep_mm.cli import main

    sys.exit(main(sys.argv[1:]))
