#!/bin/bash
#SBATCH --job-name=p1-s.slaaaaaaaaaa
#SBATCH --output=/proj/logs/p1-s/p1-s-%A_%a.out
#SBATCH --error=/proj/logs/p1-s/p1-s-%A_%a.err
#SBATCH --time=10
#SBATCH --gres=gpu:1
#SBATCH --array=0-2%2
# Rendered by sluice for 3 runs of sweep p1-s (tag slaaaaaaaaaa). Edit templates/sbatch.sh to change it.


cd -- '/proj' || exit 1
SLUICE_TABLE='/proj/.sluice/scripts/slaaaaaaaaaa.runs'
. "$SLUICE_TABLE" || { echo "sluice: cannot read the run table $SLUICE_TABLE" >&2; exit 2; }
printf 'start %s %s\n' "$(date +%s)" "${SLURM_JOB_ID:-$$}" > "$SLUICE_EXIT.start" 2>/dev/null
( eval "$SLUICE_COMMAND" )
SLUICE_CODE=$?
printf '%s %s\n' "$SLUICE_CODE" "$(date +%s)" > "$SLUICE_EXIT.tmp" 2>/dev/null && mv -f "$SLUICE_EXIT.tmp" "$SLUICE_EXIT" 2>/dev/null
exit $SLUICE_CODE
