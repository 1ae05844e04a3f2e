"""Gradescope's setup.sh and run_autograder: files of the package, filled, and clean for shellcheck.

They run where nobody watches (Gradescope builds the image once, then runs one script per
submission), so a quoting slip there scores a class 0. shellcheck is installed by scripts/setup.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from autograder.gradescope.package import PLACEHOLDER, TEMPLATES, scripts, template

FILLED = scripts(
    version="9.9.9",
    settings_log='echo "setup: Gradescope settings: 10 minutes"\n',
    assignment="04_optimizers",
    allow_unsandboxed=False,
)


def test_the_templates_are_files_of_the_package():
    assert sorted(p.name for p in TEMPLATES.iterdir()) == ["run_autograder", "setup.sh"]
    assert PLACEHOLDER in template("run_autograder") and "@VERSION@" in template("setup.sh")


def test_every_placeholder_is_filled():
    for name, text in FILLED.items():
        assert re.findall(r"@[A-Z_]+@", template(name)), name  # it has placeholders ...
        assert not re.findall(r"@[A-Z_]+@", text), name  # ... and every one is filled
        assert "9.9.9" in text, name
    assert "04_optimizers" in FILLED["run_autograder"]
    assert "setup: Gradescope settings: 10 minutes" in FILLED["setup.sh"]


@pytest.mark.parametrize("name", sorted(FILLED))
def test_shellcheck_finds_nothing(name, tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run scripts/setup (it installs it with apt)")
    script = tmp_path / name
    script.write_text(FILLED[name])
    run = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout
