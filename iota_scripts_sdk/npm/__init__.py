"""npm packages in scripts: resolution, integrity, scanning, bundling, loading.

Public surface::

    from iota_scripts_sdk.npm import Registry, prepare, Module

* :class:`Registry` (``registry.py``): a name and a range to an exact version
  and its dependency tree, with every tarball's sha512 integrity;
* :func:`prepare` (``scan.py``): fetch, check, unpack, scan, bundle with
  esbuild (``bundler.py``), for an administrator's approval;
* :class:`Module` (``module.py``): an approved bundle as ``Engine.run`` takes
  it, refused with ``integrity_error`` when it does not match its hash.

Only approvals touch the network; runs load modules from the caller's store.
"""

from __future__ import annotations

from .bundler import BUILTINS, esbuild_path
from .module import Module, bundle_hash, valid_specifier
from .registry import DEFAULT_REGISTRY, LockedPackage, Registry, Resolution
from .scan import Prepared, prepare

__all__ = [
    "BUILTINS",
    "DEFAULT_REGISTRY",
    "LockedPackage",
    "Module",
    "Prepared",
    "Registry",
    "Resolution",
    "bundle_hash",
    "esbuild_path",
    "prepare",
    "valid_specifier",
]
