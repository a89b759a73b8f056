"""SciCode's numeric targets: test_data.h5 groups -> a JSON tree on the host -> Python values in the sandbox.

On the host (trusted, h5py): `read_targets(h5, "77.1", 3)` turns each test group `77.1/test{i}` into a
tree of {"group": [[name, node], ...]} / {"dataset": value} nodes, in h5py's key order; values keep their
exact dtype and shape (floats as JSON numbers round-trip exactly; NaN/inf included; bytes as base64).
In the sandbox, HARNESS_DECODE rebuilds numpy values and applies the rules of upstream's
`scicode.parse.parse.process_hdf5_to_tuple` (one variable -> the value, several -> a tuple, a "list" group ->
a list, a "sparse_matrix" group -> a scipy sparse matrix, other groups -> dicts with float keys where a key
parses as a float, byte strings decoded where upstream decodes them). `h5_tree_of` builds the same tree
from Python values, for writing synthetic data in tests without a file.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from suites._data import DataError


def encode_value(value: Any) -> dict[str, Any]:
    """One h5py dataset value (numpy scalar/array, bytes, str, Python number) -> JSON-able tagged dict."""
    import numpy as np

    if isinstance(value, bytes):  # also numpy.bytes_
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, np.ndarray):
        kind, head = value.dtype.kind, {"array": value.dtype.str, "shape": list(value.shape)}
        flat = value.ravel()
        if kind in "biuf":
            return {**head, "data": flat.tolist()}
        if kind == "c":
            return {**head, "re": flat.real.tolist(), "im": flat.imag.tolist()}
        if kind == "S":
            return {**head, "b64": [base64.b64encode(bytes(x)).decode("ascii") for x in flat]}
        if kind == "U":
            return {**head, "data": [str(x) for x in flat]}
        if kind == "O":
            return {"objects": list(value.shape), "items": [encode_value(x) for x in flat]}
        raise DataError(f"unsupported array dtype {value.dtype} in SciCode test data")
    if isinstance(value, np.generic):
        head = {"scalar": value.dtype.str}
        if value.dtype.kind == "c":
            return {**head, "re": float(value.real), "im": float(value.imag)}
        return {**head, "data": value.item()}
    if isinstance(value, bool | int | float):
        return {"py": value}
    if isinstance(value, complex):
        return {"pycomplex": [value.real, value.imag]}
    raise DataError(f"unsupported value {type(value).__name__} in SciCode test data")


def _node(obj: Any, h5py: Any) -> dict[str, Any]:
    if isinstance(obj, h5py.Group):
        return {"group": [[name, _node(obj[name], h5py)] for name in obj.keys()]}
    return {"dataset": encode_value(obj[()])}


def read_targets(h5_path: str | Path, step_number: str, n_tests: int) -> list[dict[str, Any]]:
    """The JSON trees of tests 1..n_tests of one step (raises DataError naming what is missing)."""
    import h5py

    trees = []
    with h5py.File(h5_path, "r") as f:
        for i in range(1, n_tests + 1):
            key = f"{step_number}/test{i}"
            if key not in f or not isinstance(f[key], h5py.Group):
                raise DataError(f"{h5_path}: group {key} is missing (is this SciCode's test_data.h5?)")
            trees.append(_node(f[key], h5py))
    return trees


def missing_steps(h5_path: str | Path, steps: list[tuple[str, int]]) -> list[str]:
    """Which of (step_number, n_tests) have no complete set of test groups in the file."""
    import h5py

    with h5py.File(h5_path, "r") as f:
        return [s for s, n in steps if not all(f"{s}/test{i}" in f for i in range(1, n + 1))]


def h5_tree_of(node: Any) -> dict[str, Any]:
    """A tree from plain Python: a dict is a group (names in h5py's sorted order), anything else a dataset."""
    if isinstance(node, dict):
        return {"group": [[str(k), h5_tree_of(node[k])] for k in sorted(node, key=str)]}
    return {"dataset": encode_value(node)}


# Runs inside the sandbox, before the model's code: reads the JSON trees from stdin and defines
# _k2b_targets (a list, one value per test) and _k2b_ok(i). numpy/scipy come from Debian's dist-packages.
HARNESS_DECODE = r'''
import base64 as _k2b_b64, json as _k2b_json, os as _k2b_os, sys as _k2b_sys, types as _k2b_types


def _k2b_value(v):
    import numpy as np
    if "bytes" in v:
        return _k2b_b64.b64decode(v["bytes"])
    if "str" in v:
        return v["str"]
    if "py" in v:
        return v["py"]
    if "pycomplex" in v:
        return complex(*v["pycomplex"])
    if "objects" in v:
        out = np.empty(len(v["items"]), dtype=object)
        out[:] = [_k2b_value(x) for x in v["items"]]
        return out.reshape(v["objects"])
    dt = np.dtype(v["array"] if "array" in v else v["scalar"])
    if "re" in v:
        a = np.empty(len(v["re"]) if "array" in v else 1, dtype=dt)
        a.real, a.imag = v["re"], v["im"]
    elif "b64" in v:
        a = np.array([_k2b_b64.b64decode(x) for x in v["b64"]], dtype=dt)
    else:
        a = np.array(v["data"] if "array" in v else [v["data"]], dtype=dt)
    return a.reshape(v["shape"]) if "array" in v else a[0]


class _K2bDataset:
    def __init__(self, value):
        self._value = value

    def __getitem__(self, key):
        if key != ():
            raise TypeError("only [()] reads a dataset here")
        return self._value


class _K2bGroup:
    def __init__(self, pairs):
        self._items = dict(pairs)

    def keys(self):
        return list(self._items)

    def items(self):
        return list(self._items.items())

    def __contains__(self, key):
        return key in self._items

    def __getitem__(self, key):
        if key == ():
            raise TypeError("a group has no value")
        return self._items[key]


def _k2b_tree(node):
    if "group" in node:
        return _K2bGroup((name, _k2b_tree(child)) for name, child in node["group"])
    return _K2bDataset(_k2b_value(node["dataset"]))


def _k2b_sparse(group):
    import scipy.sparse
    data, shape = group["data"][()], tuple(group["shape"][()])
    if "row" in group and "col" in group:
        return scipy.sparse.coo_matrix((data, (group["row"][()], group["col"][()])), shape=shape)
    if "blocksize" in group:
        parts = (data, group["indices"][()], group["indptr"][()])
        return scipy.sparse.bsr_matrix(parts, shape=shape, blocksize=tuple(group["blocksize"][()]))
    return scipy.sparse.csr_matrix((data, group["indices"][()], group["indptr"][()]), shape=shape)


def _k2b_dict(group):
    out = {}
    for key, obj in group.items():
        if isinstance(obj, _K2bGroup):
            out[key] = _k2b_sparse(obj["sparse_matrix"])
        elif isinstance(obj[()], bytes):
            out[key] = obj[()].decode("utf-8", errors="strict")
        else:
            try:
                out[float(key)] = obj[()]
            except ValueError:
                out[key] = obj[()]
    return out


def _k2b_datagroup(group):
    for key in group.keys():  # upstream decides on the first key
        if key == "list":
            return [group["list"][k][()] for k in group["list"].keys()]
        if key == "sparse_matrix":
            return _k2b_sparse(group[key])
        return _k2b_dict(group)
    return None


def _k2b_var(obj):
    if isinstance(obj, _K2bGroup):
        return _k2b_datagroup(obj)
    value = obj[()]
    return value.decode("utf-8", errors="strict") if isinstance(value, bytes) else value


def _k2b_test(group):
    names = group.keys()
    if len(names) == 1:
        return _k2b_var(group[names[0]])
    return tuple(_k2b_var(group[name]) for name in names)


_k2b_targets = [_k2b_test(_k2b_tree(t)) for t in _k2b_json.loads(_k2b_sys.stdin.read())]
_k2b_out = _k2b_os.fdopen(_k2b_os.dup(1), "w")  # the verdict channel; the program's own prints are dropped
_k2b_sys.stdout = open(_k2b_os.devnull, "w")


def _k2b_ok(i):
    _k2b_out.write("scicode test %d passed\n" % i)
    _k2b_out.flush()
    _k2b_sys.stderr.write("[k2bench] scicode test %d passed\n" % i)
'''
# upstream's comparison helpers as the module scicode.compare.cmp, for the test cases that import them
HARNESS_CMP = r'''
def _k2b_install_cmp(source):
    package, compare = _k2b_types.ModuleType("scicode"), _k2b_types.ModuleType("scicode.compare")
    package.__path__, compare.__path__ = [], []
    module = _k2b_types.ModuleType("scicode.compare.cmp")
    exec(compile(source, "scicode/compare/cmp.py", "exec"), module.__dict__)
    package.compare, compare.cmp = compare, module
    _k2b_sys.modules.update({"scicode": package, "scicode.compare": compare, "scicode.compare.cmp": module})
'''
