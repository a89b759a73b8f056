"""Every command in README.md, systems/, training/, suites/ and suites/grading/ README.md, run as written (issue 16).

The fenced ```bash blocks of each README are split into commands (backslash continuations joined) and run in
order, one bash session per block, in a fresh copy of the checkout (tracked and untracked files; .venv linked),
so a chain such as training's SFT -> GRPO -> held-out evaluation runs exactly as a reader would run it.

Small sizes, visibly and in one place (SMALL): the documented variables INSPECT_EVAL_LIMIT / _EPOCHS /
_MAX_TOKENS (read by `inspect eval` and `python -m systems.run`) and K2BENCH_TRAIN_MAX_STEPS (training recipes)
are set, and explicit size flags in a command (--limit, --epochs, -T epochs=, --max-tokens, -M max_tokens_cap=,
--max_steps) are lowered to the same caps; nothing else in a command changes. Each rewritten command is
printed. A few commands cannot run on this machine or in a test; NOT_RUN_HERE names each with the reason and
where it is run instead, and a stale entry (matching no command) fails the test.

    pytest tests/test_readme_commands.py -s          # slow: ~15 min on 2 cores (a vLLM server, training)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = ("README.md", "systems/README.md", "training/README.md", "suites/README.md", "suites/grading/README.md")

# the caps: environment variables the READMEs document, and the flags they bound
SMALL_ENV = {
    "INSPECT_EVAL_LIMIT": "1",
    "INSPECT_EVAL_EPOCHS": "1",
    "INSPECT_EVAL_MAX_TOKENS": "16",
    "K2BENCH_TRAIN_MAX_STEPS": "2",
}
SMALL = {  # flag pattern (value in group 2) -> cap
    r"(--limit[ =])(\d+)": 1,
    r"(--epochs[ =])(\d+)": 1,
    r"(-T epochs=)(\d+)": 1,
    r"(--max-tokens[ =])(\d+)": 16,
    r"(-M max_tokens_cap=)(\d+)": 16,
    r"(--max_steps[ =])(\d+)": 2,
}
# substring of a command -> why it is not run here, and what runs it instead
NOT_RUN_HERE = {
    "bash scripts/bootstrap.sh": "CI's first step (.ci/run runs it verbatim; test_ci_runs_the_quick_start checks)",
    "bash scripts/test.sh": "CI's second step, which runs this very test (.ci/run)",
    "pip install .": "tests/test_install.py installs the package into a throwaway venv (here it would replace "
    "the shared environment's editable install)",
    "--model vllm/LLM360/K2-Think": "needs GPUs and the 32B weights",
    "openai-api/together/": "needs network access and a Together API key",
    "$OUT": "a command for the lent GPU machine (the device tool gives it $OUT; these install the wheels carried "
    "there and launch multi-GPU runs); tests/training/test_distributed.py runs scaleout.py's CPU path",
    "accelerate launch": "needs GPUs, DeepSpeed and Qwen2.5-32B; the recipe itself is validated by "
    "`python -m training.configs training/recipes/*/*/config_*.yaml` below",
}


def bash_blocks(readme: Path) -> list[list[str]]:
    """The commands of each ```bash block: continuation lines joined, comment-only lines dropped."""
    blocks = re.findall(r"^```bash\n(.*?)^```", readme.read_text(), flags=re.MULTILINE | re.DOTALL)
    out = []
    for block in blocks:
        commands, current = [], ""
        for line in block.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            current += line.rstrip()
            if current.endswith("\\"):
                current = current[:-1] + " "
                continue
            commands.append(re.sub(r"\s+", " ", current).strip())
            current = ""
        out.append(commands)
    return out


def small(command: str) -> str:
    for pattern, cap in SMALL.items():
        command = re.sub(pattern, lambda m, cap=cap: m.group(1) + str(min(int(m.group(2)), cap)), command)
    return command


def not_run_reason(command: str) -> str | None:
    return next((why for key, why in NOT_RUN_HERE.items() if key in command), None)


ALL_BLOCKS = [(readme, i, cmds) for readme in READMES for i, cmds in enumerate(bash_blocks(ROOT / readme))]


def test_every_exclusion_is_current() -> None:
    commands = [c for _, _, cmds in ALL_BLOCKS for c in cmds]
    assert len(commands) >= 15
    for key in NOT_RUN_HERE:
        assert any(key in c for c in commands), f"NOT_RUN_HERE entry {key!r} matches no README command"


def test_ci_runs_the_quick_start() -> None:
    """README's two quick-start commands are what CI runs, verbatim and in that order."""
    ci = (ROOT / ".ci/run").read_text().splitlines()
    (first,) = [cmds for readme, i, cmds in ALL_BLOCKS if readme == "README.md" and i == 0]
    quick = [c.split("#")[0].strip() for c in first]
    assert quick == ["bash scripts/bootstrap.sh", "bash scripts/test.sh"]
    assert [line for line in ci if line.startswith("bash scripts/")] == quick


def test_environment_has_the_k2bench_entry_point() -> None:
    """`inspect eval k2bench/...` (README) needs the installed metadata of this checkout's pyproject."""
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="inspect_ai")}
    assert names.get("k2bench") == "k2bench._registry", (
        f"this environment's k2bench entry points are stale ({names}): run `pip install -e .` (scripts/bootstrap.sh does)"
    )


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree (what a fresh clone holds, plus uncommitted files) with .venv and .env."""
    dest = tmp_path_factory.mktemp("checkout")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    for venv in (".venv", ".venv-vllm"):
        if (ROOT / venv).exists():
            (dest / venv).symlink_to((ROOT / venv).resolve())
    return dest


@pytest.mark.slow
@pytest.mark.parametrize(
    "readme, index", [(readme, i) for readme, i, _ in ALL_BLOCKS], ids=[f"{r}#{i}" for r, i, _ in ALL_BLOCKS]
)
def test_readme_block_runs(readme: str, index: int, checkout: Path, data_dir: Path) -> None:
    commands = bash_blocks(checkout / readme)[index]
    script, ran = ["set -euo pipefail"], []
    for command in commands:
        reason = not_run_reason(command)
        if reason:
            print(f"[{readme}] NOT RUN HERE: {command}\n    because: {reason}")
            continue
        sized = small(command)
        print(f"[{readme}] RUN: {sized}" + ("" if sized == command else f"\n    (as written: {command})"))
        script.append(f"echo {shlex.quote('+ ' + sized)} >&2")
        script.append(sized)
        ran.append(sized)
    if not ran:
        return
    bin_dir = str(Path(sys.executable).parent)  # the environment under test: `inspect`, `python`, `accelerate`
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSPECT_EVAL_")},
        **SMALL_ENV,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(checkout),  # the copy's code, not an installed one
        "K2BENCH_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=checkout, env=env, capture_output=True, text=True, timeout=1500
    )
    print(proc.stdout[-4000:], proc.stderr[-4000:])
    assert proc.returncode == 0, f"{readme} block {index} failed:\n{proc.stderr[-6000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-6000:]
