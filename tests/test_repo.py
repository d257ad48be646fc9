"""House checks: the README's test command is what CI runs; importing the package has no side effects."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_every_environment_variable_is_in_the_readme() -> None:
    used = set()
    for path in [ROOT / "app.py", *sorted((ROOT / "medgan").rglob("*.py"))]:
        used |= set(re.findall(r"\bMEDGAN_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in used if f"`{v}`" not in readme)
    assert not missing, f"environment variables missing from the README's table: {missing}"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    cmds = _readme_commands()
    assert len(cmds) >= 2
    assert "python app.py" in cmds[0]
    assert "pytest" in cmds[1]
    assert cmds[1] in (ROOT / ".ci" / "run").read_text()


def test_import_has_no_side_effects(tmp_path) -> None:
    code = "import medgan, medgan.io, medgan.data, logging; assert not logging.getLogger().handlers"
    env = {"MEDGAN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    assert not (tmp_path / "home").exists()


def test_requirements_pin_torch() -> None:
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()
