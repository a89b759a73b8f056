"""lm-eval tasks over k2bench's own samples (see utils.py); RECORDS collects per-document results in memory.

lm-eval imports utils.py from its file path as its own module; utils.py appends to this package's RECORDS so
that an in-process caller (benchmarks/lm_eval_crosscheck.py) sees the same list.
"""

RECORDS: list[dict] = []
