# Sourced by run.sh and profile.sh on the GPU machine, from the repository root: installs the carried
# wheels, puts the stand-ins and the repository on the path, checks the imports, unpacks the subset
# (into /tmp/data-gpu; with OPUS_CONTROL=1 also, through Opus, into /tmp/data-opus: see unpack.py).
PY=${PY:-python3}; WHL=${WHL:-.whl}; T=${T:-380}; DEVICE=${DEVICE:-cuda}; WORKERS=${WORKERS:-4}
export DEVICE_DATA=${DEVICE_DATA:-.gpu} OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
HERE=tools/device_finetune; SITE=/tmp/site-gpu; rm -rf "$SITE" /tmp/data-gpu /tmp/data-opus /tmp/runs-gpu
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl || return 3
export PYTHONPATH="$SITE:$PWD/$HERE/shim:$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
date +%T; nvidia-smi -L 2>/dev/null
$PY -c "import torch, soundfile, soxr, pyloudnorm, dac; print('torch', torch.__version__, torch.cuda.is_available(), 'libsndfile', soundfile.__libsndfile_version__)" || return 4
$PY $HERE/unpack.py "$DEVICE_DATA" /tmp/data-gpu || return 5
if [ -n "$OPUS_CONTROL" ]; then $PY $HERE/unpack.py "$DEVICE_DATA" /tmp/data-opus --through-opus || return 5; fi
date +%T
