"""LiveCodeBench test cases: the hub's encoding decoded safely, and sample cases parsed from problem statements.

Hub format (HF `livecodebench/code_generation_lite`, read by LiveCodeBench/LiveCodeBench
`lcb_runner/benchmarks/code_generation.py`): `public_test_cases` is a JSON list of
`{"input", "output", "testtype": "stdin"|"functional"}`; `private_test_cases` is the same JSON list, either
plain or as base64 of zlib-compressed *pickle* of that JSON string. The official loader calls
`pickle.loads`, which would execute any code a tampered file carries. Here the pickle goes through an
Unpickler whose `find_class` refuses every global, so only plain data (the one `str` it should hold) can be
built; anything else is a DataError. `metadata` is a JSON string with `func_name` for LeetCode problems.

Statement samples (the offline fallback, see README "Deviations"): AtCoder statements carry
"Sample Input k / Sample Output k" blocks, LeetCode statements "Example k: Input: a = 1, b = [2] /
Output: 3" lines. They are parsed into the same test format (functional inputs: one JSON value per line,
in the order of the starter code's parameters). Examples that do not parse are dropped and counted.

Pure Python; no inspect. `tests_fingerprint` reproduces the md5 the offline mirror records per problem
(shared/data/livecodebench_v5/PROVENANCE.md), so full tests obtained later can be checked against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import pickle
import re
import zlib
from typing import Any

from suites._data import DataError

MAX_DECOMPRESSED_BYTES = 1 << 30  # largest decoded private-test payload accepted (a zip bomb stops here)


class _DataOnlyUnpickler(pickle.Unpickler):
    """Builds plain data only: every global lookup (classes, functions: the way pickle runs code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: test data must be a plain string")


def unpickle_data_only(data: bytes) -> Any:
    return _DataOnlyUnpickler(io.BytesIO(data)).load()


def decode_private_tests(raw: str) -> list[dict[str, Any]]:
    """The hub's `private_test_cases` field -> list of test dicts, without executing pickled code."""
    raw = raw.strip()
    if raw.startswith("["):
        return _test_list(json.loads(raw), "private_test_cases (JSON)")
    try:
        blob = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise DataError(f"private_test_cases is neither JSON nor base64: {err}") from err
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(blob, MAX_DECOMPRESSED_BYTES)
    except zlib.error as err:
        raise DataError(f"private_test_cases: not zlib data: {err}") from err
    if inflater.unconsumed_tail:
        raise DataError(f"private_test_cases decompress to more than {MAX_DECOMPRESSED_BYTES} bytes; refused")
    try:
        text = unpickle_data_only(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"private_test_cases: unsafe or malformed pickle: {err}") from err
    if not isinstance(text, str):
        raise DataError(f"private_test_cases: the pickle holds {type(text).__name__}, expected a JSON string")
    return _test_list(json.loads(text), "private_test_cases")


def decode_public_tests(raw: str) -> list[dict[str, Any]]:
    return _test_list(json.loads(raw), "public_test_cases")


def _test_list(obj: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(obj, list) or not all(isinstance(t, dict) and "input" in t and "output" in t for t in obj):
        raise DataError(f"{what}: expected a list of {{input, output, testtype}} objects")
    return obj


def tests_fingerprint(tests: list[dict[str, Any]], fn_name: str | None) -> str:
    """md5 of public+private tests as QwQ's eval/data/process_data.py serialises them (the mirror's tests.md5)."""
    sample = {
        "input_output": json.dumps(
            {"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests], "fn_name": fn_name}
        )
    }
    return hashlib.md5(json.dumps(sample).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------
# Sample cases parsed from statements
# --------------------------------------------------------------------------------------------------------
# the output block is the run of non-blank lines after its header: none at all means an empty expected output
ATCODER_SAMPLE = re.compile(
    r"Sample Input (\d+)[ \t]*\n(.*?)\nSample Output \1[ \t]*\n\n?((?:[^\n]*\S[^\n]*(?:\n|\Z))*)", re.DOTALL
)
LEETCODE_EXAMPLE = re.compile(r"^Input:[ \t]*(.*?)\s*\nOutput:[ \t]*(.*?)[ \t]*$", re.MULTILINE | re.DOTALL)
ARG_NAME = re.compile(r"([A-Za-z_]\w*)\s*=\s*")
SIGNATURE = re.compile(r"def\s+(\w+)\s*\(\s*self\s*,?(.*?)\)\s*(?:->[^:]*)?:", re.DOTALL)


def atcoder_samples(content: str) -> list[dict[str, str]]:
    """Sample Input/Output pairs of an AtCoder statement, as stdin tests."""
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    tests = []
    for m in ATCODER_SAMPLE.finditer(text):
        inp, out = m.group(2).strip("\n"), m.group(3).strip("\n")
        if inp.strip():
            tests.append({"input": inp + "\n", "output": out + "\n" if out else "", "testtype": "stdin"})
    return tests


def starter_signature(starter_code: str) -> tuple[str, list[str]] | None:
    """(method name, parameter names) of the last `def name(self, ...)` in LeetCode starter code."""
    found = SIGNATURE.findall(starter_code)
    if not found:
        return None
    name, params = found[-1]
    names = [p.split(":")[0].split("=")[0].strip() for p in _split_top_level(params, ",")]
    return name, [n for n in names if n and not n.startswith("*")]


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and double-quoted strings."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _leetcode_args(text: str) -> dict[str, Any] | None:
    """`a = 1, b = [2,3]` -> {"a": 1, "b": [2, 3]} (values are JSON), or None if it does not parse."""
    args: dict[str, Any] = {}
    for part in _split_top_level(text.strip(), ","):
        m = ARG_NAME.match(part.strip())
        if not m:
            return None
        try:
            args[m.group(1)] = json.loads(part.strip()[m.end() :])
        except ValueError:
            return None
    return args


def leetcode_samples(content: str, starter_code: str) -> tuple[list[dict[str, str]], int]:
    """Example Input/Output pairs of a LeetCode statement as functional tests, and how many were dropped."""
    signature = starter_signature(starter_code)
    tests, dropped = [], 0
    for m in LEETCODE_EXAMPLE.finditer(content.replace("\r\n", "\n")):
        args = _leetcode_args(m.group(1))
        try:
            expected = json.loads(m.group(2))
        except ValueError:
            expected = None
        if signature is None or args is None or expected is None or sorted(args) != sorted(signature[1]):
            dropped += 1
            continue
        lines = "\n".join(json.dumps(args[name]) for name in signature[1])
        tests.append({"input": lines, "output": json.dumps(expected), "testtype": "functional"})
    return tests, dropped
