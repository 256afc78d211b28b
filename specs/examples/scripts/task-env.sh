#!/bin/sh
# task-env: print what a task container sees, one "key value" per line, for debugging
# placement and limits from a job's log.
set -eu
echo "host $(hostname)"
echo "user $(id -u):$(id -g)"
echo "cpus $(nproc)"
echo "workdir $(pwd)"
if [ -r /sys/fs/cgroup/memory.max ]; then
  echo "memory.max $(cat /sys/fs/cgroup/memory.max)"
elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  echo "memory.max $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
fi
for var in OMP_NUM_THREADS TZ LANG; do
  eval "value=\${$var-}"
  echo "env $var ${value:-unset}"
done
