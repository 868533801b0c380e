"""The Cortex-M boards edgec builds for, keyed by target name, as QEMU 7.2 models them.

Memory sizes and addresses are those of the QEMU machine (``info mtree`` of ``qemu-system-arm -M
<machine>``, which follows Arm's application notes AN385/AN386/AN500/AN547): the MPS2 images put
4 MiB of ZBT SSRAM at 0x00000000 (SSRAM1, the code memory) and 4 MiB at 0x20000000 (SSRAM2&3, the
data memory); the MPS3 AN547 (SSE-300) has a 512 KiB ITCM at 0x00000000 and a 512 KiB DTCM at
0x20000000. edgec treats the code memory as "flash" (read-only after load) and the data memory as
RAM. Clocks are the machines' ``cpuclk`` (25 MHz MPS2, 32 MHz AN547); the UART is UART0, a CMSDK
APB UART. A real board with other memories is the same data with other numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.errors import TargetError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Memory:
    """One memory region of the board's address map."""

    origin: int
    size: int
    what: str


@dataclass(frozen=True)
class Board:
    """A Cortex-M board: the QEMU machine that emulates it, its memories, UART, clock and GCC flags."""

    target: str            # edgec target name
    machine: str           # qemu-system-arm -M
    cpu: str               # -mcpu
    flash: Memory          # code + const data (weights)
    ram: Memory            # .data, .bss (arena, I/O buffers), stack
    uart_base: int         # CMSDK APB UART0
    clock_hz: int          # CPU clock: SysTick counts it
    fpu: str | None        # -mfpu, None = no FPU (integer-only models)
    mve: bool = False      # Helium (M-profile vector extension)
    dsp: bool = False      # DSP extension (SMLAD and friends)

    @property
    def has_fpu(self) -> bool:
        return self.fpu is not None

    @property
    def cflags(self) -> list[str]:
        """arm-none-eabi-gcc code-generation flags: hard float where there is an FPU."""
        flags = [f"-mcpu={self.cpu}", "-mthumb"]
        if self.fpu is None:
            return flags + ["-mfloat-abi=soft"]
        return flags + ["-mfloat-abi=hard"] + ([f"-mfpu={self.fpu}"] if self.fpu != "auto" else [])

    def summary(self) -> dict[str, Any]:
        """The board as plain data (for the manifest and the size report)."""
        return {"target": self.target, "machine": self.machine, "cpu": self.cpu,
                "flash": {"origin": self.flash.origin, "bytes": self.flash.size, "what": self.flash.what},
                "ram": {"origin": self.ram.origin, "bytes": self.ram.size, "what": self.ram.what},
                "uart_base": self.uart_base, "clock_hz": self.clock_hz, "fpu": self.fpu, "mve": self.mve,
                "dsp": self.dsp, "cflags": self.cflags}


_MPS2_FLASH = Memory(0x00000000, 4 * MIB, "ZBT SSRAM1 (MPS2 code memory)")
_MPS2_RAM = Memory(0x20000000, 4 * MIB, "ZBT SSRAM2&3 (MPS2 data memory)")
_MPS2_UART0 = 0x40004000
_MPS2_CLOCK = 25_000_000

BOARDS: dict[str, Board] = {b.target: b for b in [
    Board("cortex-m3", "mps2-an385", "cortex-m3", _MPS2_FLASH, _MPS2_RAM, _MPS2_UART0, _MPS2_CLOCK, fpu=None),
    Board("cortex-m4", "mps2-an386", "cortex-m4", _MPS2_FLASH, _MPS2_RAM, _MPS2_UART0, _MPS2_CLOCK,
          fpu="fpv4-sp-d16", dsp=True),
    # QEMU's AN500 is the Cortex-M7 image; QEMU models its FPU as double precision (FPv5-D16).
    Board("cortex-m7", "mps2-an500", "cortex-m7", _MPS2_FLASH, _MPS2_RAM, _MPS2_UART0, _MPS2_CLOCK,
          fpu="fpv5-d16", dsp=True),
    # -mcpu=cortex-m55 implies MVE with floating point and the FP unit: GCC picks the FPU from the CPU.
    Board("cortex-m55", "mps3-an547", "cortex-m55",
          Memory(0x00000000, 512 * KIB, "ITCM (SSE-300 instruction TCM)"),
          Memory(0x20000000, 512 * KIB, "DTCM (SSE-300 data TCM)"),
          0x49303000, 32_000_000, fpu="auto", mve=True, dsp=True),
]}


def board_for(target: Any) -> Board:
    """The board of a target (a TargetSpec or its name); a user target based on a built-in one (same
    ``mcpu``, device "mcu") gets that CPU's board. A clear error for a non-microcontroller."""
    name = target if isinstance(target, str) else target.name
    if name in BOARDS:
        return BOARDS[name]
    cpu = None if isinstance(target, str) or target.device != "mcu" else target.tvm.get("mcpu")
    if cpu in BOARDS:
        return BOARDS[cpu]
    raise TargetError(f"target '{name}' has no Cortex-M board description; boards: {', '.join(BOARDS)}")
