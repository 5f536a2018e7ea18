"""Issue 5's acceptance walkthrough, end to end over HTTP.

An endpoint ``GET /iota/api/v1/partners/{id}`` with ``api_key`` auth; an API
key for a user (``res.users.apikeys``); calls with and without the key (200 /
401); its rate limit exceeded (429); the endpoint in the OpenAPI document.
"""

import os
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import LEAKS

PARTNER = """
export default async function (ctx) {
  const id = Number(ctx.request.params.id);
  const rows = await sdk.db.searchRead("res.partner", [["id", "=", id]], ["name"]);
  if (!rows.length) {
    return {status: 404, json: {error: {code: "not_found", message: "No such partner."}}};
  }
  return {id: rows[0].id, name: rows[0].name};
}
"""


@tagged("post_install", "-at_install")
class TestEndpointAcceptance(HttpCase):
    def test_partners_endpoint_walkthrough(self):
        self.startPatcher(
            patch.dict(os.environ, {"IOTA_SCRIPTS_REDIS_URL": "redis://127.0.0.1:6379/0"})
        )
        company = self.env["res.company"].create({"name": "Walkthrough Co"})
        user = new_test_user(
            self.env,
            "iota_walkthrough",
            groups="base.group_user",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )
        partner = self.env["res.partner"].create({"name": "Ada Lovelace", "company_id": company.id})
        script = self.env["iota.script"].create(
            {
                "name": "Partner by id",
                "company_id": company.id,
                "state": "active",
                "source": PARTNER,
            }
        )
        endpoint = self.env["iota.script.endpoint"].create(
            {
                "script_id": script.id,
                "path": "/partners/{id}",
                "methods": "GET",
                "auth_mode": "api_key",
                "rate_limit_per_min": 3,
                "description": "One partner by id.",
            }
        )
        self.assertEqual(endpoint.url, "/iota/api/v1/partners/{id}")
        key = (
            self.env["res.users.apikeys"]
            .with_user(user)
            ._generate("rpc", "walkthrough", fields.Datetime.add(fields.Datetime.now(), days=1))
        )
        url = f"{self.base_url()}/iota/api/v1/partners/{partner.id}"
        bearer = {"Authorization": f"Bearer {key}"}

        anonymous = self.opener.get(url, timeout=30)
        self.assertEqual(anonymous.status_code, 401, anonymous.text)
        self.assertEqual(anonymous.json()["error"]["code"], "unauthenticated")
        self.assertEqual(anonymous.headers["WWW-Authenticate"], "Bearer")

        ok = self.opener.get(url, headers=bearer, timeout=30)
        self.assertEqual(ok.status_code, 200, ok.text)
        self.assertEqual(ok.json(), {"id": partner.id, "name": "Ada Lovelace"})
        self.assertEqual(ok.headers["RateLimit-Limit"], "3")
        self.assertEqual(ok.headers["RateLimit-Remaining"], "2")
        execution = self.env["iota.script.execution"].search([("endpoint_id", "=", endpoint.id)])
        self.assertEqual(len(execution), 1)
        self.assertEqual((execution.user_id, execution.http_status), (user, 200))

        missing = self.opener.get(url.replace(f"/{partner.id}", "/999999999"), headers=bearer)
        self.assertEqual(missing.status_code, 404, missing.text)
        self.assertEqual(self.opener.get(url, headers=bearer, timeout=30).status_code, 200)
        limited = self.opener.get(url, headers=bearer, timeout=30)
        self.assertEqual(limited.status_code, 429, limited.text)
        self.assertEqual(limited.json()["error"]["code"], "rate_limited")
        self.assertTrue(1 <= int(limited.headers["Retry-After"]) <= 60)
        self.assertEqual(limited.headers["RateLimit-Remaining"], "0")
        self.assertFalse(LEAKS.search(limited.text))
        # refused calls are not recorded
        self.assertEqual(
            self.env["iota.script.execution"].search_count([("endpoint_id", "=", endpoint.id)]), 3
        )

        doc = self.opener.get(
            f"{self.base_url()}/iota/api/openapi.json?version=v1", headers=bearer, timeout=30
        ).json()
        operation = doc["paths"]["/partners/{id}"]["get"]
        self.assertEqual(operation["summary"], "Partner by id")
        self.assertEqual(operation["description"], "One partner by id.")
        self.assertEqual(operation["security"], [{"api_key": []}])
        self.assertEqual(operation["parameters"][0]["name"], "id")
        self.assertEqual(doc["servers"], [{"url": "/iota/api/v1"}])
        # anonymous callers do not see an api_key endpoint
        public = self.opener.get(f"{self.base_url()}/iota/api/openapi.json", timeout=30).json()
        self.assertNotIn("/v1/partners/{id}", public["paths"])
