"""install.sh against real apt: whatever form a machine's bookworm-backports entry has, the
script adds no second definition, and apt still reads every source afterwards.

Each case builds a throwaway apt configuration folder and points apt at it with ``-o Dir::Etc``
(nothing under /etc/apt is touched); ``apt-get update --print-uris`` parses the sources without
downloading anything, so a "Conflicting values set for option Signed-By" shows without network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = Path(__file__).resolve().parents[1] / "install.sh"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MAIN = "deb http://deb.debian.org/debian bookworm main\n"
BACKPORTS_DEB822 = (
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n"
    f"Components: main\nSigned-By: {KEYRING}\n"
)

# Where the machine already has backports: (file under the apt folder, its text).
EXISTING = {
    "one-line .list": (
        "sources.list.d/backports.list",
        MAIN.replace("bookworm", "bookworm-backports"),
    ),
    "sources.list with options": (
        "sources.list",
        MAIN + "deb [arch=amd64] http://ftp.de.debian.org/debian/ bookworm-backports main\n",
    ),
    "deb822 .sources": ("sources.list.d/debian-backports.sources", BACKPORTS_DEB822),
    "deb822, one of several suites": (
        "sources.list.d/debian.sources",
        BACKPORTS_DEB822.replace(
            "Suites: bookworm-backports", "Suites: bookworm\n bookworm-backports"
        ),
    ),
}

needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not installed")


def apt_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    etc = tmp_path / "etc"
    for folder in ("sources.list.d", "apt.conf.d", "preferences.d", "trusted.gpg.d"):
        (etc / folder).mkdir(parents=True)
    (etc / "sources.list").write_text(MAIN)
    for name, text in files.items():
        (etc / name).write_text(text)
    return etc


def install_function(etc: Path, function: str, **env: str) -> subprocess.CompletedProcess:
    """Source install.sh (which then runs nothing) and call one of its functions."""
    return subprocess.run(
        ["bash", "-c", f'. "$INSTALL_SH" && {function}'],
        capture_output=True,
        text=True,
        env={**os.environ, "INSTALL_SH": str(INSTALL), "APT_ETC": str(etc), **env},
        timeout=60,
    )


def apt(etc: Path, *command: str) -> subprocess.CompletedProcess:
    state = etc.parent / "state"
    for folder in ("lists/partial", "cache/archives/partial"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    options = [
        f"-oDir::Etc={etc}", f"-oDir::State::Lists={state / 'lists'}",
        f"-oDir::Cache={state / 'cache'}", "-oDebug::NoLocking=1",
    ]  # fmt: skip
    return subprocess.run([command[0], *options, *command[1:]], capture_output=True, text=True)


def snapshot(etc: Path) -> dict[str, str]:
    return {str(p.relative_to(etc)): p.read_text() for p in etc.rglob("*") if p.is_file()}


@needs_apt
@pytest.mark.parametrize("form", list(EXISTING))
def test_an_existing_backports_entry_in_any_form_is_used_and_apt_still_reads_it(form, tmp_path):
    name, text = EXISTING[form]
    etc = apt_folder(tmp_path, {name: text})
    before = snapshot(etc)
    assert install_function(etc, "backports_present").returncode == 0
    done = install_function(etc, "ensure_backports")
    assert done.returncode == 0, done.stderr
    assert "using the existing apt source" in done.stdout
    assert snapshot(etc) == before  # nothing added, nothing changed
    uris = apt(etc, "apt-get", "update", "--print-uris")
    assert uris.returncode == 0 and "Conflicting" not in uris.stderr, uris.stderr
    assert "/dists/bookworm-backports/InRelease" in uris.stdout
    assert apt(etc, "apt-cache", "policy").returncode == 0


@needs_apt
def test_the_fault_it_avoids_is_real_a_second_definition_breaks_apt(tmp_path):
    """The old .ci/run added bookworm-backports.sources beside a one-line entry (read after it
    here): apt refuses every source."""
    one_line = EXISTING["one-line .list"][1]
    old_ci = "sources.list.d/bookworm-backports.sources"
    etc = apt_folder(
        tmp_path, {"sources.list.d/debian-backports.list": one_line, old_ci: BACKPORTS_DEB822}
    )
    uris = apt(etc, "apt-get", "update", "--print-uris")
    assert uris.returncode != 0
    assert "Conflicting values set for option Signed-By" in uris.stderr


# Where it has none that apt would use: (file under the apt folder, its text).
WITHOUT = {
    "commented out": ("sources.list.d/old.list", "# " + EXISTING["one-line .list"][1]),
    "deb822, Enabled: no": ("sources.list.d/old.sources", BACKPORTS_DEB822 + "Enabled: no\n"),
    "another suite": ("sources.list.d/updates.list", MAIN.replace("bookworm", "bookworm-updates")),
}


@needs_apt
@pytest.mark.parametrize("form", list(WITHOUT))
def test_without_an_entry_one_is_added_and_apt_reads_it(form, tmp_path):
    etc = apt_folder(tmp_path, dict([WITHOUT[form]]))
    assert install_function(etc, "backports_present").returncode == 1
    done = install_function(etc, "ensure_backports")
    assert done.returncode == 0 and "added" in done.stdout, done.stderr
    assert (etc / "sources.list.d" / "bookworm-backports.sources").is_file()
    assert not list(etc.rglob("*.tmp"))
    uris = apt(etc, "apt-get", "update", "--print-uris")
    assert uris.returncode == 0, uris.stderr
    assert "/dists/bookworm-backports/InRelease" in uris.stdout


def test_missing_system_packages_name_the_lanes_not_checked(tmp_path):
    """With no qemu, Chromium or dpkg on PATH, every lane is named."""
    script = '. "$INSTALL_SH" && missing_lanes && printf "%s\\n" "${NOT_CHECKED[@]}"'
    environment = {"PATH": str(tmp_path), "INSTALL_SH": str(INSTALL)}
    done = subprocess.run(
        ["/bin/bash", "-c", script], capture_output=True, text=True, env=environment, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "arm64 lane (qemu-user 10)",
        "GPU lane (mesa-vulkan-drivers 25 + libvulkan1)",
        "HTML report check (chromium)",
    ]
