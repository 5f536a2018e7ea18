"""Build step of the engine's wheel: it carries the third-party JavaScript it loads.

pyproject.toml holds the project's metadata; this file only adds a step to
``build_py``: each file of ``iota_scripts_sdk/third_party.json`` (acorn) is
copied into the build from ``node_modules`` (installed by ``npm ci``), or
from the copy ``scripts/place-js-deps`` already placed in the source tree,
after checking its sha256. Without either the build stops and names the
fix. So ``pip install`` of the wheel needs no npm at run time. Editable
installs skip the step: they load the files placed in the source tree.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGE = "iota_scripts_sdk"


class BuildPyWithThirdParty(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        manifest = json.loads((HERE / PACKAGE / "third_party.json").read_text())
        for package, spec in manifest["packages"].items():
            for f in spec["files"]:
                candidates = (
                    HERE / "node_modules" / package / f["from"],
                    HERE / PACKAGE / f["to"],
                )
                src = next(
                    (
                        p
                        for p in candidates
                        if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
                    ),
                    None,
                )
                if src is None:
                    raise SystemExit(
                        f"error: {package} {spec['version']} ({f['from']}) is not installed or "
                        "differs from package-lock.json: run `npm ci` in this folder, then build again"
                    )
                dst = Path(self.build_lib) / PACKAGE / f["to"]
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildPyWithThirdParty})
