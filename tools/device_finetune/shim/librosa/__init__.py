"""Stand-in for librosa on the GPU machine: the one mel filterbank the starter audio encoder asks
for, computed by librosa on the CPU machine (``pack.py``) and read from ``$DEVICE_DATA``."""

from . import filters  # noqa: F401
