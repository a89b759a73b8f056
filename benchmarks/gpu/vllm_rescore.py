"""Score HERE the code-suite logs that the H200 generated without scoring (benchmarks/gpu/systems_run_noscore.py).

The device has no bwrap sandbox, so LiveCodeBench's programs are run here: each log's task is rebuilt exactly as
systems.run builds it (the suite's @task with the log's epochs, the system from the log's `system_id`, through
systems.compose.apply_system), and inspect's own `score` runs that task's scorers (the suite's code scorer, the
accounting scorer, the equal-budget scorer for best-of-N) on every sample; the scored log is written to --out
under the same file name. Logs that already have results are refused (scoring twice would hide a mistake).

    python -m benchmarks.gpu.vllm_rescore /tmp/h200/logs/plain1/livecodebench_v5/*.eval --out /tmp/h200/scored
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.gpu.vllm_rescore ...")


def rebuild_task(log) -> object:
    """The task systems.run ran: suite factory by name (its registry name is the part before `--`), system by id."""
    from systems.compose import TASK_NAME_SEPARATOR, apply_system, load_system
    from systems.run import make_task, suite_tasks

    meta = log.eval.metadata or {}
    suite_task = log.eval.task.split("/")[-1].split(TASK_NAME_SEPARATOR)[0]
    factory = suite_tasks(suite_task)[0]
    task, _ = make_task(factory, log.eval.config.epochs)
    return apply_system(task, load_system(meta.get("system_id", "plain")))


def rescore(path: Path, out: Path) -> dict[str, object]:
    from inspect_ai import score
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(path))
    if log.results is not None and log.results.scores:
        raise SystemExit(f"{path.name}: already scored ({[s.name for s in log.results.scores]}); refusing")
    if log.status != "success":
        raise SystemExit(f"{path.name}: status {log.status}; only finished generations are scored")
    task = rebuild_task(log)
    scored = score(log, scorers=list(task.scorer), action="overwrite", display="none")
    out.mkdir(parents=True, exist_ok=True)
    target = out / path.name
    write_eval_log(scored, str(target))
    statuses: dict[str, int] = {}
    for sample in scored.samples or []:
        for value in (sample.scores or {}).values():
            status = (value.metadata or {}).get("status")
            if status:
                statuses[status] = statuses.get(status, 0) + 1
                break
    return {"log": target.name, "samples": len(scored.samples or []), "statuses": statuses,
            "metrics": {s.name: {k: m.value for k, m in s.metrics.items()} for s in scored.results.scores}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    for path in args.logs:
        print(rescore(path, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
