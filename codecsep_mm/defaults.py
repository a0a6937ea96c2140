"""The embedded default model: the one place that names it.

The CLI, the Gradio demo, the tutorial notebooks and ``make demo`` all read :data:`DEFAULT_MODEL`.
It is ``tiny`` (random, seeded: it runs the whole pipeline but separates nothing useful) until the
trained ``starter-16k`` lands; switching is a one-line change here. This module imports nothing, so
the CLI's argument parser can use it without loading torch.
"""

DEFAULT_MODEL = "starter-16k"
