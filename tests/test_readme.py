"""The README opens with the two set-up commands, and CI runs its test command verbatim."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_opens_with_main_job_and_test_commands():
    first, second = readme_commands()[:2]
    assert "recipes/lenet5_digits.py" in first
    assert "pytest" in second
    assert (ROOT / "recipes" / "lenet5_digits.py").is_file()


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1].strip() in [line.strip() for line in ci]
