"""How fast the data loader alone feeds a fine-tune: items per second with N worker processes.

    python tools/device_finetune/throughput.py MANIFEST WORKERS SECONDS [--set KEY=VALUE ...]

Builds the training set exactly as ``codecsep-mm train configs/starter-16k.yaml`` with the same
``--set`` options would, then draws batches of ``run.batch_size`` for ``SECONDS`` (after the first
batch) without training. Compare with the trainer's ``train/audio_seconds_per_second``: where the
loader is much faster, the training loop, not the data, is the limit.
"""

from __future__ import annotations

import argparse
import time

from torch.utils.data import DataLoader

from codecsep_mm.data.mixing import collate
from codecsep_mm.train.config import load_config
from codecsep_mm.train.trainer import _datasets

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("workers", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config = load_config("configs/starter-16k.yaml",
                         [f"data.manifest={args.manifest}", "data.valid_items=0", *args.overrides])
    train, _ = _datasets(config)
    size = config.run.batch_size
    batches = [[i * size + j for j in range(size)] for i in range(10**6)]
    loader = DataLoader(train, batch_sampler=batches, collate_fn=collate, num_workers=args.workers)
    start, items = None, 0
    for _ in loader:
        if start is None:
            start = time.perf_counter()
            continue
        items += size
        if time.perf_counter() - start > args.seconds:
            break
    elapsed = time.perf_counter() - (start or time.perf_counter())
    crop = config.data.mixing.crop_seconds
    print(f"{args.workers} workers: {items / elapsed:.1f} items/s = {items * crop / elapsed:.0f} "
          f"audio seconds/s ({crop:g} s crops, batch {size})")
