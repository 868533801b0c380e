"""The target registry, board files and the toolchain checks: fast, no compiling except one tiny model."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from compiler.errors import TargetError
from targets import TARGETS, get_target, load_target_file
from targets.spec import host_arch
from targets.toolchain import require_toolchain
from tests.e2e.conftest import TINY_CNN, run_cli

ISSUE_TARGETS = ["host", "x86-avx2", "x86-avx512", "aarch64", "cortex-a53", "cortex-a72", "cortex-a76", "armv7",
                 "cortex-a7", "cortex-a9", "cuda", "cuda-sm_75", "cuda-sm_80", "cuda-sm_86", "cuda-sm_89",
                 "cuda-sm_90", "jetson-orin", "cortex-m4", "cortex-m7", "cortex-m55"]


def test_every_named_target_is_registered_with_a_one_line_description():
    assert set(ISSUE_TARGETS) <= set(TARGETS)
    for spec in TARGETS.values():
        assert spec.description and "\n" not in spec.description
        assert spec.tvm["kind"] in ("llvm", "cuda", "c")


def test_targets_carry_their_toolchain_and_runner():
    assert get_target("aarch64").linker() == ("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu libc6-dev-arm64-cross")
    assert get_target("armv7").linker()[0] == "arm-linux-gnueabihf-g++"
    assert get_target("armv7").tvm["mfloat-abi"] == "hard" and "+neon" in get_target("armv7").tvm["mattr"]
    assert get_target("cortex-a72").tvm["mcpu"] == "cortex-a72"
    assert get_target("cuda-sm_86").tvm == {"kind": "cuda", "arch": "sm_86"} and get_target("cuda-sm_86").host
    orin = get_target("jetson-orin")
    assert orin.tvm["arch"] == "sm_87" and orin.host["mtriple"] == "aarch64-linux-gnu" and orin.arch == "aarch64"
    assert get_target("aarch64").runner == "qemu-aarch64" and get_target("armv7").runner == "qemu-arm"
    assert get_target("host").runs_on_host and not get_target("cuda").runs_on_host
    assert get_target("cortex-m4").device == "mcu"


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError) as err:
        get_target("pdp11")
    assert "pdp11" in str(err.value) and "aarch64" in str(err.value) and "cuda-sm_90" in str(err.value)


def test_missing_cross_compiler_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler anywhere
    with pytest.raises(TargetError) as err:
        require_toolchain(get_target("aarch64"))
    assert "aarch64-linux-gnu-g++" in str(err.value) and "apt-get install g++-aarch64-linux-gnu" in str(err.value)
    result = run_cli("compile", TINY_CNN, "--target", "armv7", "-o", tmp_path / "out")
    assert result.code == 1 and "apt-get install g++-arm-linux-gnueabihf" in result.err
    assert not (tmp_path / "out").exists()


def test_microcontroller_targets_build_c_projects(tmp_path):
    result = run_cli("compile", TINY_CNN, "--target", "cortex-m4", "-o", tmp_path / "out")
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "src" / "model.c").is_file()


def test_edgec_targets_lists_every_target():
    result = run_cli("targets")
    assert result.code == 0
    names = [line.split()[0] for line in result.out.splitlines()[2:]]
    assert names == list(TARGETS)


# -- board files ------------------------------------------------------------------------------
RPI4 = """
name = "rpi4"
description = "Raspberry Pi 4, 64-bit OS"
base = "cortex-a72"
"""

FULL = {"targets": [{"name": "my-x86", "description": "this machine, named", "arch": host_arch(),
                     "tvm": {"kind": "llvm"}, "features": []},
                    {"name": "my-gpu", "tvm": {"kind": "cuda", "arch": "sm_80"}, "host": {"kind": "llvm"},
                     "device": "cuda", "runner": "cuda"}]}


def test_toml_board_file_starts_from_a_builtin(tmp_path):
    path = tmp_path / "rpi4.toml"
    path.write_text(RPI4)
    (spec,) = load_target_file(path)
    assert spec.name == "rpi4" and spec.tvm == get_target("cortex-a72").tvm and spec.arch == "aarch64"
    assert spec.source == str(path) and spec.linker()[0] == "aarch64-linux-gnu-g++"


def test_json_board_file_with_several_targets(tmp_path):
    path = tmp_path / "boards.json"
    path.write_text(json.dumps(FULL))
    specs = load_target_file(path)
    assert [s.name for s in specs] == ["my-x86", "my-gpu"] and specs[1].device == "cuda"
    result = run_cli("targets", "--target-file", path, "--json")
    listed = {t["name"]: t for t in json.loads(result.out)}
    assert result.code == 0 and listed["my-gpu"]["tvm"]["arch"] == "sm_80" and "aarch64" in listed


@pytest.mark.parametrize("text, needle", [
    ('name = "b"\nbase = "aarch64"\ncolour = "red"\n', "unknown field(s) ['colour']"),
    ('name = "b"\n', "needs a [tvm] table"),
    ('name = "b"\n[tvm]\nmtriple = "aarch64-linux-gnu"\n', "needs 'kind'"),
    ('name = "b"\nbase = "aarch64"\nfeatures = "neon"\n', "'features' must be a list"),
    ('name = "b"\nbase = "aarch64"\ndevice = "fpga"\n', "'device' is 'fpga'"),
    ('name = "aarch64"\nbase = "aarch64"\n', "is a built-in target"),
    ('name = "b"\nbase = "pdp11"\n', "base 'pdp11' is not a built-in"),
    ('name = "b"\nbase = \n', "not valid TOML"),
])
def test_bad_board_files_give_one_line_naming_the_file(tmp_path, text, needle):
    path = tmp_path / "board.toml"
    path.write_text(text)
    result = run_cli("targets", "--target-file", path)
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1, result.err
    assert str(path) in result.err and needle in result.err, result.err


def test_tvm_rejecting_a_board_target_is_a_target_error(tmp_path):
    path = tmp_path / "board.toml"
    path.write_text('name = "odd"\narch = "%s"\n[tvm]\nkind = "no-such-kind"\n' % host_arch())
    result = run_cli("compile", TINY_CNN, "--target-file", path, "-o", tmp_path / "out")
    assert result.code == 1 and "TVM rejects target 'odd'" in result.err and str(path) in result.err


def test_compile_and_run_with_a_board_file(tmp_path):
    """A board file's only target is used without --target; the manifest records target and toolchain."""
    path = tmp_path / "me.json"
    path.write_text(json.dumps({"name": "me", "base": "host", "description": "my machine"}))
    out = tmp_path / "art"
    assert run_cli("compile", TINY_CNN, "--target-file", path, "-o", out).code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"]["name"] == "me" and manifest["target"]["source"] == str(path)
    assert manifest["toolchain"]["compiler"] == "g++" and manifest["toolchain"]["path"] == shutil.which("g++")
    assert run_cli("bench", out, "--repeat", "2", "--warmup", "0").code == 0


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None, reason="needs g++-aarch64-linux-gnu")
def test_cross_compiled_artifact_records_its_toolchain_and_refuses_to_run_here(tmp_path):
    out = tmp_path / "a64"
    assert run_cli("compile", TINY_CNN, "--target", "cortex-a53", "-o", out).code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["toolchain"]["compiler"] == "aarch64-linux-gnu-g++" and manifest["toolchain"]["cross"]
    assert manifest["toolchain"]["version"] and manifest["target"]["arch"] == "aarch64"
    result = run_cli("run", out, "--input", os.devnull)
    assert result.code == 1 and "aarch64 code" in result.err and "--rpc" in result.err
