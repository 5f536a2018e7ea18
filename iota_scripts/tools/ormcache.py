"""Odoo's ``ormcache``, minus the signature binding on every call.

``odoo.tools.ormcache`` wraps a method with the ``decorator`` package (5.1,
Odoo's pin), whose wrapper binds each call's arguments to the method's
signature (``inspect.Signature.bind``); the registry's ``LRU`` then takes its
lock through another such wrapper. A cache hit cost 13 to 25 µs on a 2-core
machine (about 3 µs through this module), and a run asks about twenty.

:class:`ormcache` is the same cache behind a plain wrapper: the registry's
LRU, the same keys, the same ``__cache__`` attribute, cleared by
``registry.clear_cache()`` like any other; a hit reads the LRU under its own
lock. :func:`cached_call` calls an ormcached method of Odoo's
(``ir.config_parameter._get_param``) the same way. A miss, or an LRU of
another shape, takes Odoo's own lookup.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from odoo import tools
from odoo.tools.lru import LRU

__all__ = ["cached_call", "ormcache"]


class ormcache(tools.ormcache):
    """``@ormcache("arg", ...)`` as ``tools.ormcache``, for methods without defaults.

    The cache key is made from the call's arguments as given: without the
    binding, a default value would not reach the key. A method with
    defaults, ``*args`` or ``**kwargs`` is refused where it is declared.
    """

    def __call__(self, method: Callable[..., Any]) -> Callable[..., Any]:
        for param in inspect.signature(method).parameters.values():
            if param.default is not param.empty or param.kind in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                raise TypeError(
                    f"iota_scripts ormcache: {method.__qualname__} has a default or a "
                    "variadic parameter; use odoo.tools.ormcache"
                )
        self.method = method
        self.determine_key()

        @functools.wraps(method)
        def cached(*args: Any, **kwargs: Any) -> Any:
            return _lookup(self, method, args, kwargs)

        cached.__cache__ = self  # type: ignore[attr-defined]
        return cached


def cached_call(model: Any, name: str, *args: Any) -> Any:
    """``getattr(model, name)(*args)`` for an ormcached method, through its cache.

    Only where the method the model resolves is the ormcache wrapper itself
    (``__wrapped__`` is the cached function): an override stacked on top of
    it without a cache of its own is called as usual, so it is never skipped.
    """
    method = getattr(type(model), name)
    cache = getattr(method, "__cache__", None)
    if cache is None or getattr(method, "__wrapped__", None) is not cache.method:
        return getattr(model, name)(*args)
    return _lookup(cache, cache.method, (model, *args), {})


def _lookup(cache: Any, method: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Any:
    """``cache.lookup(method, *args, **kwargs)``, a hit read without its wrappers."""
    d, key0, counter = cache.lru(args[0])
    if type(d) is LRU:
        try:
            key = key0 + cache.key(*args, **kwargs)
            # what LRU.__getitem__ does, under the same lock
            with d._lock:
                value = d.d[key]
                d.d.move_to_end(key, last=False)
        except (KeyError, TypeError):  # a miss, or a key Odoo's lookup reports
            pass
        else:
            counter.hit += 1
            return value
    return cache.lookup(method, *args, **kwargs)
