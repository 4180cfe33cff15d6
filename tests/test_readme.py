"""The README's two set-up commands stay true: CI runs exactly its test command, and the
commands it names exist."""
from __future__ import annotations

import re

from conftest import ROOT, run_grader


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README starts with a bash block of set-up commands"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readmes_test_command_verbatim():
    demo, tests = readme_commands()[:2]
    assert demo.endswith("grader demo")
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in [line.strip() for line in ci]


def test_every_command_in_the_readme_table_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\| `grader (\w+)", text, re.M))
    assert {"list", "check", "grade", "batch", "release", "gradescope", "build", "demo"} <= named
    completed = run_grader("--help")
    assert completed.returncode == 0
    for command in named:
        assert command in completed.stdout
