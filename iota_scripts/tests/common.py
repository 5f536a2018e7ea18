"""Shared fixtures: two companies, their users, and a script factory.

Every test runs the real engine (V8 runner processes started by the first
run of the Odoo process).
"""

import itertools
import re
import time
from contextlib import contextmanager

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, new_test_user

#: What a user-facing error must never contain.
LEAKS = re.compile(
    r"Traceback|File \"|/work/|/usr/|site-packages|\bSELECT\b|\bINSERT\b|\bUPDATE\b.*\bSET\b|psycopg2"
)


class IotaScriptsCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The demo automation rule and scheduled action (when demo data is
        # loaded) would add runs of their own to every partner we create.
        demo_actions = cls.env["ir.actions.server"].search([("state", "=", "iota_script")])
        demo_actions.base_automation_id.active = False
        cls.env["ir.cron"].search([("ir_actions_server_id", "in", demo_actions.ids)]).active = False

        cls.company_a = cls.env["res.company"].create({"name": "IOTA Company A"})
        cls.company_b = cls.env["res.company"].create({"name": "IOTA Company B"})
        both = [(6, 0, [cls.company_a.id, cls.company_b.id])]
        cls.user_a = new_test_user(
            cls.env,
            "iota_user_a",
            groups="base.group_user,iota_scripts.iota_scripts_group_user",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.dev_a = new_test_user(
            cls.env,
            "iota_dev_a",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.dev_b = new_test_user(
            cls.env,
            "iota_dev_b",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )
        # A run-as user that may edit contacts, in company A only...
        cls.bot_a = new_test_user(
            cls.env,
            "iota_bot_a",
            groups="base.group_user,base.group_partner_manager",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        # ...and one that belongs to both companies (runs must still see A only).
        cls.bot_ab = new_test_user(
            cls.env,
            "iota_bot_ab",
            groups="base.group_user,base.group_partner_manager",
            company_id=cls.company_a.id,
            company_ids=both,
        )
        cls.partner_a = cls.env["res.partner"].create(
            {"name": "Partner of A", "company_id": cls.company_a.id}
        )
        cls.partner_b = cls.env["res.partner"].create(
            {"name": "Partner of B", "company_id": cls.company_b.id}
        )

    @classmethod
    def _user(cls, login, groups, company=None):
        """An internal user of ``company`` (A by default) only, also in ``groups`` (xml ids, comma-separated)."""
        company = company or cls.company_a
        return new_test_user(
            cls.env,
            login,
            groups=f"base.group_user,{groups}",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )

    @classmethod
    def _script(cls, source, company=None, **values):
        return cls.env["iota.script"].create(
            {
                "name": values.pop("name", "Test script"),
                "company_id": (company or cls.company_a).id,
                "state": "active",
                "source": source,
                **values,
            }
        )

    def _executions(self, script):
        return self.env["iota.script.execution"].search([("script_id", "=", script.id)], order="id")

    def assertNoLeak(self, text):
        self.assertFalse(LEAKS.search(text or ""), f"leaks internals: {text!r}")


def emit_on_create(env, event_type, model="res.partner"):
    """An automation rule that emits ``event_type`` when a ``model`` record is created."""
    model_id = env["ir.model"]._get_id(model)
    return env["base.automation"].create(
        {
            "name": event_type,
            "model_id": model_id,
            "trigger": "on_create",
            "action_server_ids": [
                (
                    0,
                    0,
                    {
                        "name": f"emit {event_type}",
                        "model_id": model_id,
                        "state": "iota_event",
                        "iota_event_type": event_type,
                    },
                )
            ],
        }
    )


_KEYS = itertools.count(time.monotonic_ns())


class RealCursorMixin:
    """Environments on connections of their own, committed on exit.

    For what only means something between connections (SKIP LOCKED, leases,
    cancel requests): such tests work on committed data of the main company
    and delete it afterwards.
    """

    @contextmanager
    def _env(self):
        with self.registry.cursor() as cr:
            cr.execute("SET lock_timeout = '10s'")
            # Environment() would look the registry up by name, under the
            # registry lock that the test runner holds: threads would wait.
            cr.transaction = api.Transaction(self.registry)
            yield api.Environment(cr, SUPERUSER_ID, {})

    def _drain(self, rounds=50, batch_size=None, budget_sec=30):
        """Dispatches events and runs the queue until nothing is due (as the cron jobs would)."""
        dispatch_kw = {"batch_size": batch_size} if batch_size else {}
        for _round in range(rounds):
            with self._env() as env:
                dispatched = env["iota.script.delivery"]._cron_dispatch(**dispatch_kw)
            with self._env() as env:
                ran = env["iota.script.execution"]._cron_process_queue(budget_sec=budget_sec)
            if not dispatched and not ran:
                return
        self.fail("the bus did not settle")

    def _committed_script(self, source, **values):
        """A script of the main company, committed, deleted after the test."""
        with self._env() as env:
            script = env["iota.script"].create(
                {
                    "name": values.pop("name", "Committed test script"),
                    "key": f"committed_{next(_KEYS)}_{self._testMethodName}".lower()[:64],
                    "company_id": env.ref("base.main_company").id,
                    "state": "active",
                    "source": source,
                    **values,
                }
            )
            script_id = script.id
        self.addCleanup(self._delete_committed_script, script_id)
        return script_id

    def _delete_committed_script(self, script_id):
        with self._env() as env:
            env.cr.execute(
                "DELETE FROM iota_script_execution_cancel WHERE execution_id IN "
                "(SELECT id FROM iota_script_execution WHERE script_id = %s)",
                [script_id],
            )
            env["iota.script"].browse(script_id).exists().unlink()  # a test may have deleted it


def work_queue(case, rounds=30):
    """Dispatches events and runs what is queued, as the workers would, due or not.

    In the test's transaction: the worker's claim (state, attempt), its run
    group (runs, retries, outcome events) and the dispatcher's batch, without
    their commits (test_queue tests those between connections).
    """
    env = case.env
    Execution = env["iota.script.execution"].sudo()
    for _round in range(rounds):
        env["iota.script.delivery"]._dispatch_batch(500)
        env.flush_all()
        queued = Execution.search([("state", "=", "queued")], order="priority, id", limit=1)
        if not queued:
            return
        env.cr.execute(
            "UPDATE iota_script_execution SET state = 'running', worker_id = 'test',"
            " attempt = COALESCE(attempt, 0) + 1 WHERE id = %s",
            [queued.id],
        )
        queued.invalidate_recordset()
        ran, failed = queued._queue_run_group("test")
        case.assertEqual((ran, failed), (queued, Execution.browse()))
        env.flush_all()
    case.fail("the queue did not settle")
