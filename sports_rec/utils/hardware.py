"""What this machine's processors can do, for the precision the default trainer picks."""

from __future__ import annotations

import torch


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AMX tiles or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
