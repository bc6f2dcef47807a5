#!/bin/bash
#SBATCH --job-name=evil_touch_tmp_pwned_id_q_q_SBATCH_--partition_s.sl0123456789
#SBATCH --output=/proj/logs/p1-x/p1-x.0-%j.out
#SBATCH --error=/proj/logs/p1-x/p1-x.0-%j.err
#SBATCH --partition=gpu
#SBATCH --account=lab
#SBATCH --qos=normal
#SBATCH --time=2:00:00
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --gres=gpu:2
# Rendered by sluice for run p1-x.0 (tag sl0123456789). Edit templates/sbatch.sh to change it.
module load cuda/12
export MSG='hello $(whoami) `x` '\''q'\'''
cd -- '/proj' || exit 1
SLUICE_RUN='p1-x.0'
SLUICE_EXIT='/proj/.sluice/exits/p1-x.0.a1'
SLUICE_COMMAND='python train.py --name '\''it'\''"'\''"'\''s'\'' $(hostname)'
printf 'start %s %s\n' "$(date +%s)" "${SLURM_JOB_ID:-$$}" > "$SLUICE_EXIT.start" 2>/dev/null
( eval "$SLUICE_COMMAND" )
SLUICE_CODE=$?
printf '%s %s\n' "$SLUICE_CODE" "$(date +%s)" > "$SLUICE_EXIT.tmp" 2>/dev/null && mv -f "$SLUICE_EXIT.tmp" "$SLUICE_EXIT" 2>/dev/null
exit $SLUICE_CODE
