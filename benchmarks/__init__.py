"""k2bench's performance benchmarks (issues 8, 17): a package, run from the repository root as modules.

    python -m benchmarks.run_all --render-only          # every table and plot under results/perf/ from its JSON
    python -m benchmarks.harness_bench --help            # one benchmark

benchmarks/README.md lists them; benchmarks/gpu/ holds the scripts that run on the GPU machine (by path there).
"""
