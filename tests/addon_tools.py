"""Load an Odoo-free module of the addon's ``tools`` folder without importing Odoo.

Importing ``iota_scripts.tools.x`` would run ``iota_scripts/__init__.py``, which
imports Odoo. :func:`load` imports ``x`` as part of a stand-in package holding
only the ``tools`` folder, so its relative imports of sibling tools still work.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "iota_scripts" / "tools"
_PACKAGE = "_iota_tools_alone"


def load(name: str) -> types.ModuleType:
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE)
        package.__path__ = [str(TOOLS)]
        sys.modules[_PACKAGE] = package
    return importlib.import_module(f"{_PACKAGE}.{name}")
