"""The generated C and the runtime are clean C99 for every compiler the issue names, run without
memory errors or undefined behaviour (AddressSanitizer + UBSan), and the runtime's scratch
allocator behaves as a bounded stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.codegen.build import compile_graph

from .helpers import ROOT, digits_graph, mlperf_graph

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
COMPILERS = {
    "gcc": [],
    "aarch64-linux-gnu-gcc": [],
    "arm-linux-gnueabihf-gcc": [],
    "arm-none-eabi-gcc": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgec_runtime.h"
/* Runs the model twice on patterned inputs; the second run must give the same bytes. */
int main(void)
{
    const edgec_model_info *info = edgec_model_describe();
    void *in[8], *out[8], *again[8];
    uint32_t i, j;
    int status;
    for (i = 0; i < info->num_inputs; ++i) {
        in[i] = malloc(info->inputs[i].bytes);
        for (j = 0; j < info->inputs[i].bytes; ++j) ((unsigned char *)in[i])[j] = (unsigned char)(j * 7u + 3u);
        if (info->inputs[i].dtype == EDGEC_FLOAT32)
            for (j = 0; j < info->inputs[i].bytes / 4; ++j) ((float *)in[i])[j] = (float)(j % 13) / 13.0f;
    }
    for (i = 0; i < info->num_outputs; ++i) { out[i] = malloc(info->outputs[i].bytes); again[i] = malloc(info->outputs[i].bytes); }
    status = edgec_model_run((const void *const *)in, out);
    if (status != EDGEC_OK) { printf("run: %s\n", edgec_status_string(status)); return 1; }
    status = edgec_model_run((const void *const *)in, again);
    for (i = 0; i < info->num_outputs; ++i)
        if (memcmp(out[i], again[i], info->outputs[i].bytes) != 0) { printf("not deterministic\n"); return 1; }
    if (edgec_model_run(NULL, out) != EDGEC_ERROR_NULL_ARGUMENT) { printf("NULL accepted\n"); return 1; }
    for (i = 0; i < info->num_inputs; ++i) free(in[i]);
    for (i = 0; i < info->num_outputs; ++i) { free(out[i]); free(again[i]); }
    printf("ok %s\n", edgec_version());
    return status;
}
"""


@pytest.fixture(scope="module")
def digits_sources(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "c"
    compile_graph(digits_graph(True), out, "c")
    return out / "src"


@pytest.fixture(scope="module")
def digits_float_sources(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits_float") / "c"
    compile_graph(digits_graph(False), out, "c")
    return out / "src"


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_sources_compile_warning_free(digits_sources, digits_float_sources, tmp_path, compiler):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    for source in ("model.c", "kernels.c", "edgec_runtime.c", "float/model.c", "float/kernels.c"):
        where = digits_float_sources / source.split("/")[1] if source.startswith("float/") else digits_sources / source
        result = subprocess.run([compiler, *STRICT, *COMPILERS[compiler], "-O2", "-c", str(where),
                                 "-o", str(tmp_path / "out.o")], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr, f"{compiler} {source}:\n{result.stderr}"


def sanitized_run(src: Path, tmp: Path) -> subprocess.CompletedProcess:
    (tmp / "driver.c").write_text(DRIVER)
    exe = tmp / "model_asan"
    build = subprocess.run(["gcc", "-std=c99", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            "-fno-omit-frame-pointer", f"-I{src}", *map(str, sorted(src.glob("*.c"))),
                            str(tmp / "driver.c"), "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                          env={"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})


def test_digits_int8_under_address_and_undefined_sanitizers(digits_sources, tmp_path):
    result = sanitized_run(digits_sources, tmp_path)
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
    assert "runtime error" not in result.stderr and "ERROR" not in result.stderr, result.stderr


@pytest.mark.slow
def test_mlperf_kws_int8_under_sanitizers(tmp_path):
    out = tmp_path / "c"
    compile_graph(mlperf_graph("kws_dscnn_int8_qdq"), out, "c")
    result = sanitized_run(out / "src", tmp_path)
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
    assert "runtime error" not in result.stderr and "ERROR" not in result.stderr, result.stderr


WORKSPACE_TEST = r"""
#include <stdio.h>
#include "edgec_runtime.h"
static uint8_t slice[64];
int main(void)
{
    void *a, *b, *c;
    edgec_workspace_begin(slice, 64u);
    a = TVMBackendAllocWorkspace(1, 0, 20u, 2, 32);   /* rounded to 32 */
    b = TVMBackendAllocWorkspace(1, 0, 32u, 2, 32);
    if (a != slice || b != slice + 32 || edgec_workspace_end() != 0) return 1;
    if (TVMBackendAllocWorkspace(1, 0, 1u, 2, 32) != NULL || edgec_workspace_end() == 0) return 2;  /* full */
    edgec_workspace_begin(slice, 64u);
    a = TVMBackendAllocWorkspace(1, 0, 16u, 2, 32);
    b = TVMBackendAllocWorkspace(1, 0, 16u, 2, 32);
    TVMBackendFreeWorkspace(1, 0, b);
    TVMBackendFreeWorkspace(1, 0, a);
    c = TVMBackendAllocWorkspace(1, 0, 64u, 2, 32);  /* everything freed: the whole slice again */
    if (c != slice || edgec_workspace_end() != 0) return 3;
    edgec_workspace_begin(slice, 0u);
    if (TVMBackendAllocWorkspace(1, 0, 1u, 2, 32) != NULL || edgec_workspace_end() == 0) return 4;
    if (edgec_status_string(EDGEC_ERROR_WORKSPACE)[0] == '\0') return 5;
    puts(edgec_version());
    return 0;
}
"""


def test_workspace_allocator_is_a_bounded_stack(tmp_path):
    runtime_dir = ROOT / "runtime" / "c"
    (tmp_path / "t.c").write_text(WORKSPACE_TEST)
    exe = tmp_path / "t"
    build = subprocess.run(["gcc", *STRICT, f"-I{runtime_dir}", str(tmp_path / "t.c"),
                            str(runtime_dir / "edgec_runtime.c"), "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "0.1.0", result
