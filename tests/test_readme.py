"""The README's commands are what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    test_command = ci[-1]
    assert test_command.endswith(".venv/bin/python -m pytest")
    assert f"```bash\n{test_command}\n```" in readme
    install = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/gauntlet run"
    assert f"```bash\n{install}\n```" in readme
