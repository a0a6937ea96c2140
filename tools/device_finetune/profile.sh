#!/bin/bash
# On the GPU machine, from the repository root: where a fine-tune's time goes. The data loader alone
# with 1, 4 and 14 workers (throughput.py), then run A's training with 14 workers for about a minute.
# env: as run.sh
source tools/device_finetune/setup.sh || exit
MIX=(--set 'data.mixing.loudness_lufs={speech: -23.0, music: -23.0, sfx: -23.0}' --set data.mixing.gain_db=6.0
  --set data.mixing.speed_range=0.15 --set data.mixing.eq_db=6.0 --set run.batch_size=8
  --set 'data.mixing.duration_weight_seconds={music: 30.0, sfx: 4.0}' --set data.mixing.crop_seconds=4.0)
for w in 1 4 14; do $PY $HERE/throughput.py /tmp/data-gpu/sources.jsonl $w ${S:-20} "${MIX[@]}"; done
date +%T
timeout ${T:-90} $PY $HERE/launch.py train configs/starter-16k.yaml --set model.base=starter-16k \
  --set 'model.prompt_encoders=[]' --set loss.kind=latent --set data.manifest=/tmp/data-gpu/sources.jsonl \
  --set data.valid_items=0 --set data.num_workers=14 --set run.device=$DEVICE --set run.progress=false \
  --set run.steps=200000 --set optim.warmup_steps=100 --set run.checkpoint_every=100000 \
  --set run.linear_encoder=true --set run.log_every=25 --set run.tensorboard=false --set 'run.amp="off"' \
  --set run.out_dir=/tmp/runs-gpu/P --set run.seed=11 --set optim.lr=1e-4 "${MIX[@]}" > /tmp/train-P.log 2>&1
date +%T; tail -n 2 /tmp/train-P.log; tail -n 4 /tmp/runs-gpu/P/log.jsonl
