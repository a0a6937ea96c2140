"""Speed and memory of a model (default: codecsep-paper-16k with random weights) on this machine.

Prints, for wave mode and code-stream mode, the real-time factor on 10 s and 60 s inputs and the
peak memory (peak RSS of a fresh process) on a 10 s and a 10-minute input, and checks the targets:

- code-stream total <= 1.35 GMACs per second of audio (the paper's figure);
- code-stream real-time factor <= 0.05;
- peak memory on a 10-minute input <= 1.5x that on a 10 s input;
- wave-mode real-time factor on 10 s <= 0.1 (the embedded starter-16k's target).

Each measurement runs in its own process so that peak memory is not shared between runs.

Usage:
    python benchmarks/speed_memory.py [--model codecsep-paper-16k] [--long-seconds 600] [--json OUT]
    python benchmarks/speed_memory.py --model starter-16k --trained   # a model's own weights
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def worker(model: str, mode: str, seconds: float, device: str, trained: bool = False) -> dict:
    import numpy as np
    import torch

    from codecsep_mm import Separator
    from codecsep_mm.eval.profile import peak_memory_mb

    torch.set_num_threads(os.cpu_count() or 1)
    separator = Separator.from_pretrained(model, random_weights=not trained, device=device)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * separator.sample_rate))).astype(np.float32)
    baseline_mb = peak_memory_mb("cpu")
    if mode == "wave":
        separator.separate(audio[:16000], ["speech"])  # warm-up
        start = time.perf_counter()
        separator.separate(audio, ["speech"])
    else:
        stream = separator.encode_codes(audio)
        separator.separate_codes(stream, ["speech"])  # warm-up
        start = time.perf_counter()
        separator.separate_codes(stream, ["speech"])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = peak_memory_mb(device)
    return {"mode": mode, "seconds": seconds, "rtf": elapsed / seconds, "peak_mb": peak,
            "model_loaded_mb": baseline_mb, "device": device, "threads": torch.get_num_threads()}


def measure(model: str, mode: str, seconds: float, device: str, trained: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(seconds), "--model", model, "--device", device,
         *(["--trained"] if trained else [])],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({mode}, {seconds} s):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="codecsep-paper-16k")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--long-seconds", type=float, default=600.0)
    parser.add_argument("--modes", default="code-stream,wave")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--trained", action="store_true",
                        help="use the model's own weights (default: random weights of its architecture)")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.model, args.worker[0], float(args.worker[1]), args.device, args.trained)))
        return 0

    from codecsep_mm import Separator
    from codecsep_mm.eval.profile import PAPER_CODE_STREAM_GMACS, profile_separator

    separator = Separator.from_pretrained(args.model, random_weights=not args.trained, device=args.device)
    profile = profile_separator(separator, args.model, seconds=60.0, time_runs=False)
    del separator
    results = {"profile": profile.to_dict(), "runs": []}
    print(profile.to_markdown(), flush=True)
    print("\n| mode | input | real-time factor | peak memory (MB) |\n| --- | ---: | ---: | ---: |", flush=True)
    for mode in args.modes.split(","):
        for seconds in (10.0, 60.0, args.long_seconds):
            run = measure(args.model, mode, seconds, args.device, args.trained)
            results["runs"].append(run)
            print(f"| {mode} | {seconds:g} s | {run['rtf']:.4f} | {run['peak_mb']:.0f} |", flush=True)

    def run_of(mode, seconds):
        return next(r for r in results["runs"] if r["mode"] == mode and r["seconds"] == seconds)

    checks = {}
    gmacs = profile.totals["code-stream mode"]
    checks["code-stream GMACs/s <= 1.35"] = (gmacs, gmacs <= PAPER_CODE_STREAM_GMACS)
    if "code-stream" in args.modes:
        rtf = max(run_of("code-stream", s)["rtf"] for s in (10.0, 60.0))
        checks["code-stream RTF <= 0.05"] = (rtf, rtf <= 0.05)
    if "wave" in args.modes:
        rtf = run_of("wave", 10.0)["rtf"]
        checks["wave RTF (10 s) <= 0.1"] = (rtf, rtf <= 0.1)
    for mode in args.modes.split(","):
        ratio = run_of(mode, args.long_seconds)["peak_mb"] / run_of(mode, 10.0)["peak_mb"]
        checks[f"{mode} peak memory {args.long_seconds:g} s / 10 s <= 1.5"] = (ratio, ratio <= 1.5)
    print("\n| target | measured | met |\n| --- | ---: | --- |")
    for name, (value, ok) in checks.items():
        print(f"| {name} | {value:.3f} | {'yes' if ok else 'NO'} |")
    results["checks"] = {k: {"value": v, "met": ok} for k, (v, ok) in checks.items()}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
