"""The probe's rule, checked on its bytecode: every name its functions use after the cells ran is
bound when the runner loads it (before any student code) or is a builtin of its private copy.

A function that looks a module's attribute up at call time (`np.asarray(...)`, `os.path.join(...)`)
or imports at call time uses whatever the notebook left there: patching numpy or `sys.modules`
would change what the probe sees or writes. Red team (runtime reshape): checked by hand then for
every function moved out of the old probe.py; this test keeps it so for the next one.
"""

from __future__ import annotations

import dis
import types
from collections.abc import Iterator

from tests.unit.private_runtime import runtime

# Imports at call time that are known and documented: the BOnA handler builds model_A with the
# notebook's keras (README, known limits: the notebook can forge whether model_A changed).
CALL_TIME_IMPORTS = {("a03_calls", "keras")}


def functions(module: types.ModuleType) -> Iterator[tuple[str, types.FunctionType]]:
    """The module's own functions and the methods of its own classes."""
    for name, value in vars(module).items():
        if isinstance(value, types.FunctionType) and value.__globals__ is vars(module):
            yield name, value
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for attr, member in vars(value).items():
                member = getattr(member, "__func__", member)
                if isinstance(member, types.FunctionType) and member.__globals__ is vars(module):
                    yield f"{name}.{attr}", member


def codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from codes(const)


def late_lookups(modules: dict[str, types.ModuleType]) -> list[str]:
    found = []
    for short, module in modules.items():
        for qualname, fn in functions(module):
            for code in codes(fn.__code__):
                for ins in dis.get_instructions(code):
                    if ins.opname == "LOAD_GLOBAL" and isinstance(vars(module).get(ins.argval), types.ModuleType):
                        found.append(f"{short}.{qualname}: the module `{ins.argval}` at call time")
                    elif ins.opname == "IMPORT_NAME" and (short, ins.argval) not in CALL_TIME_IMPORTS:
                        found.append(f"{short}.{qualname}: imports `{ins.argval}` at call time")
    return found


def test_no_function_of_the_probe_looks_a_module_up_at_call_time():
    modules = runtime()
    assert {"wire", "safe", "handlers", "npz", "probe", "a03_calls"} <= set(modules)
    assert late_lookups(modules) == []


def test_the_check_sees_a_late_lookup():
    """A stand-in module as the runner would load it, with one function of each kind."""
    module = types.ModuleType("_grader_standin")
    exec(
        compile(
            "import os\nimport numpy as np\n_asarray = np.asarray\n"  # noqa: S102 - a fixed text
            "def bound(x):\n    return _asarray(x)\n"
            "def late(x):\n    return np.asarray(x)\n"
            "def imports():\n    import json\n    return json\n",
            "standin",
            "exec",
        ),
        vars(module),
    )
    assert late_lookups({"standin": module}) == [
        "standin.late: the module `np` at call time",
        "standin.imports: imports `json` at call time",
    ]
