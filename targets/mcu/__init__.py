"""Cortex-M boards: what each board is (``boards``) and the bare-metal project edgec writes for it
(``project``: startup code, linker script, device main loop, Makefile, ELF build and size checks)."""

from .boards import BOARDS, Board, board_for

__all__ = ["BOARDS", "Board", "board_for"]
