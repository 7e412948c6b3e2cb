"""A prover's default memory budget: what the machine lets it use, less headroom.

What the machine lets it use is the smaller of the RAM the kernel reports (MemTotal) and the
memory limit of the prover's cgroup (a container's limit: Kubernetes' resources.limits.memory),
read for cgroup v2 and v1 alike. The budget is what one job may take; the headroom is for what
a job's measured peak does not count: the worker process itself (about 100 MB), the page cache a
multi-gigabyte proving key is read through, and the kernel. Past the cgroup limit the kernel
kills the proving child, which costs a transient failure and a retry elsewhere, not the prover.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# The share of the machine's (or the container's) memory one job may take.
HEADROOM_FACTOR = 0.8

_PROC = Path("/proc")
_CGROUP = Path("/sys/fs/cgroup")


def default_memory_budget(proc: Path = _PROC, cgroup_root: Path = _CGROUP) -> int:
    """HEADROOM_FACTOR of machine_memory_bytes."""
    return int(machine_memory_bytes(proc, cgroup_root) * HEADROOM_FACTOR)


def machine_memory_bytes(proc: Path = _PROC, cgroup_root: Path = _CGROUP) -> int:
    """The smaller of MemTotal and every memory limit on the process's cgroup path."""
    return min([_mem_total(proc), *_cgroup_limits(proc, cgroup_root)])


def _mem_total(proc: Path) -> int:
    for line in (proc / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            kibibytes = line.split()[1]
            return int(kibibytes) * 1024
    raise RuntimeError(f"{proc / 'meminfo'} has no MemTotal line")


def _cgroup_limits(proc: Path, cgroup_root: Path) -> Iterator[int]:
    """Limits on the process's cgroup and its ancestors (a limit anywhere above binds too).
    Inside a container the cgroup root is the container's own, and /proc/self/cgroup may name a
    path that is not mounted there: the root's own files then hold the container's limit."""
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: one unified hierarchy
            yield from _limits_along(cgroup_root, path, "memory.max")
        elif "memory" in controllers.split(","):  # cgroup v1: the memory controller's own
            yield from _limits_along(cgroup_root / controllers, path, "memory.limit_in_bytes")


def _limits_along(mount: Path, path: str, limit_file: str) -> Iterator[int]:
    directory = mount / path.lstrip("/")
    while True:
        limit = _read_limit(directory / limit_file)
        if limit is not None:
            yield limit
        if directory == mount or mount not in directory.parents:
            return
        directory = directory.parent


def _read_limit(path: Path) -> int | None:
    """The file's limit in bytes; None if absent or unlimited ("max" in v2; v1 writes a number
    near 2^63 instead, which MemTotal then undercuts)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)
