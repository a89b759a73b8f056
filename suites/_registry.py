"""inspect_ai entry point: one import line per @task, so suites are found by name (`inspect eval k2bench/aime2024`)."""

from suites.aime.aime2024 import aime2024  # noqa: F401
from suites.aime.aime2025 import aime2025  # noqa: F401
