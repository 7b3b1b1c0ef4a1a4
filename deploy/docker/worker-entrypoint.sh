#!/bin/sh
# Prepares cgroup v2 for the worker's job cgroups, then runs the command.
#
# With cgroup v2 and a cgroup namespace of its own (the default of Docker and
# containerd on cgroup v2 hosts), the container's cgroup appears as the root
# of /sys/fs/cgroup. The kernel lets a cgroup enable controllers for its
# children only while no process is in it, and the worker enables memory,
# pids and cpu there before it creates faas/<job>. This script therefore
# moves the container's processes into the leaf cgroup "worker" first.
#
# Nothing is moved on cgroup v1, or when the container shares the host's
# cgroup namespace (then /proc/self/cgroup shows a path other than "/"),
# because the root there belongs to the host.
set -eu

root=/sys/fs/cgroup
if [ -f "$root/cgroup.controllers" ] && [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
  if ! mkdir -p "$root/worker" 2>/dev/null; then
    echo "faas-worker-entrypoint: cannot create $root/worker, so job cgroups will fail: run the container privileged" >&2
  else
    # Kernel threads never appear here; a process that exits meanwhile makes the write fail, which is harmless.
    while read -r pid; do
      echo "$pid" > "$root/worker/cgroup.procs" 2>/dev/null || true
    done < "$root/cgroup.procs"
  fi
fi

exec "$@"
