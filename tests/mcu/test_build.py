"""Building the board project with arm-none-eabi-gcc: warning-free, sizes, models that do not fit."""

from __future__ import annotations

import subprocess

import pytest

from compiler.errors import TargetError
from targets.mcu import project
from targets.mcu.project import DoesNotFit, build_elf

from .conftest import needs_gcc
from .fixture import MODEL_INFO, build_fixture, write_fixture

pytestmark = needs_gcc


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55"])
def test_board_code_builds_warning_free(tmp_path, target):
    write_fixture(tmp_path)
    project.write_board_project(tmp_path, target, MODEL_INFO)
    result = subprocess.run(["make", "-C", str(tmp_path), "WARNINGS=-Wall -Wextra -pedantic -Werror"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning:" not in (result.stdout + result.stderr).lower()  # the linker's too


def test_sizes(tmp_path):
    sizes = build_fixture(tmp_path, "cortex-m4", arena_bytes=1000, weights_bytes=3000)
    assert sizes["flash_bytes"] == sizes["text"] + sizes["rodata"] + sizes["data"]
    assert sizes["rodata"] >= 3000  # the weights
    assert 3000 < sizes["flash_bytes"] < 16_000  # code + the 3000 bytes of weights, no full libc
    assert sizes["bss"] >= 1000 and sizes["ram_bytes"] == sizes["data"] + sizes["bss"] + sizes["stack_bytes"]
    assert 100 < sizes["stack_bytes"] < 2048 and sizes["stack_estimate"]["bytes"] == sizes["stack_bytes"]


def test_too_big_for_ram(tmp_path):
    with pytest.raises(DoesNotFit, match=r"does not fit cortex-m4 \(mps2-an386\): RAM needs [\d,]+ bytes but "
                                         r"the board has 4,194,304"):
        build_fixture(tmp_path, "cortex-m4", arena_bytes=5 << 20)


def test_too_big_for_flash(tmp_path):
    with pytest.raises(DoesNotFit, match=r"does not fit cortex-m55 \(mps3-an547\): flash needs [\d,]+ bytes but "
                                         r"the board has 524,288"):
        build_fixture(tmp_path, "cortex-m55", weights_bytes=600_000)


def test_missing_toolchain_is_a_clear_error(tmp_path, monkeypatch):
    write_fixture(tmp_path)
    project.write_board_project(tmp_path, "cortex-m4", MODEL_INFO)
    monkeypatch.setattr(project.shutil, "which", lambda tool: None if "arm-none-eabi" in tool else "/usr/bin/make")
    with pytest.raises(TargetError, match="needs arm-none-eabi-gcc, arm-none-eabi-size; install with: apt-get "
                                          "install make gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        build_elf(tmp_path, "cortex-m4")
