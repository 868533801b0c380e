"""Skips for the Cortex-M tests: building needs arm-none-eabi-gcc (and make), running needs QEMU."""

from __future__ import annotations

import shutil

import pytest

HAVE_GCC = all(shutil.which(t) for t in ("make", "arm-none-eabi-gcc", "arm-none-eabi-size"))
HAVE_QEMU = shutil.which("qemu-system-arm") is not None

needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="arm-none-eabi-gcc (gcc-arm-none-eabi) not installed")
needs_qemu = pytest.mark.skipif(not (HAVE_GCC and HAVE_QEMU),
                                reason="arm-none-eabi-gcc or qemu-system-arm not installed")
