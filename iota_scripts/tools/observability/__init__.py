"""The operator's side of IOTA Scripts (issue 11): metrics and health.

* ``metrics.py``: the Prometheus series and the calls that feed them;
* ``metrics_store.py``: prometheus-client's multiprocess directory, shared by
  Odoo's workers (where it is, made lazily per process, dead workers swept);
* ``health.py``: the checks of ``/iota/health/ready``.
"""
