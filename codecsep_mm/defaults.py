"""The embedded default model: the one place that names it.

The CLI, the Gradio demo, the tutorial notebooks and ``make demo`` all read :data:`DEFAULT_MODEL`.
It is ``starter-16k``, the model this project trained and ships in ``codecsep_mm/pretrained/`` (see
``docs/models/starter-16k.md``); ``tiny`` is the random, seeded model for tests and smoke runs.
Switching is a one-line change here. This module imports nothing, so the CLI's argument parser can
use it without loading torch.
"""

DEFAULT_MODEL = "starter-16k"
