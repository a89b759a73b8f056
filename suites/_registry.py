"""inspect_ai entry point: one import line per @task, so suites are found by name (`inspect eval k2bench/aime2024`)."""

from suites.aime.aime2024 import aime2024  # noqa: F401
from suites.aime.aime2025 import aime2025  # noqa: F401
from suites.gpqa_diamond.gpqa_diamond import gpqa_diamond  # noqa: F401
from suites.hle.hle import hle  # noqa: F401
from suites.hmmt_feb2025.hmmt_feb2025 import hmmt_feb2025  # noqa: F401
from suites.livecodebench_v5.livecodebench_v5 import livecodebench_v5  # noqa: F401
from suites.math500.math500 import math500  # noqa: F401
from suites.omni_math_hard.omni_math_hard import omni_math_hard  # noqa: F401
from suites.scicode.scicode import scicode  # noqa: F401
