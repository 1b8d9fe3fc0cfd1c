"""Which Keras precision policy a training run uses (`--precision`, default `auto`).

- `auto`: `mixed_float16` on a GPU (its tensor cores), `mixed_bfloat16` on a CPU that computes
  bfloat16 natively (the `avx512_bf16` or `amx_bf16` flag: Intel Cooper Lake, Sapphire Rapids
  and later, AMD Zen 4 and later), else `float32`. Measured on such a CPU, mixed bfloat16 trains
  the VGG net markedly faster at the same accuracy (`workloads/cifar10/benchmarks/results.yaml`,
  `training.precision`); without native support TensorFlow emulates it, slower than float32.
- `float32`, `mixed_bfloat16`, `mixed_float16`: that policy, whatever the hardware.

Variables stay float32 under every policy, so the policy changes no checkpoint shape; it is in
the run's fingerprint anyway (a loss-scale optimizer wraps the optimizer under `mixed_float16`),
so a resumed run cannot switch it silently. The export is float32 whatever the training policy
(see `export.float32_copy`), so serving does not depend on the training machine's CPU.
No TensorFlow import here.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
"""The values `--precision` accepts."""
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of x86 CPUs that compute bfloat16 natively."""
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags from Linux's /proc/cpuinfo; empty where there is none (other
    operating systems) or it cannot be read, so `auto` then stays with float32."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def bf16_flags(flags: frozenset[str]) -> list[str]:
    """The bfloat16 flags among `flags`, in `CPU_BF16_FLAGS` order."""
    return [flag for flag in CPU_BF16_FLAGS if flag in flags]


def choose_policy(requested: str, has_gpu: bool, flags: frozenset[str]) -> tuple[str, str]:
    """The Keras policy for `requested` on this hardware, and why, in a few words.

    Raises:
        ValueError: for a value not in `PRECISIONS`.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"--precision {requested!r} is not allowed; use one of "
                         f"{', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested, "--precision"
    if has_gpu:
        return "mixed_float16", "auto: a GPU"
    native = bf16_flags(flags)
    if native:
        return "mixed_bfloat16", f"auto: CPU with {' and '.join(native)}"
    return "float32", "auto: no GPU, no CPU bfloat16 flag"
