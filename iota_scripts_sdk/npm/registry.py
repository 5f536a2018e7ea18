"""The npm registry: a name and a range to exact versions, their tarballs checked.

:class:`Registry` reads the registry's metadata (``GET /<name>``, the
abbreviated form), picks the highest version that satisfies each range (npm's
range syntax, by ``semantic_version.NpmSpec``), and walks the dependencies
(``dependencies`` only: peer and optional dependencies are not installed) into
a lock like ``package-lock.json``: every package with its exact version, its
tarball's ``integrity`` (sha512) and its place under ``node_modules``.

:meth:`Registry.fetch` downloads a tarball and checks it against that
integrity (``integrity_error`` otherwise); :func:`extract` unpacks it, refusing
links, absolute paths and ``..``. Nothing here ever runs a package's code.

Failures are :class:`ScriptError`: ``registry_unavailable`` when the registry
cannot be reached or answers an error, ``not_found`` for an unknown package or
a range that no version satisfies, ``integrity_error`` for a tarball that does
not match. Only administrators' approvals call this: a run never does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ScriptError
from .module import valid_specifier

__all__ = ["DEFAULT_REGISTRY", "LockedPackage", "Registry", "Resolution", "extract"]

DEFAULT_REGISTRY = "https://registry.npmjs.org"
#: At most this many packages in one tree, and this many bytes per tarball.
MAX_PACKAGES = 200
MAX_TARBALL_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 60 * 1024 * 1024


@dataclass(frozen=True)
class LockedPackage:
    """One package of a resolved tree, as a lockfile records it."""

    name: str
    version: str
    integrity: str
    tarball: str
    path: str  # "node_modules/a" or "node_modules/a/node_modules/b"
    license: str = ""
    dependencies: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "integrity": self.integrity,
            "resolved": self.tarball,
            "license": self.license,
            "dependencies": dict(self.dependencies),
        }


@dataclass(frozen=True)
class Resolution:
    """A package resolved with its tree: ``packages[path]``, the root at ``node_modules/<name>``."""

    name: str
    range: str
    packages: dict[str, LockedPackage]

    @property
    def root(self) -> LockedPackage:
        return self.packages[f"node_modules/{self.name}"]

    def lock(self) -> dict[str, Any]:
        """The tree as JSON, in the shape of package-lock.json's ``packages``."""
        return {path: p.to_dict() for path, p in sorted(self.packages.items())}


def _license(meta: dict[str, Any]) -> str:
    lic = meta.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    return str(lic or "")[:100]


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    """``integrity`` is an SRI string; its sha512 (or sha1 for very old packages) must match."""
    for part in integrity.split():
        algo, _, digest = part.partition("-")
        if algo in ("sha512", "sha384", "sha256"):
            got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
            if got == digest:
                return
            raise ScriptError(
                "integrity_error", f"the tarball of {what} does not match its integrity ({algo})"
            )
    raise ScriptError("integrity_error", f"{what} has no sha512 integrity in the registry")


