"""The HTTP side of ``iota-scripts export`` and ``iota-scripts import``.

Talks to a live Odoo with the addon installed (``controllers/bundle.py``):
``Authorization: Bearer <Odoo API key>``; with a database name, it first
calls ``/web/login?db=NAME`` so that the session cookie picks that database
(needed only when the server holds several and no ``--db-filter`` picks
one). Standard library only (``urllib``); no proxy from the environment.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

#: Bundles are large but bounded: the server refuses more (MAX_BUNDLE_BYTES).
MAX_RESPONSE_BYTES = 512 * 1024 * 1024


class ClientError(Exception):
    """A refused call: ``code`` (the server's, or ``http_error``) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class BundleClient:
    url: str
    api_key: str
    db: str | None = None
    timeout_sec: float = 300.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ClientError("invalid_argument", f"--url must be http(s)://..., not {self.url!r}")
        jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
        )
        self._db_chosen = False

    def _choose_db(self) -> None:
        if self.db and not self._db_chosen:
            query = urllib.parse.urlencode({"db": self.db})
            try:
                with self._opener.open(f"{self.url}/web/login?{query}", timeout=self.timeout_sec):
                    pass
            except urllib.error.HTTPError:
                pass  # the cookie is set even when the login page answers an error
            except (urllib.error.URLError, OSError) as e:
                raise ClientError("http_error", f"cannot reach {self.url}: {e}") from None
            self._db_chosen = True

    def _post(
        self, path: str, body: bytes, content_type: str, query: dict[str, str] | None = None
    ) -> tuple[str, bytes]:
        self._choose_db()
        url = f"{self.url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        # the scheme was checked in __post_init__: http or https only
        request = urllib.request.Request(  # noqa: S310 - scheme checked: http(s)
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": content_type},
        )
        try:
            with self._opener.open(request, timeout=self.timeout_sec) as response:
                data = response.read(MAX_RESPONSE_BYTES + 1)
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raise self._error(e) from None
        except (urllib.error.URLError, OSError) as e:
            raise ClientError("http_error", f"cannot reach {self.url}: {e}") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise ClientError("http_error", "the answer is larger than a bundle may be")
        return kind, data

    @staticmethod
    def _error(e: urllib.error.HTTPError) -> ClientError:
        raw = e.read(65536)
        try:
            error = json.loads(raw)["error"]
            return ClientError(str(error["code"]), str(error["message"]))
        except (ValueError, KeyError, TypeError):
            if e.code == 401:
                return ClientError("access_denied", "the API key was refused (HTTP 401)")
            return ClientError("http_error", f"HTTP {e.code} from the server")

    def export(self, company_id: int | None, keys: list[str] | None) -> bytes:
        """The bundle's zip bytes."""
        body = json.dumps({"company_id": company_id, "keys": keys}).encode()
        kind, data = self._post("/iota/bundle/export", body, "application/json")
        if not kind.startswith("application/zip"):
            raise ClientError("http_error", f"the server answered {kind or 'no type'}, not a zip")
        return data

    def import_(
        self, data: bytes, company_id: int | None, dry_run: bool, skip_conflicts: bool
    ) -> dict[str, Any]:
        """The server's preview (dry run) or result."""
        query = {"on_conflict": "skip" if skip_conflicts else "refuse"}
        if company_id is not None:
            query["company_id"] = str(company_id)
        if dry_run:
            query["dry_run"] = "1"
        _kind, answer = self._post("/iota/bundle/import", data, "application/zip", query)
        try:
            result: dict[str, Any] = json.loads(answer)
        except ValueError:
            raise ClientError("http_error", "the server's answer is not JSON") from None
        return result
