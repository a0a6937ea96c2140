"""The Gradio demo, for people reading the repository: ``python demos/app.py [--port 7860] ...``.

Same flags as ``codecsep-mm demo``. The app itself lives in the package
(:mod:`codecsep_mm.demo.app`), so that the ``codecsep-mm demo`` command finds it from any install
(editable, or a wheel, which does not ship this folder); this file only re-exports
:func:`build_demo` (which returns the ``gr.Blocks`` without launching it) and starts it when run.
"""

from __future__ import annotations

import sys

from codecsep_mm.demo.app import build_demo, launch_demo

__all__ = ["build_demo", "launch_demo"]

if __name__ == "__main__":
    from codecsep_mm.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
