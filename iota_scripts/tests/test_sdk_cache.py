"""``sdk.cache`` through real runs (issue 17, "Cache isolation"): keys per company
and run-as user, one quota per company, on a private Redis."""

import json
import os
from unittest.mock import patch

from odoo.tests import tagged

from ..tools.settings import restart_engine
from .common import IotaScriptsCase
from .redis_server import PrivateRedis

SRC = """export default async (ctx) => {
  if (ctx.input.op === "set") {
    try { await sdk.cache.set(ctx.input.key, ctx.input.value); return "stored"; }
    catch (e) { return e.code; }
  }
  return await sdk.cache.get(ctx.input.key);
};
"""


@tagged("post_install", "-at_install")
class TestSdkCache(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.redis = PrivateRedis()
        self.addCleanup(self.redis.close)
        self.redis.start()
        site = {"IOTA_SCRIPTS_REDIS_URL": self.redis.url, "IOTA_SCRIPTS_CACHE_QUOTA_KEYS": "2"}
        self.startPatcher(patch.dict(os.environ, site))
        restart_engine()
        self.addCleanup(restart_engine)

    def _run(self, script, **input_value):
        execution = script.action_run(input=input_value)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def test_keys_per_run_as_user_and_quota_per_company(self):
        as_runner = self._script(SRC, name="As the runner")
        as_bot = self._script(SRC, name="As bot A", run_as_user_id=self.bot_a.id)
        as_bot_ab = self._script(SRC, name="As bot AB", run_as_user_id=self.bot_ab.id)
        self.assertEqual(self._run(as_runner, op="set", key="k", value="runner"), "stored")
        # another run-as user of the same company does not see the runner's key
        self.assertIsNone(self._run(as_bot, op="get", key="k"))
        self.assertEqual(self._run(as_runner, op="get", key="k"), "runner")
        self.assertEqual(self._run(as_bot, op="set", key="k", value="bot"), "stored")
        self.assertEqual(self._run(as_runner, op="get", key="k"), "runner")
        # the company's quota (2 keys) is shared by its users...
        self.assertEqual(self._run(as_bot_ab, op="set", key="k", value="ab"), "quota_exceeded")
        self.assertIsNone(self._run(as_bot_ab, op="get", key="k"))
        # ...and company B has its own
        in_b = self._script(SRC, name="In B", company=self.company_b)
        self.assertEqual(self._run(in_b, op="set", key="k", value="b"), "stored")
        # the keys carry the database, the company and the user, and the quota
        # accounts the company
        keys = set(self.redis.client().scan_iter(match="iota:c*", count=1000))
        db = self.env.cr.dbname
        runner = self.company_a._iota_scripts_runner_user()
        self.assertIn(f"iota:c:{db}:{self.company_a.id}:user:{runner.id}:k", keys)
        self.assertIn(f"iota:c:{db}:{self.company_a.id}:user:{self.bot_a.id}:k", keys)
        self.assertIn(f"iota:cq:{db}:{self.company_a.id}:e", keys)
