"""What a run reads of its script, cached per registry.

Every endpoint call and every run reads the same dozen columns of its
script (state, version, limits, run-as user, recording policy). Reading
them through the ORM fetches every column of the row, the source included,
on each call. :meth:`IotaScript._iota_run_fields` (ormcached per registry)
keeps those columns, and :meth:`IotaScript._iota_warm` puts them in the
transaction's cache before the run reads them, so the run reads the script
as usual, without a query.

Invalidation: every create, write and unlink of a script clears the cache
(Odoo signals it to the other workers), once at once and once after commit:
another thread of this process may fill the cache from its own snapshot
between the write and its commit, and the second clear drops what it read.
A value this transaction already holds (written, or read fresh) is never
overwritten by the cache.
"""

from __future__ import annotations

from odoo import api, models

from ..tools.ormcache import ormcache

#: The columns of a script that a run reads (``run/pipeline.py``).
RUN_FIELDS = (
    "active",
    "state",
    "company_id",
    "version_id",
    "run_as_user_id",
    "timeout_sec",
    "memory_mb",
    "key",
    "name",
    "record_policy",
    "record_sample_every",
    # a gradual rollout (iota_script_rollout.py)
    "candidate_version_id",
    "rollout_percent",
    "rollout_trigger",
    "rollout_user_ids",
    "rollout_error_pct",
    "rollout_min_runs",
)


class IotaScript(models.Model):
    _inherit = "iota.script"

    @api.model
    @ormcache("script_id")
    def _iota_run_fields(self, script_id):
        """``((field name, cache value), ...)`` of :data:`RUN_FIELDS` (empty when
        the script is gone). Cache values: ids for many2one fields."""
        script = self.sudo().with_context(active_test=False).browse(script_id)
        script.fetch(list(RUN_FIELDS))
        if not script.exists():
            return ()
        cache = self.env.cache
        return tuple((fname, cache.get(script, self._fields[fname])) for fname in RUN_FIELDS)

    def _iota_warm(self):
        """Puts the cached run columns of these scripts in the transaction's cache."""
        cache = self.env.cache
        for script in self:
            for fname, value in self._iota_run_fields(script.id):
                field = self._fields[fname]
                if not cache.contains(script, field):
                    cache.set(script, field, value)
        return self

    def _iota_clear_run_cache(self):
        registry = self.env.registry
        registry.clear_cache()
        data = self.env.cr.postcommit.data
        if not data.get("iota_scripts.run_cache_clear"):
            data["iota_scripts.run_cache_clear"] = True
            self.env.cr.postcommit.add(registry.clear_cache)

    @api.model_create_multi
    def create(self, vals_list):
        scripts = super().create(vals_list)
        scripts._iota_clear_run_cache()
        return scripts

    def write(self, vals):
        res = super().write(vals)
        self._iota_clear_run_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self._iota_clear_run_cache()
        return res
