"""The examples and the README's Python block run, and say what they claim."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ```python block of README.md executes as written."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "account_id" in capsys.readouterr().out


def test_embed_in_pipeline_acts_on_every_enforced_decision(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer loop applies each enforced decision of the example once."""
    monkeypatch.setattr(sys, "argv", ["embed_in_pipeline.py"])
    module = runpy.run_path(str(ROOT / "examples" / "embed_in_pipeline.py"))
    service = module["AccountService"]()
    counts = module["consume"](ROOT / "examples" / "events.jsonl", None, service)
    applied = [call for call in service.calls if not call[1].startswith("restore")]
    assert counts["enforced"] == len(applied) > 0
    assert len({call[2] for call in applied}) == len(applied)
    assert counts["events"] == 1200
    assert module["main"]([]) == 0
    assert "account service:" in capsys.readouterr().out
