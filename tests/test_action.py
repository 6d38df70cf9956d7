"""The GitHub Action and the example workflow cannot drift from the CLI: every input the
workflow passes exists, and every flag the action gives verifix is one verifix has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from conftest import verifix

ROOT = Path(__file__).parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOW = yaml.safe_load((ROOT / "examples" / "verifix.yml").read_text())


def _verifix_calls(script: str) -> list[list[str]]:
    """Each ``verifix ...`` command line in a step's script, as words (continuations joined)."""
    joined = script.replace("\\\n", " ")
    calls = []
    for line in joined.splitlines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "X", line).strip()
        if line.startswith("verifix "):
            calls.append(shlex.split(line))
    return calls


def test_the_workflow_passes_only_inputs_the_action_has():
    [step] = [s for s in WORKFLOW["jobs"]["fix"]["steps"] if "verifix@" in s.get("uses", "")]
    inputs = ACTION["inputs"]
    assert set(step["with"]) <= set(inputs)
    required = {
        name for name, spec in inputs.items() if spec.get("required") and "default" not in spec
    }
    assert required <= set(step["with"])
    # The key the workflow hands over from a secret is one the action checks for.
    assert set(step["with"]["api-key-names"].split(",")) <= set(step["env"])


def test_the_workflow_asks_for_the_least_permissions():
    assert WORKFLOW["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
    }
    triggers = WORKFLOW[True] if True in WORKFLOW else WORKFLOW["on"]  # YAML 1.1 reads on: as True
    assert triggers == {"issues": {"types": ["labeled"]}, "issue_comment": {"types": ["created"]}}


def test_every_flag_the_action_uses_exists():
    calls = [c for step in ACTION["runs"]["steps"] for c in _verifix_calls(step.get("run", ""))]
    subcommands = {tuple(c[1:3]) if c[1] == "github" else (c[1],) for c in calls}
    assert subcommands == {("github", "can-trigger"), ("fix",)}
    for call in calls:
        sub = call[1:3] if call[1] == "github" else call[1:2]
        help_text = verifix(*sub, "--help").out
        for flag in (w for w in call if w.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), f"{sub} has no {flag}"


def test_the_action_outputs_are_what_the_cli_writes():
    values = {name: spec["value"] for name, spec in ACTION["outputs"].items()}
    assert values == {
        "verdict": "${{ steps.fix.outputs.verdict }}",
        "pr-url": "${{ steps.fix.outputs.pr-url }}",
        "cost": "${{ steps.fix.outputs.cost }}",
    }
    fix_step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "fix")
    assert '--outputs "$GITHUB_OUTPUT"' in fix_step["run"]


def test_the_token_and_the_event_reach_verifix_in_the_environment_only():
    steps = ACTION["runs"]["steps"]
    fix_step = next(s for s in steps if s.get("id") == "fix")
    # The event that started the run is what verifix reads the issue as of (not the step's
    # start), so the step names it explicitly.
    assert fix_step["env"]["GITHUB_EVENT_PATH"] == "${{ github.event_path }}"
    for step in steps:
        assert "github-token" not in step.get("run", "") and "GITHUB_TOKEN" not in step.get(
            "run", ""
        ), f"{step.get('name')} puts the token on a command line"
    takers = [s for s in steps if "inputs.github-token" in str(s.get("env", {}))]
    assert {s.get("name") for s in takers} == {"Check who asked", "Fix the issue"}
