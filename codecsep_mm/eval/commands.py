"""``codecsep-mm eval``: score a model on rendered mixtures (see :mod:`codecsep_mm.eval.evaluate`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from codecsep_mm.cli import bounded


def register(sub) -> None:
    from codecsep_mm.cli import separation_args

    p = sub.add_parser(
        "eval", help="score a model on rendered mixtures: SI-SDR, SI-SDRi, SDR by class and prompt",
    )
    p.add_argument("--model", default="tiny", metavar="NAME_OR_DIR")
    p.add_argument("--manifest", required=True, metavar="MIXTURES.jsonl",
                   help="a mixture manifest (e.g. from `codecsep-mm data render-benchmark`)")
    p.add_argument("--limit", type=_positive, default=None, metavar="N", help="only the first N mixtures")
    p.add_argument("--kinds", default=",".join(("class", "label", "caption", "audio", "image")),
                   help="prompt kinds to score, comma-separated (class,label,caption,audio,image)")
    p.add_argument("--chunk-seconds", type=_scoring_seconds, default=10.0, metavar="S",
                   help="scoring chunk length in seconds (paper: 10)")
    p.add_argument("--window-seconds", type=_window, default=None, metavar="SECONDS",
                   help="separate in windows of this length (chunk plus context), instead of the "
                        "model's own separation settings")
    separation_args(p)
    p.add_argument("--no-sdr", action="store_true", help="skip SDR (the slowest metric)")
    p.add_argument("--no-upper-bound", action="store_true", help="skip the codec-resynthesis bound")
    p.add_argument("--mode", choices=("wave", "codes"), default="wave",
                   help="wave: audio in, audio out (default); codes: code-stream mode (each mixture "
                        "encoded to codes, separated there, the stems decoded; the upper bound is "
                        "then the codes' resynthesis)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead of Markdown")
    p.add_argument("--out", metavar="DIR", help="write results.md, results.json and results.png here")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from codecsep_mm.cli import _output_folder, with_separation_args
    from codecsep_mm.data.manifest import read_mixtures
    from codecsep_mm.eval.evaluate import evaluate
    from codecsep_mm.eval.report import to_json, to_markdown, write_report
    from codecsep_mm.separator import Separator

    out = _output_folder(Path(args.out)) if args.out else None
    records = read_mixtures(args.manifest)[: args.limit]
    separator = Separator.from_pretrained(args.model, device=args.device)
    if args.window_seconds is not None:
        separator.settings = separator.settings.with_window(args.window_seconds)
    with_separation_args(separator, args)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    results = evaluate(separator, records, kinds=kinds, chunk_seconds=args.chunk_seconds,
                       with_sdr=not args.no_sdr, upper_bound=not args.no_upper_bound,
                       progress=not args.no_progress and sys.stderr.isatty(), mode=args.mode)
    results.info = {"model": args.model, "manifest": args.manifest, "n_mixtures": len(records),
                    "kinds": kinds, "chunk_seconds": args.chunk_seconds, "mode": args.mode,
                    "separation": dataclasses.asdict(separator.settings),
                    "command": "codecsep-mm " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["eval"]
                    else "codecsep-mm eval"}
    if out is not None:
        write_report(results, out)
    print(json.dumps(to_json(results)["summary"], indent=1) if args.json else to_markdown(results))
    return 0


_scoring_seconds = bounded(float, lambda v: 0.0 < v < math.inf,
                           "give a scoring chunk length above 0 seconds (paper: 10)")
_window = bounded(float, lambda v: 0.5 <= v < math.inf, "give a window of at least 0.5 seconds")
_positive = bounded(int, lambda v: v >= 1, "give a whole number of mixtures, at least 1")