class Registry:
    """An npm registry at ``url``; ``opener`` (tests) replaces urllib's."""

    def __init__(
        self,
        url: str = DEFAULT_REGISTRY,
        *,
        timeout_sec: float = 20.0,
        opener: Callable[[urllib.request.Request, float], Any] | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ScriptError("invalid_argument", "the npm registry's address must be http(s)")
        self.url = url.rstrip("/")
        self.timeout_sec = timeout_sec
        self._open = opener or (lambda req, t: urllib.request.urlopen(req, timeout=t))  # noqa: S310 - http(s) Requests only

    # ---- HTTP -------------------------------------------------------------------
    def _get(self, url: str, *, accept: str = "application/json", limit: int) -> bytes:
        headers = {"Accept": accept, "User-Agent": "iota-scripts"}
        req = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s): self.url checked in __init__, tarballs in fetch()
        try:
            with self._open(req, self.timeout_sec) as resp:
                data = resp.read(limit + 1)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise ScriptError("not_found", "the registry has no such package") from None
            raise ScriptError(
                "registry_unavailable", f"the npm registry answered HTTP {e.code}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise ScriptError(
                "registry_unavailable",
                f"the npm registry at {self.url} cannot be reached ({type(reason).__name__}); "
                "approved packages keep working from the store",
            ) from None
        if len(data) > limit:
            raise ScriptError(
                "package_refused", f"{url.rsplit('/', 1)[-1]} is larger than {limit} bytes"
            )
        return bytes(data)

    def _json(self, url: str, **kw: Any) -> dict[str, Any]:
        try:
            out = json.loads(self._get(url, limit=64 * 1024 * 1024, **kw))
        except ValueError:
            raise ScriptError(
                "registry_unavailable", "the npm registry answered something that is not JSON"
            ) from None
        if not isinstance(out, dict):
            raise ScriptError(
                "registry_unavailable", "the npm registry answered an unexpected document"
            )
        return out

    def _name_url(self, name: str) -> str:
        return f"{self.url}/{urllib.parse.quote(name, safe='@')}"

    def packument(self, name: str) -> dict[str, Any]:
        """The registry's abbreviated metadata of ``name`` (every version, its deps and dist)."""
        if not valid_specifier(name) or name.startswith("lib:"):
            raise ScriptError("invalid_argument", f"{name!r} is not an npm package name")
        try:
            return self._json(
                self._name_url(name),
                accept="application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
            )
        except ScriptError as e:
            if e.code == "not_found":
                raise ScriptError(
                    "not_found", f"the npm registry has no package '{name}'"
                ) from None
            raise

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        """The full metadata of one version (licence, scripts, ...)."""
        return self._json(f"{self._name_url(name)}/{urllib.parse.quote(version)}")

    # ---- resolution ---------------------------------------------------------------
    def pick(self, name: str, range_: str, packument: dict[str, Any]) -> dict[str, Any]:
        """The metadata of the highest version of ``name`` that satisfies ``range_``."""
        import semantic_version as sv  # type: ignore[import-untyped]

        tags = packument.get("dist-tags") or {}
        if range_ in tags:
            range_ = str(tags[range_])
        if range_ in ("", "*", "latest") and "latest" in tags:
            range_ = str(tags["latest"])
        try:
            spec = sv.NpmSpec(range_)
        except ValueError:
            raise ScriptError(
                "invalid_argument", f"{range_!r} is not an npm version range"
            ) from None
        versions = []
        for v in packument.get("versions") or {}:
            try:
                versions.append(sv.Version(v))
            except ValueError:
                continue
        best = spec.select(versions)
        if best is None:
            raise ScriptError("not_found", f"no version of '{name}' satisfies {range_!r}")
        return dict(packument["versions"][str(best)])

    def resolve(self, name: str, range_: str = "latest") -> Resolution:
        """``name`` at the highest version that satisfies ``range_``, with its dependency tree.

        Each dependency is placed at the top of ``node_modules`` unless another
        version of it is already there; then it goes under its dependent, as
        npm does. Raises ``registry_unavailable``, ``not_found``, ``invalid_argument``.
        """
        packuments: dict[str, dict[str, Any]] = {}
        placed: dict[str, LockedPackage] = {}
        todo: list[tuple[str, str, str]] = [(name, range_, "")]
        while todo:
            dep, rng, parent = todo.pop(0)
            top = f"node_modules/{dep}"
            nested = f"{parent}/node_modules/{dep}" if parent else top
            if nested in placed and _satisfies(placed[nested].version, rng):
                continue
            if top in placed and _satisfies(placed[top].version, rng):
                continue
            if dep not in packuments:
                packuments[dep] = self.packument(dep)
            meta = self.pick(dep, rng, packuments[dep])
            path = top if top not in placed else nested
            if path in placed:
                continue  # a cycle through a conflicting version: keep the first
            dist = meta.get("dist") or {}
            deps = {str(k): str(v) for k, v in (meta.get("dependencies") or {}).items()}
            placed[path] = LockedPackage(
                name=dep,
                version=str(meta["version"]),
                integrity=str(dist.get("integrity") or ""),
                tarball=str(dist.get("tarball") or ""),
                path=path,
                license=_license(meta),
                dependencies=deps,
            )
            if len(placed) > MAX_PACKAGES:
                raise ScriptError(
                    "package_refused", f"'{name}' needs more than {MAX_PACKAGES} packages"
                )
            todo.extend((d, r, path) for d, r in sorted(deps.items()))
        return Resolution(name, range_, placed)

    def fetch(self, package: LockedPackage) -> bytes:
        """The package's tarball, checked against its integrity."""
        if not package.tarball.startswith(("https://", "http://")):
            raise ScriptError("integrity_error", f"{package.name} has no tarball address")
        data = self._get(
            package.tarball, accept="application/octet-stream", limit=MAX_TARBALL_BYTES
        )
        _check_integrity(data, package.integrity, f"{package.name}@{package.version}")
        return data

    def advisories(self, packages: list[LockedPackage]) -> tuple[list[dict[str, Any]], str]:
        """Known advisories of these exact versions, from the registry's bulk audit endpoint.

        Returns (advisories, note); the note says when the endpoint could not be
        asked, so that "no advisory" is never mistaken for "not checked".
        """
        body: dict[str, list[str]] = {}
        for p in packages:
            body.setdefault(p.name, []).append(p.version)
        req = urllib.request.Request(  # noqa: S310 - self.url is http(s)
            f"{self.url}/-/npm/v1/security/advisories/bulk",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "iota-scripts"},
            method="POST",
        )
        try:
            with self._open(req, self.timeout_sec) as resp:
                answer = json.loads(resp.read(8 * 1024 * 1024))
        except (urllib.error.URLError, OSError, ValueError) as e:
            return (
                [],
                f"advisories not checked: the registry's audit endpoint cannot be reached ({type(e).__name__})",
            )
        out = []
        for pkg, items in (answer or {}).items():
            for a in items or []:
                out.append(
                    {
                        "package": pkg,
                        "severity": str(a.get("severity", "")),
                        "title": str(a.get("title", ""))[:300],
                        "url": str(a.get("url", "")),
                        "vulnerable_versions": str(a.get("vulnerable_versions", "")),
                    }
                )
        return out, "advisories checked against the registry's audit endpoint"


