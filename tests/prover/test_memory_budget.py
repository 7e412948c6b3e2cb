"""A prover's memory budget: how sizes are written, the default the machine gives (RAM or the
container's cgroup limit, v1 or v2, less headroom), and the flag and variable that set it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from zkgate.prover.memory_sizes import describe_size, parse_size
from zkgate.prover.worker.memory_budget import (
    HEADROOM_FACTOR,
    default_memory_budget,
    machine_memory_bytes,
)
from zkgate.prover.worker.process import (
    ConfigError,
    WorkerConfig,
    add_worker_arguments,
    config_from_args,
)

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GiB", 8 * GIB),
        ("12Gi", 12 * GIB),
        ("512MiB", 512 * 1024**2),
        ("1.5G", 1_500_000_000),
        ("4096", 4096),
        (" 2 TB ", 2 * 1000**4),
    ],
)
def test_sizes_are_read_as_operators_and_kubernetes_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "8 GiBs", "-1Gi", "0", "lots"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_size(text)


def test_sizes_print_in_binary_units_with_the_exact_bytes() -> None:
    assert describe_size(11_703_000_000) == "10.9 GiB (11,703,000,000 bytes)"
    assert describe_size(300 * 1024**2) == "300.0 MiB (314,572,800 bytes)"


def _machine(root: Path, *, mem_total_kib: int, cgroup: str, limits: dict[str, str]) -> Path:
    """A /proc and /sys/fs/cgroup pair under root, as the kernel lays them out."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(
        f"MemTotal:       {mem_total_kib} kB\nMemFree:        1000 kB\n"
    )
    (root / "proc" / "self" / "cgroup").write_text(cgroup)
    for relative, value in limits.items():
        path = root / "cgroup" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return root


def test_a_v2_container_limit_under_the_ram_sets_the_budget(tmp_path: Path) -> None:
    root = _machine(
        tmp_path,
        mem_total_kib=64 * 1024**2,
        cgroup="0::/kubepods/pod1/prover\n",
        limits={
            "kubepods/pod1/prover/memory.max": "max",
            "kubepods/pod1/memory.max": str(12 * GIB),
            "memory.max": "max",
        },
    )
    assert machine_memory_bytes(root / "proc", root / "cgroup") == 12 * GIB
    assert default_memory_budget(root / "proc", root / "cgroup") == int(12 * GIB * 0.8)


def test_a_v1_limit_counts_and_an_unlimited_one_leaves_the_ram(tmp_path: Path) -> None:
    limited = _machine(
        tmp_path / "limited",
        mem_total_kib=64 * 1024**2,
        cgroup="4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
        limits={"memory/docker/abc/memory.limit_in_bytes": str(6 * GIB)},
    )
    assert machine_memory_bytes(limited / "proc", limited / "cgroup") == 6 * GIB
    unlimited = _machine(
        tmp_path / "unlimited",
        mem_total_kib=24 * 1024**2,
        cgroup="4:memory:/\n0::/\n",
        limits={"memory/memory.limit_in_bytes": "9223372036854771712"},
    )
    assert machine_memory_bytes(unlimited / "proc", unlimited / "cgroup") == 24 * GIB


def test_this_machine_gives_a_budget_of_its_memory_less_headroom() -> None:
    mem_total = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    budget = default_memory_budget()
    assert 0 < budget <= mem_total * HEADROOM_FACTOR


def _config(argv: list[str], environ: dict[str, str] | None = None) -> WorkerConfig:
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser, environ or {})
    return config_from_args(parser.parse_args(["--data-dir", "/srv/zkgate", *argv]))


def test_the_budget_comes_from_the_flag_then_the_environment_then_the_machine() -> None:
    assert _config(["--memory-budget", "8GiB"]).memory_budget_bytes == 8 * GIB
    from_env = _config([], {"ZKGATE_PROVER_MEMORY_BUDGET": "12Gi"})
    assert from_env.memory_budget_bytes == 12 * GIB
    assert _config([]).memory_budget_bytes == default_memory_budget()
    with pytest.raises(ConfigError, match="not a memory size"):
        _config(["--memory-budget", "plenty"])
