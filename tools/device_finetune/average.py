"""On the GPU machine: the element-wise mean of a run's kept checkpoints, saved as float16.

    python tools/device_finetune/average.py OUT.safetensors CHECKPOINT_FOLDER ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import save_file

from codecsep_mm.train.checkpoint import average_weights

if __name__ == "__main__":
    mean = average_weights([Path(p) for p in sys.argv[2:]])
    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in mean.items()},
              sys.argv[1])
    print(sys.argv[1], len(mean), "tensors, mean of", len(sys.argv) - 2)