def _satisfies(version: str, range_: str) -> bool:
    import semantic_version as sv  # type: ignore[import-untyped]

    try:
        return sv.Version(version) in sv.NpmSpec(range_)
    except ValueError:
        return False


def extract(tarball: bytes, dest: Path, *, budget: list[int] | None = None) -> None:
    """Unpacks an npm tarball (its ``package/`` folder) into ``dest``.

    Only regular files and folders: links, devices, absolute paths and ``..``
    are refused (``package_refused``), as are trees larger than
    ``MAX_UNPACKED_BYTES`` (``budget`` carries the count across a tree).
    """
    budget = budget if budget is not None else [MAX_UNPACKED_BYTES]
    try:
        tar = tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz")
    except (tarfile.TarError, OSError):
        raise ScriptError("package_refused", "the tarball is not a gzipped tar") from None
    with tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not parts or member.name.startswith("/") or ".." in parts:
                raise ScriptError(
                    "package_refused", f"the tarball holds an unsafe path {member.name!r}"
                )
            rel = PurePosixPath(*parts[1:])  # strip "package/" (some use another first folder)
            if member.isdir() or not parts[1:]:
                continue
            if not member.isfile():
                raise ScriptError(
                    "package_refused", f"the tarball holds a link or device: {member.name!r}"
                )
            budget[0] -= member.size
            if budget[0] < 0:
                raise ScriptError("package_refused", "the unpacked packages are too large")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is not None:
                target.write_bytes(src.read())
