#!/bin/bash
# On the GPU machine, from the repository root: three fine-tunes of the shipped stage-9 masker side by
# side on one GPU, on the packed subset (pack.py); each stopped at a wall-clock limit, the mean of its
# last 8 kept checkpoints saved as float16 and split in 15 MB parts under $OUT (the files that come back
# are at most 16 MiB each). Join them with `cat masker-A.part0* > masker-A.safetensors`.
# env: PY (python), WHL (wheel folder: soundfile, soxr, pyloudnorm, cffi, pycparser, platformdirs,
# descript-audio-codec), DEVICE_DATA (pack.py's folder), T (seconds per run), DEVICE, WORKERS,
# CE (checkpoint every), OUT, RUN_A / RUN_B / RUN_C (below)
source tools/device_finetune/setup.sh || exit
COMMON=(train configs/starter-16k.yaml --set model.base=starter-16k --set 'model.prompt_encoders=[]'
  --set loss.kind=latent --set data.manifest=/tmp/data-gpu/sources.jsonl --set data.valid_items=0
  --set data.num_workers=$WORKERS --set run.device=$DEVICE --set run.progress=false --set run.steps=200000
  --set optim.warmup_steps=100 --set 'data.mixing.loudness_lufs={speech: -23.0, music: -23.0, sfx: -23.0}'
  --set data.mixing.gain_db=6.0 --set run.checkpoint_every=${CE:-250} --set run.keep_checkpoints=true
  --set run.linear_encoder=true --set data.mixing.speed_range=0.15 --set data.mixing.eq_db=6.0
  --set 'data.mixing.duration_weight_seconds={music: 30.0, sfx: 4.0}' --set run.log_every=50 --set run.tensorboard=false --set 'run.amp="off"')
# Each run's own settings; override one with e.g. RUN_A="run.batch_size=8 optim.lr=3e-5" (space-separated
# key=value pairs, no spaces inside a value). The defaults are the first GPU session's runs.
RUN_A=${RUN_A:-"run.batch_size=8 data.mixing.crop_seconds=4.0 optim.lr=1e-4"}
RUN_B=${RUN_B:-"run.batch_size=6 data.mixing.crop_seconds=6.0 optim.lr=1e-4"}
RUN_C=${RUN_C:-"run.batch_size=8 data.mixing.crop_seconds=4.0 optim.lr=2e-4 data.mixing.balance_labels=[sfx] data.mixing.gain_db=9.0"}
seed=11
for r in A B C; do
  sets=(); spec=RUN_$r
  for kv in ${!spec}; do sets+=(--set "$kv"); done
  echo "run $r: ${!spec}"
  timeout $T $PY $HERE/launch.py "${COMMON[@]}" --set run.out_dir=/tmp/runs-gpu/$r --set run.seed=$seed \
    "${sets[@]}" > /tmp/train-$r.log 2>&1 &
  seed=$((seed + 1))
done
wait
date +%T
for r in A B C; do
  tail -3 /tmp/train-$r.log; tail -2 /tmp/runs-gpu/$r/log.jsonl
  ckpts=$(ls -d /tmp/runs-gpu/$r/checkpoints/step-* 2>/dev/null | tail -8)
  [ -n "$ckpts" ] || { echo "run $r: no checkpoints"; continue; }
  echo "run $r averages: $(echo $ckpts | xargs -n1 basename | tr '\n' ' ')"
  $PY $HERE/average.py /tmp/masker-$r.safetensors $ckpts || continue
  split -b 15000000 -d /tmp/masker-$r.safetensors "$OUT/masker-$r.part"
done
tar czf "$OUT/logs.tgz" /tmp/train-*.log /tmp/runs-gpu/*/log.jsonl /tmp/runs-gpu/*/config.yaml 2>/dev/null
ls -l "$OUT"; date +%T
