"""Post-install fix-up for the CUDA-only torchaudio / torchvision wheels on a CPU-only torch.

This is the ONE place where the project works around those wheels (see shared research notes,
"dependencies.md"). PyPI ships torchaudio 2.11 and torchvision 0.28 only as CUDA builds; on a CPU
build of torch their compiled extensions cannot load:

1. torchaudio's ``lib/*.so`` need ``libc10_cuda.so``; the import of ``dac``/``audiotools`` then fails
   with ``OSError``. When the files are absent torchaudio skips its extension and keeps its
   pure-python API (resample, MelSpectrogram, ...), which is all that we and DAC need.
2. torchvision registers fake kernels for ``torchvision::nms``/``qnms`` without checking that its
   extension loaded, so ``import torchvision`` (and open_clip, timm, transformers' RobertaModel)
   fails with ``operator torchvision::nms does not exist``. We guard those two registrations.

The script is idempotent and does nothing when torch has CUDA, when the wheels are CPU builds, or
when the packages are not installed. Run it after every install (``make install`` does).
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys

CUDA_MARKER = b"libc10_cuda.so"


def package_dir(name: str) -> pathlib.Path | None:
    spec = importlib.util.find_spec(name)
    return pathlib.Path(spec.origin).parent if spec and spec.origin else None


def needs_cuda(library: pathlib.Path) -> bool:
    return CUDA_MARKER in library.read_bytes()


def torch_has_cuda() -> bool:
    import torch

    return torch.version.cuda is not None


def fix_torchaudio() -> str:
    root = package_dir("torchaudio")
    if root is None:
        return "torchaudio: not installed"
    cuda_libs = [so for so in (root / "lib").glob("*.so") if needs_cuda(so)]
    for so in cuda_libs:
        so.unlink()
    return f"torchaudio: removed {len(cuda_libs)} CUDA-only extension(s)"


GUARD = r"@(torch.library.register_fake(\1) if torchvision.extension._has_ops() else (lambda fn: fn))"


def fix_torchvision() -> str:
    root = package_dir("torchvision")
    if root is None:
        return "torchvision: not installed"
    extension = next(root.glob("_C*.so"), None)
    if extension is None or not needs_cuda(extension):
        return "torchvision: CPU build, nothing to do"
    meta = root / "_meta_registrations.py"
    source = meta.read_text()
    patched = re.sub(
        r'^@torch\.library\.register_fake\(("torchvision::\w+")\)$', GUARD, source, flags=re.M
    )
    if patched == source:
        return "torchvision: already guarded"
    meta.write_text(patched)
    return "torchvision: guarded fake-kernel registrations"


def main() -> int:
    if importlib.util.find_spec("torch") is None:
        print("fix_cpu_torch_wheels: torch not installed, nothing to do")
        return 0
    if torch_has_cuda():
        print("fix_cpu_torch_wheels: torch has CUDA, nothing to do")
        return 0
    for message in (fix_torchaudio(), fix_torchvision()):
        print(f"fix_cpu_torch_wheels: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
