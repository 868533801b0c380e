"""Board data, project files, fit and FPU checks, stack estimates: no toolchain needed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from compiler.errors import TargetError
from targets.mcu.boards import BOARDS, board_for
from targets.mcu.project import DoesNotFit, check_fits, check_fpu, write_board_project
from targets.mcu.stack import estimate_stack
from targets.registry import get_target

from .fixture import MODEL_INFO, write_fixture


def test_every_mcu_target_has_a_board():
    for name in ("cortex-m4", "cortex-m7", "cortex-m55"):
        board = board_for(get_target(name))
        assert board.cpu == name and board.has_fpu
    m3 = get_target("cortex-m3")
    assert not board_for(m3).has_fpu and m3.tvm["mfloat-abi"] == "soft" and m3.device == "mcu"
    assert BOARDS["cortex-m4"].machine == "mps2-an386" and BOARDS["cortex-m55"].machine == "mps3-an547"
    with pytest.raises(TargetError, match="no Cortex-M board"):
        board_for("host")


def test_compiler_flags():
    assert BOARDS["cortex-m4"].cflags == ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    assert "-mfpu=fpv5-d16" in BOARDS["cortex-m7"].cflags
    assert BOARDS["cortex-m55"].cflags == ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]
    assert "-mfloat-abi=soft" in BOARDS["cortex-m3"].cflags


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_qemu_has_every_machine():
    machines = subprocess.run(["qemu-system-arm", "-M", "help"], capture_output=True, text=True).stdout
    for board in BOARDS.values():
        assert f"{board.machine} " in machines


def test_project_files(tmp_path):
    write_fixture(tmp_path)
    write_board_project(tmp_path, "cortex-m55", MODEL_INFO)
    for name in ("startup.c", "main.c", "cmsdk_uart.c", "systick.c", "board.h", "board_config.h", "link.ld",
                 "board.json"):
        assert (tmp_path / "board" / name).is_file(), name
    link = (tmp_path / "board" / "link.ld").read_text()
    assert "ORIGIN = 0x00000000, LENGTH = 0x80000" in link and "ORIGIN = 0x20000000, LENGTH = 0x80000" in link
    config = (tmp_path / "board" / "board_config.h").read_text()
    assert "EDGEC_UART_BASE 0x49303000u" in config and "EDGEC_INPUT_CAPACITY 32u" in config
    assert "-mcpu=cortex-m55" in (tmp_path / "Makefile").read_text()


def test_check_fits_names_the_sizes():
    board = BOARDS["cortex-m55"]
    check_fits({"flash_bytes": board.flash.size, "ram_bytes": board.ram.size}, board)
    with pytest.raises(DoesNotFit, match=r"RAM needs 600,000 bytes but the board has 524,288 \(DTCM"):
        check_fits({"flash_bytes": 1000, "ram_bytes": 600_000}, "cortex-m55")
    with pytest.raises(DoesNotFit, match=r"flash needs 5,000,000 bytes but the board has 4,194,304"):
        check_fits({"flash_bytes": 5_000_000, "ram_bytes": 10}, "cortex-m4")


def test_float_model_refused_without_fpu(tmp_path):
    float_model = dict(MODEL_INFO, quantized=False,
                       inputs=[{"name": "x", "shape": [1, 4], "dtype": "float32"}])
    with pytest.raises(TargetError, match=r"cortex-m3 \(mps2-an385\) has no FPU .*float tensors: x.*--quantize int8"):
        check_fpu(float_model, BOARDS["cortex-m3"])
    with pytest.raises(TargetError, match="has no FPU"):
        write_board_project(tmp_path, "cortex-m3", float_model)
    check_fpu(float_model, BOARDS["cortex-m4"])
    check_fpu(MODEL_INFO, BOARDS["cortex-m3"])  # int8: fine without an FPU
    check_fpu(dict(float_model, quantized=True), BOARDS["cortex-m3"])  # int8 inside, float only at the edges
    with pytest.raises(TargetError, match=r"has no FPU .*float tensors: fixture"):
        check_fpu(dict(MODEL_INFO, quantized=False), BOARDS["cortex-m3"])


def test_cli_refuses_a_float_model_for_cortex_m3(tmp_path):
    """``edgec compile FLOAT_MODEL --target cortex-m3``: one line with the reason and the fix, no output."""
    from tests.e2e.conftest import TINY_CNN, run_cli

    result = run_cli("compile", TINY_CNN, "--target", "cortex-m3", "-o", tmp_path / "out")
    assert result.code == 1, result.err
    assert "cortex-m3 (mps2-an385) has no FPU but the model is not quantized" in result.err
    assert "--quantize int8" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


CALL_GRAPH = """graph: { title: "a.c"
node: { title: "Reset_Handler" label: "Reset_Handler\\na.c:1:1\\n8 bytes (static)" }
node: { title: "main" label: "main\\na.c:2:1\\n16 bytes (static)" }
node: { title: "a.c:deep.isra.0" label: "deep.isra\\na.c:3:1\\n100 bytes (static)" }
node: { title: "shallow" label: "shallow\\na.c:4:1\\n20 bytes (static)" }
node: { title: "SysTick_Handler" label: "SysTick_Handler\\na.c:5:1\\n4 bytes (static)" }
node: { title: "memcpy" label: "memcpy\\n<built-in>" shape : ellipse }
edge: { sourcename: "Reset_Handler" targetname: "main" label: "a.c:1:2" }
edge: { sourcename: "main" targetname: "a.c:deep.isra.0" label: "a.c:2:2" }
edge: { sourcename: "main" targetname: "shallow" label: "a.c:2:3" }
edge: { sourcename: "shallow" targetname: "memcpy" label: "a.c:4:2" }
}
"""


def test_stack_estimate_takes_the_deepest_chain(tmp_path):
    (tmp_path / "a.ci").write_text(CALL_GRAPH)
    result = estimate_stack(tmp_path)
    # deepest: 8 + 16 + max(100, 20 + 128 library) = 172; + SysTick 4 + frame 104 + library 128 = 408
    assert result["bytes"] == 408, result


def test_stack_estimate_unbounded_on_recursion(tmp_path):
    (tmp_path / "a.ci").write_text(CALL_GRAPH.replace(
        'edge: { sourcename: "shallow" targetname: "memcpy"', 'edge: { sourcename: "shallow" targetname: "main"'))
    result = estimate_stack(tmp_path)
    assert result["bytes"] is None and any("recursion" in n for n in result["notes"])
