"""qemu-user as the aarch64 CPU for LiteRT: finding it, its version, and which CPU models
it is trusted to compute correctly on.

Measured (toolchain.md, "ARM64 under emulation"): qemu 7.2 with a CPU model that has SME
(``max``) computes dynamic-int8 models wrong (max error 5.3, top-1 75%), while
``max,sme=off`` on 7.2 and ``max`` on 10.0.2 agree with x86. qemu 10.0.2 is trusted
outright; qemu older than 8 with SME is refused outright; anything else is measured
(``signbart_parity.runtime.provision.arm64_probe``) before use.

qemu before 10 also hands the guest the host's x86 ``/proc/cpuinfo``, on which LiteRT's
CPU detection crashes. ``cpuinfo_text`` writes the ARM one the chosen CPU model would
show: its MIDR fields and exactly the features the emulator advertises in ``AT_HWCAP``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from signbart_parity.errors import RuntimeEnvironmentError

QEMU_ENV = "SIGNBART_PARITY_QEMU"
QEMU_NAMES = ("qemu-aarch64", "qemu-aarch64-static")
TRUSTED_FROM = (10, 0, 2)
SME_BROKEN_BELOW = (8, 0, 0)
INSTALL_HINT = (
    "install qemu-user >= 10.0.2 (Debian bookworm: `apt-get install -t bookworm-backports "
    "qemu-user`) or qemu-user-static"
)

# MIDR fields (implementer, variant, part, revision) qemu gives each CPU model.
MIDR = {
    "cortex-a53": (0x41, 0x0, 0xD03, 4),
    "cortex-a57": (0x41, 0x1, 0xD07, 0),
    "cortex-a72": (0x41, 0x0, 0xD08, 3),
    "cortex-a76": (0x41, 0x4, 0xD0B, 1),
    "neoverse-n1": (0x41, 0x4, 0xD0C, 1),
    "a64fx": (0x46, 0x1, 0x001, 0),
    "max": (0x00, 0x0, 0x051, 0),
}
# Linux's names for the AT_HWCAP and AT_HWCAP2 bits, in bit order (arm64 cpuinfo.c).
HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt "
    "fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs "
    "sb paca pacg"
).split()
HWCAP2_NAMES = (
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm "
    "svef64mm svebf16 i8mm bf16 dgh rng bti mte ecv afp rpres mte3 sme smei16i64 smef64f64 "
    "smei8i32 smef16f32 smeb16f32 smef32f32 smefa64 wfxt ebf16 sveebf16 cssc rprfm sve2p1 "
    "sme2 sme2p1 smei16i32 smebi32i32 smeb16b16 smef16f16 mops hbc"
).split()
SME_BIT = 1 << HWCAP2_NAMES.index("sme")

# Run inside the guest: the emulated CPU's hwcaps and whether /proc/cpuinfo is an ARM one.
_GUEST_FACTS = (
    "import struct\n"
    "aux = dict(struct.iter_unpack('<QQ', open('/proc/self/auxv', 'rb').read()))\n"
    "arm = 'CPU implementer' in open('/proc/cpuinfo').read()\n"
    "print(aux.get(16, 0), aux.get(26, 0), int(arm))\n"
)


@dataclass(frozen=True)
class Emulator:
    path: Path
    version: tuple[int, int, int]

    @property
    def label(self) -> str:
        return f"{self.path.name} {'.'.join(map(str, self.version))}"


@dataclass(frozen=True)
class GuestCpu:
    """What a CPU model looks like from inside the emulator."""

    hwcap: int
    hwcap2: int
    emulates_cpuinfo: bool

    @property
    def has_sme(self) -> bool:
        return bool(self.hwcap2 & SME_BIT)


def parse_qemu_version(text: str) -> tuple[int, int, int] | None:
    """(10, 0, 2) from ``qemu-aarch64 version 10.0.2 (Debian ...)``; None if absent."""
    match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def run_tool(command: list[str], what: str, **options) -> subprocess.CompletedProcess:
    """``subprocess.run`` capturing text; a tool that cannot start or hangs is one line."""
    options.setdefault("timeout", 1800)
    try:
        return subprocess.run(command, capture_output=True, text=True, **options)
    except OSError as exc:
        raise RuntimeEnvironmentError(f"{what} could not start ({exc}).") from None
    except subprocess.TimeoutExpired:
        raise RuntimeEnvironmentError(
            f"{what} did not finish in {options['timeout']} s ({' '.join(command[:3])} ...)."
        ) from None


def emulator_version(path: Path) -> tuple[int, int, int]:
    result = run_tool([str(path), "--version"], f"the emulator {path}", timeout=60)
    version = parse_qemu_version(result.stdout)
    if version is None:
        raise RuntimeEnvironmentError(
            f"{path}: `--version` printed no qemu version ({result.stdout.strip()[:80]!r}); "
            f"{INSTALL_HINT}."
        )
    return version


def find_emulator() -> Emulator:
    """$SIGNBART_PARITY_QEMU if set, else the newest of qemu-aarch64 / qemu-aarch64-static."""
    override = os.environ.get(QEMU_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise RuntimeEnvironmentError(f"{QEMU_ENV}={override}: no such file.")
        return Emulator(path, emulator_version(path))
    found = [Path(p) for name in QEMU_NAMES if (p := shutil.which(name))]
    if not found:
        raise RuntimeEnvironmentError(
            f"No aarch64 emulator found (qemu-aarch64 or qemu-aarch64-static): {INSTALL_HINT}."
        )
    return max((Emulator(path, emulator_version(path)) for path in found), key=_by_version)


def _by_version(emulator: Emulator) -> tuple[int, int, int]:
    return emulator.version


def check_cpu_model(emulator: Emulator, cpu: str) -> None:
    """Refuse a CPU model the emulator does not know, listing the ones it does."""
    result = run_tool([str(emulator.path), "-cpu", "help"], emulator.label, timeout=60)
    known = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    base = cpu.split(",")[0]
    if known and base not in known:
        raise RuntimeEnvironmentError(
            f"CPU model {base!r} is not one {emulator.label} emulates; choose one of: "
            f"{', '.join(known)}."
        )


def guest_cpu(emulator: Emulator, sysroot: Path, python: Path, cpu: str) -> GuestCpu:
    """Ask a guest Python under ``emulator`` with ``QEMU_CPU=cpu`` what it sees."""
    command = [str(emulator.path), "-L", str(sysroot), str(python), "-I", "-c", _GUEST_FACTS]
    result = run_tool(command, emulator.label, timeout=300, env={**os.environ, "QEMU_CPU": cpu})
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 3:
        raise RuntimeEnvironmentError(
            f"{emulator.label} with QEMU_CPU={cpu} cannot run the aarch64 Python "
            f"{python} (exit {result.returncode}: {_last_line(result.stderr)})."
        )
    hwcap, hwcap2, arm = (int(field) for field in fields)
    return GuestCpu(hwcap, hwcap2, bool(arm))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def features(hwcap: int, hwcap2: int) -> list[str]:
    """The cpuinfo feature names of the set hwcap bits (unknown bits are left out)."""
    names = [name for bit, name in enumerate(HWCAP_NAMES) if hwcap >> bit & 1]
    return names + [name for bit, name in enumerate(HWCAP2_NAMES) if hwcap2 >> bit & 1]


def cpuinfo_text(cpu: str, guest: GuestCpu, processors: int) -> str:
    """An ARM /proc/cpuinfo for ``cpu``, in the layout Linux (and qemu 10) print."""
    base = cpu.split(",")[0]
    if base not in MIDR:
        raise RuntimeEnvironmentError(
            f"CPU model {base!r} needs an emulated /proc/cpuinfo, which qemu before 10 lacks "
            f"and this harness writes only for: {', '.join(MIDR)}; {INSTALL_HINT}."
        )
    implementer, variant, part, revision = MIDR[base]
    block = (
        "processor\t: {n}\n"
        f"model name\t: ARMv8 Processor rev {revision} (v8l)\n"
        "BogoMIPS\t: 100.00\n"
        f"Features\t: {' '.join(features(guest.hwcap, guest.hwcap2))}\n"
        f"CPU implementer\t: 0x{implementer:02x}\n"
        "CPU architecture: 8\n"
        f"CPU variant\t: 0x{variant:x}\n"
        f"CPU part\t: 0x{part:03x}\n"
        f"CPU revision\t: {revision}\n"
    )
    return "\n".join(block.format(n=n) for n in range(processors)) + "\n"


def known_verdict(emulator: Emulator, cpu: str, guest: GuestCpu) -> str | None:
    """'trusted', a refusal sentence, or None when only a measurement can tell."""
    if emulator.version >= TRUSTED_FROM:
        return "trusted"
    if emulator.version < SME_BROKEN_BELOW and guest.has_sme:
        return (
            f"{emulator.label} computes dynamic-int8 models wrong on CPU models with SME "
            f"(QEMU_CPU={cpu}); `litert@arm64:{cpu}` needs qemu >= 10.0.2 "
            "(`apt-get install -t bookworm-backports qemu-user`), or use cortex-a76."
        )
    return None
