"""The CPU this runs on, read from Linux's /proc/cpuinfo and sysfs (no NumPy: tests/conftest.py
reads it before NumPy loads, to choose the code paths NumPy and its BLAS take)."""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

AVX512_NUMPY_FEATURES = ("X86_V4", "AVX512_ICL", "AVX512_SPR")  # NumPy 2.4's x86 dispatch targets
AVX512_OPENBLAS_KERNELS = ("SkylakeX", "Cooperlake", "SapphireRapids")


@dataclass(frozen=True)
class Cpu:
    """The first CPU's vendor_id, model name and flags ("" and empty where unknown)."""

    vendor: str = ""
    model: str = ""
    flags: frozenset = field(default_factory=frozenset)

    @property
    def has_avx512(self) -> bool:
        return platform.machine() == "x86_64" and {"avx2", "fma", "avx512f"} <= self.flags


def cpu() -> Cpu:
    """The first CPU of /proc/cpuinfo; an empty Cpu where there is none (not Linux)."""
    values = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if not key and values:  # a blank line ends the first CPU's block
                    break
                values.setdefault(key, value.strip())
    except OSError:
        return Cpu()
    return Cpu(values.get("vendor_id", ""), values.get("model name", ""),
               frozenset(values.get("flags", "").split()))


def l2_cache(cache=Path("/sys/devices/system/cpu/cpu0/cache")) -> str:
    """The first CPU's L2 cache size as Linux's sysfs gives it ("1024K"); "" where unknown."""
    for index in sorted(cache.glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                return (index / "size").read_text().strip()
        except OSError:
            continue
    return ""
