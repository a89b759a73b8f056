"""Regenerate every table, plot and the leaderboard from results/ alone (what `tox -e reproduce-tables` runs).

Reads results/reported.yaml and the inspect logs under results/logs/committed/, writes results/index.csv,
results/tables/*.{md,csv,tex}, results/plots/*.png, results/leaderboard.{md,html}. Deterministic: a second
run rewrites nothing. Nothing that runs evals imports this package.

    python -m analysis                                   # from the repo root
    python -m analysis --logs results/logs --out /tmp/x  # every log, including uncommitted ones, elsewhere
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import leaderboard, plots, tables
from analysis.render import Table, to_csv, write_table, write_text
from analysis.runs import index_records
from analysis.summary import COMMITTED_LOGS, summarize


def reproduce(results_dir: Path, logs_dir: Path | None = None, out_dir: Path | None = None) -> list[Path]:
    """Compute the summary once and write every generated file under out_dir (default: results_dir)."""
    if not (results_dir / "reported.yaml").is_file():
        raise FileNotFoundError(f"{results_dir / 'reported.yaml'} not found: run from the repo root or pass --results")
    out_dir = out_dir or results_dir
    summary = summarize(results_dir, logs_dir)
    written: list[Path] = []
    index = Table("index", "every log found", [], [], index_records(summary))
    write_text(out_dir / "index.csv", to_csv(index))
    written.append(out_dir / "index.csv")
    for table in tables.all_tables(summary):
        written += write_table(table, out_dir / "tables")
    written += plots.all_plots(summary, out_dir / "plots")
    written += leaderboard.write(summary, out_dir)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="results dir (reported.yaml inside)")
    parser.add_argument("--logs", type=Path, default=None, help=f"logs dir (default: <results>/{COMMITTED_LOGS})")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: the results dir)")
    args = parser.parse_args(argv)
    written = reproduce(args.results, args.logs, args.out)
    for path in written:
        print(path)
    print(f"{len(written)} generated files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
