"""IOTA Scripts engine: JavaScript in sandboxed V8 runner processes.

Pure Python, no Odoo import. Nothing heavy happens at import time: runner
processes start on the first run, in the process that makes it.

Public surface::

    from iota_scripts_sdk import Engine, EngineConfig, Limits, RunResult, ScriptError
    from iota_scripts_sdk import EngineObserver  # metrics: runners and sdk calls
    from iota_scripts_sdk import Journal, ReplayHost  # record a run's sdk calls, replay it
    from iota_scripts_sdk import placed_file_state  # a placed third-party file vs its sha256
"""

from __future__ import annotations

from ._vendor import placed_file_state
from .api import API_VERSION, typescript
from .breakpoints import Breakpoint
from .engine import Engine, HostFunction, RunResult, get_engine
from .errors import CODES, ScriptError
from .journal import Journal, ReplayHost
from .limits import EngineConfig, Limits
from .observer import EngineObserver
from .policy import PolicyRule, PolicyViolation

__all__ = [
    "API_VERSION",
    "CODES",
    "Breakpoint",
    "Engine",
    "EngineConfig",
    "EngineObserver",
    "HostFunction",
    "Journal",
    "Limits",
    "PolicyRule",
    "PolicyViolation",
    "ReplayHost",
    "RunResult",
    "ScriptError",
    "get_engine",
    "placed_file_state",
    "typescript",
]

__version__ = "0.1.0"
