"""Running Cortex-M artifacts on their board: QEMU (``qemu``) or a real board on a serial port
(``transport``), over edgec's UART protocol (``protocol``, docs/mcu-protocol.md); ``model.McuModel``
is what ``edgec run`` / ``edgec bench`` use."""

from .model import McuModel, load

__all__ = ["McuModel", "load"]
