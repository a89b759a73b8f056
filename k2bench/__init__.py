"""k2bench as an installed inspect package: its suites are tasks named `k2bench/<suite>` (k2bench/_registry.py).

    pip install .            # or pip install -e .
    inspect eval k2bench/aime2025 --limit 1          # from any directory; the embedded model answers by default

See k2bench/_registry.py for how the namespace and the default model work.
"""

DEFAULT_MODEL = "k2bench/smollm2-135m-instruct"  # models/embedded.py, the model `.env` names in the checkout
