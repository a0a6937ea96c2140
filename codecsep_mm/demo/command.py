"""``codecsep-mm demo``: start the Gradio web demo on this machine (nothing heavy at import)."""

from __future__ import annotations

import math
import os

from codecsep_mm.cli import bounded
from codecsep_mm.defaults import DEFAULT_MODEL
from codecsep_mm.demo import DEFAULT_HOST, DEFAULT_PORT, MAX_SECONDS
from codecsep_mm.errors import CodecSepError


class DemoError(CodecSepError, OSError):
    """The demo cannot start: gradio missing, or the port is taken."""


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="start the web demo (Gradio) on this machine")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME_OR_DIR",
                   help=f"model selected at start (default: {DEFAULT_MODEL})")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port, 1 to 65535 (default: %(default)s)")
    p.add_argument("--prompt-encoder", action="append", default=[], metavar="NAME",
                   help="add this registered encoder to the models it fits (repeatable)")
    p.add_argument("--projection", action="append", default=[], metavar="DIR",
                   help="a saved projection (from fit-projection) for such an encoder (repeatable)")
    p.add_argument("--no-imagenet-images", action="store_true",
                   help="do not give models without an image encoder the ImageNet one")
    p.add_argument("--max-seconds", type=_max_seconds, default=MAX_SECONDS,
                   help="longest mixture accepted (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--mask-floor", type=float, default=None, metavar="F",
                   help="mask floor of every model, 0 to 0.5 (default: each model's own; the page's "
                        "slider starts there)")
    p.set_defaults(run=cmd_demo)


_port = bounded(int, lambda v: 1 <= v <= 65535, "give a port number from 1 to 65535")
_max_seconds = bounded(float, lambda v: 0 < v < math.inf, "give the longest mixture in seconds, above 0")


def cmd_demo(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from codecsep_mm.demo.app import build_demo, launch_demo
    except ImportError as error:
        raise DemoError(f"the demo needs gradio ({error}); install it: pip install 'codecsep-mm[demo]'") from None
    demo = build_demo(
        model=args.model,
        prompt_encoders=args.prompt_encoder,
        projections=args.projection,
        max_seconds=args.max_seconds,
        device=args.device,
        imagenet_images=not args.no_imagenet_images,
        mask_floor=args.mask_floor,
    )
    print(f"codecsep-mm demo: http://{args.host}:{args.port} (model {args.model}; Ctrl+C stops it)")
    try:
        launch_demo(demo, args.host, args.port)
    except OSError as error:
        raise DemoError(f"cannot listen on {args.host}:{args.port} ({error}); choose another --port") from None
    return 0
