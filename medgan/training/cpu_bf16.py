"""Whether bf16 autocast on this CPU is worth it (``--amp-cpu``, the Train tab's "bf16 on CPU").

bf16 matrix maths is fast only where the CPU has it natively (AMX tiles or AVX512-BF16): about 1.9× on such a
CPU. Elsewhere PyTorch emulates it, which is far slower than float32 (a U-Net segmentation step at batch 8,
128 px: 24 s with bf16 vs 1.2 s in float32 on an AVX2-only CPU).
"""

from __future__ import annotations

import torch


def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 natively (AMX or AVX512-BF16)."""
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None and fn():
            return True
    return False


def bf16_cpu_note() -> str:
    """One line for users choosing bf16 on this server's CPU."""
    if cpu_has_fast_bf16():
        return "This server's CPU has native bf16: expect about 1.9× faster steps."
    cap = torch.backends.cpu.get_cpu_capability()
    return f"This server's CPU ({cap}) has no native bf16: it would be many times slower here; leave it off."
