"""Assemble a minimal aarch64 Linux userland that runs TVM's runtime under qemu-user.

Nothing is installed on this machine: Debian's arm64 packages for Python 3.11 are downloaded with
a private apt configuration (its own lists and cache under the board folder) and unpacked with
``dpkg-deb -x``; the aarch64 wheels of apache-tvm (same version as here, runtime library only),
apache-tvm-ffi, numpy, ml_dtypes and typing_extensions are unpacked into its dist-packages. The
result is cached under ``.cache/boards/aarch64`` (git-ignored) and rebuilt when the recipe changes.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from compiler.errors import TargetError

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "boards" / "aarch64"
DEB_ARCH = "arm64"
PYTHON = "usr/bin/python3.11"
SITE = "usr/lib/python3/dist-packages"
# python3.11 and the libraries it loads (the closure of Debian 12's python3.11-minimal and -stdlib).
DEBIAN_PACKAGES = (
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 libc6 libgcc-s1 gcc-12-base "
    "libstdc++6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 "
    "libreadline8 libuuid1 libdb5.3 libcrypt1 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 "
    "libkrb5support0 libkeyutils1 libcom-err2").split()
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
                   "manylinux2014_aarch64")
SKIPPED_IN_WHEELS = ("libtvm_compiler.so", "/3rdparty/")  # the board runs TVM's runtime library only


def wheels() -> list[str]:
    """The board's Python packages, pinned to this machine's versions (RPC needs the same TVM)."""
    pins = []
    for dist in ("apache-tvm", "apache-tvm-ffi", "numpy", "ml_dtypes", "typing_extensions"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pins.append(dist)
    return pins


def recipe() -> dict:
    return {"debian": DEBIAN_PACKAGES, "wheels": wheels(), "skipped": SKIPPED_IN_WHEELS, "layout": 1}


def rootfs(cache: Path = CACHE) -> Path:
    return cache / "rootfs"


def is_built(cache: Path = CACHE) -> bool:
    stamp = cache / "READY"
    return stamp.is_file() and stamp.read_text() == json.dumps(recipe(), sort_keys=True)


def build(cache: Path = CACHE, log=print) -> Path:
    """Build the userland (or reuse the cached one); returns its root folder."""
    if is_built(cache):
        return rootfs(cache)
    for tool, package in (("apt-get", "apt"), ("dpkg-deb", "dpkg"), ("qemu-aarch64", "qemu-user")):
        if shutil.which(tool) is None:
            raise TargetError(f"the emulated aarch64 board needs {tool}; install it with: apt-get install {package}")
    start = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "READY").unlink(missing_ok=True)
    debs = _download_debs(cache / "apt", log)
    wheel_files = _download_wheels(cache / "wheels", log)
    root = rootfs(cache)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
    for wheel in wheel_files:
        _unpack_wheel(wheel, root / SITE)
    shutil.rmtree(cache / "wheels", ignore_errors=True)  # unpacked; pip's cache keeps them
    _precompile(root, log)
    (cache / "READY").write_text(json.dumps(recipe(), sort_keys=True))
    log(f"board userland ready in {root} ({time.monotonic() - start:.0f} s)")
    return root


def _download_debs(apt_dir: Path, log) -> list[Path]:
    """Debian's arm64 packages through a private apt configuration (this machine's apt is untouched)."""
    for sub in ("lists/partial", "cache/archives/partial", "sources", "debs"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    _write_sources(apt_dir / "sources")
    options = [f"-oAPT::Architecture={DEB_ARCH}", f"-oAPT::Architectures={DEB_ARCH}",
               f"-oDir::State::Lists={apt_dir / 'lists'}", f"-oDir::Cache={apt_dir / 'cache'}",
               "-oDir::State::Status=/dev/null", "-oDir::Etc::SourceList=/dev/null",
               f"-oDir::Etc::SourceParts={apt_dir / 'sources'}", "-oAPT::Sandbox::User=root",
               "-oDebug::NoLocking=1", "-qq"]
    log(f"downloading {len(DEBIAN_PACKAGES)} Debian {DEB_ARCH} packages (python3.11 and its libraries)")
    _run(["apt-get", *options, "update"], "apt-get update (arm64 package lists)")
    debs = apt_dir / "debs"
    for old in debs.glob("*.deb"):
        old.unlink()
    _run(["apt-get", *options, "download", *DEBIAN_PACKAGES], "apt-get download", cwd=debs)
    return sorted(debs.glob("*.deb"))


def _write_sources(folder: Path) -> None:
    """This machine's Debian sources (only those: other repositories may not carry arm64)."""
    for old in folder.iterdir():
        old.unlink()
    found = 0
    for path in glob.glob("/etc/apt/sources.list.d/*.sources") + glob.glob("/etc/apt/sources.list.d/*.list") \
            + ["/etc/apt/sources.list"]:
        if not os.path.isfile(path):
            continue
        text = Path(path).read_text()
        if path.endswith(".sources"):
            stanzas = [s for s in text.split("\n\n") if "debian.org" in s and "Types:" in s]
            kept = "\n\n".join(s for s in stanzas if "Architectures:" not in s)
        else:
            kept = "\n".join(line for line in text.splitlines()
                             if line.strip().startswith("deb ") and "debian.org" in line and "arch=" not in line)
        if kept.strip():
            found += 1
            (folder / f"{found}-{Path(path).name}").write_text(kept + "\n")
    if not found:
        raise TargetError("the emulated board is built from Debian's packages, and this machine's apt has no "
                          "Debian (debian.org) sources")


def _download_wheels(folder: Path, log) -> list[Path]:
    shutil.rmtree(folder, ignore_errors=True)  # pip's own cache makes a rebuild cheap
    folder.mkdir(parents=True)
    pins = wheels()
    log(f"downloading aarch64 wheels: {' '.join(pins)}")
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", *platforms,
          "-d", str(folder), *pins], "pip download (aarch64 wheels)")
    return sorted(folder.glob("*.whl"))


def _unpack_wheel(wheel: Path, site: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if not any(s in n for s in SKIPPED_IN_WHEELS)]
        archive.extractall(site, members=members)
    for lib in site.glob("**/*.so*"):
        lib.chmod(0o755)


def _precompile(root: Path, log) -> None:
    """Byte-compile with this machine's Python 3.11 (same bytecode): halves the board's start-up."""
    if sys.version_info[:2] != (3, 11):
        return
    log("byte-compiling the board's Python files")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(root / "usr/lib/python3.11"),
                    str(root / SITE)], capture_output=True, check=False)


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise TargetError(f"building the emulated board: {what} failed: {lines[-1] if lines else result.returncode}")
