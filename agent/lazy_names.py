"""A package's public names, each imported from its module the first time it is used.

The two foundation packages (`agent.config`, `agent.journal`) re-export their public names, but
most commands need only a few of them: importing every module up front would load pydantic for
`candor journal show` and SQLite for `candor rules test`. A package lists where each name lives
and gets its module `__getattr__` and `__dir__` from here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, exported_from: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names live where `exported_from`
    says (a name equal to its module's last part is the submodule itself)."""
    namespace = sys.modules[package].__dict__

    def getattr_(name: str) -> Any:
        where = exported_from.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        __import__(where)  # the import statement's path, so `python -X importtime` lists it
        module = sys.modules[where]
        value = module if where == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *exported_from})

    return getattr_, dir_
