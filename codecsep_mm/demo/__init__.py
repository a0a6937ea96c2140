"""The Gradio web demo: separate a mixture by text, audio-example and image queries in a page.

Where the code lives: the app is part of the package (:mod:`codecsep_mm.demo.app`), so
``codecsep-mm demo`` finds it from any install, editable or from a wheel (which does not ship the
repository's ``demos/`` folder). ``demos/app.py`` is a thin entry point for people reading the
repository (``python demos/app.py``); it re-exports :func:`~codecsep_mm.demo.app.build_demo`.

This package's ``__init__`` and :mod:`codecsep_mm.demo.command` import nothing heavy; gradio and
torch load only when the demo is built.
"""

from __future__ import annotations

MAX_SECONDS = 60.0  # longest mixture the page accepts
MAX_QUERY_SECONDS = 30.0  # longest audio example
MAX_FILE_SIZE = "20mb"  # per upload, enforced by the server before the app sees the file
MAX_QUERIES = 3  # positive query slots (each its own stem)
QUEUE_SIZE = 16  # requests waiting beyond this are refused ("queue full")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
