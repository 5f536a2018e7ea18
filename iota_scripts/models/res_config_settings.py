"""Settings page: the database keys of IOTA Scripts (``iota_scripts.*`` parameters).

A key set in the environment (``IOTA_SCRIPTS_<KEY>``) or in the ``[iota_scripts]``
section of the configuration file wins over the value saved here (see
``tools/settings.py``); the page says so next to the field. The engine keys
(runners, Redis) are site keys: the page shows them and never saves them.

The site switch (``enabled``) lives outside the database too: the page shows
its effective value read-only, with where it comes from.

Trap: the settings form opens with ``onchange()``, which puts ``False`` in the
cache of every field that has no default, and a compute without dependencies
is never triggered again: the switch showed unchecked while scripts ran. So
every site field also has a ``default`` computing the same value.
"""

from urllib.parse import urlsplit, urlunsplit

from odoo import fields, models

from ..tools.observability import tracing
from ..tools.settings import DEFAULTS, get_setting, scripts_enabled, setting_source


def _without_password(url):
    """``url`` with any password replaced by ``***`` (the page is for administrators,
    but a Redis password has no business in a browser)."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def _default(key):
    """The one default of ``key`` (tools/settings.py)."""
    return DEFAULTS[key][0]


#: The keys of this page that the server may set or override.
_OVERRIDABLE = (
    "redis_url",
    "runners",
    "retention_days",
    "max_source_bytes",
    "default_timeout_sec",
    "max_timeout_sec",
    "default_memory_mb",
    "max_memory_mb",
    "max_depth",
)


def _enabled_source():
    """Where the site switch's value comes from, in words."""
    return setting_source("enabled") or (
        "the default (no environment variable, no configuration entry)"
    )


def _sentry_target():
    """Where failures go, without the DSN's key: ``host, project N (source)``; or off."""
    from ..tools.observability import sentry

    dsn = sentry.dsn()
    if not dsn:
        return "off: no DSN (IOTA_SCRIPTS_SENTRY_DSN, sentry_dsn in [iota_scripts], SENTRY_DSN)"
    parts = urlsplit(dsn)
    source = setting_source("sentry_dsn") or "environment variable SENTRY_DSN"
    return f"{parts.hostname}, project {parts.path.strip('/')} ({source})"


def _overrides():
    return "\n".join(f"{key}: {source}" for key in _OVERRIDABLE if (source := setting_source(key)))


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    iota_api_public_listing = fields.Boolean(
        related="company_id.iota_api_public_listing", readonly=False
    )
    iota_capabilities_required = fields.Boolean(
        related="company_id.iota_capabilities_required", readonly=False
    )
    iota_scripts_require_approval = fields.Boolean(
        related="company_id.iota_scripts_require_approval", readonly=False
    )
    iota_scripts_require_signed = fields.Boolean(
        related="company_id.iota_scripts_require_signed", readonly=False
    )
    iota_scripts_units_daily_pool = fields.Integer(
        related="company_id.iota_scripts_units_daily_pool", readonly=False
    )
    iota_scripts_enabled = fields.Boolean(
        string="Scripts Enabled on This Server",
        compute="_compute_iota_scripts_site",
        default=lambda self: scripts_enabled(),
    )
    iota_scripts_enabled_source = fields.Char(
        string="Set By",
        compute="_compute_iota_scripts_site",
        default=lambda self: _enabled_source(),
    )
    iota_scripts_overrides = fields.Text(
        string="Site Overrides",
        compute="_compute_iota_scripts_site",
        default=lambda self: _overrides(),
    )
    iota_scripts_redis_url = fields.Char(
        string="Redis URL",
        compute="_compute_iota_scripts_site",
        default=lambda self: _without_password(get_setting(None, "redis_url")),
        help="Redis for sdk.cache. Set by the server (IOTA_SCRIPTS_REDIS_URL or redis_url in "
        "the [iota_scripts] section of the configuration file). Empty: an in-process cache.",
    )
    iota_scripts_tracing_endpoint = fields.Char(
        string="Traces Endpoint",
        compute="_compute_iota_scripts_site",
        default=lambda self: _without_password(tracing.configured_endpoint()),
        help="Where OpenTelemetry spans are exported (OTLP/HTTP). Set by the server "
        "(IOTA_SCRIPTS_TRACING_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ...). "
        "Empty: no tracing.",
    )
    iota_scripts_runners = fields.Integer(
        string="Runner Processes",
        compute="_compute_iota_scripts_site",
        default=lambda self: get_setting(None, "runners"),
        help="V8 runner processes per Odoo process. Set by the server (IOTA_SCRIPTS_RUNNERS "
        "or the configuration file).",
    )
    iota_scripts_sentry = fields.Char(
        string="Sentry",
        compute="_compute_iota_scripts_site",
        default=lambda self: _sentry_target(),
        help="Where script and module failures are sent. Set by the server "
        "(IOTA_SCRIPTS_SENTRY_DSN, sentry_dsn in the [iota_scripts] section, or SENTRY_DSN).",
    )
    iota_scripts_log_format = fields.Char(
        string="Log Format",
        compute="_compute_iota_scripts_site",
        default=lambda self: get_setting(None, "log_format"),
        help="json: the module's log lines as JSON objects. Set by the server "
        "(IOTA_SCRIPTS_LOG_FORMAT or log_format in the [iota_scripts] section); restart to change.",
    )
    iota_scripts_retention_days = fields.Integer(
        string="Keep Executions (days)",
        config_parameter="iota_scripts.retention_days",
        default=_default("retention_days"),
    )
    iota_scripts_max_source_bytes = fields.Integer(
        string="Largest Source (bytes)",
        config_parameter="iota_scripts.max_source_bytes",
        default=_default("max_source_bytes"),
    )
    iota_scripts_default_timeout_sec = fields.Float(
        string="Default Timeout (s)",
        config_parameter="iota_scripts.default_timeout_sec",
        default=_default("default_timeout_sec"),
    )
    iota_scripts_max_timeout_sec = fields.Float(
        string="Longest Timeout (s)",
        config_parameter="iota_scripts.max_timeout_sec",
        default=_default("max_timeout_sec"),
    )
    iota_scripts_default_memory_mb = fields.Integer(
        string="Default Memory (MB)",
        config_parameter="iota_scripts.default_memory_mb",
        default=_default("default_memory_mb"),
    )
    iota_scripts_max_memory_mb = fields.Integer(
        string="Largest Memory (MB)",
        config_parameter="iota_scripts.max_memory_mb",
        default=_default("max_memory_mb"),
    )
    iota_scripts_max_depth = fields.Integer(
        string="Chain Depth",
        config_parameter="iota_scripts.max_depth",
        default=_default("max_depth"),
        help="How many generations of scripts triggering scripts one transaction may run.",
    )

    def _compute_iota_scripts_site(self):
        for settings in self:
            settings.iota_scripts_enabled = scripts_enabled()
            settings.iota_scripts_enabled_source = _enabled_source()
            settings.iota_scripts_redis_url = _without_password(get_setting(None, "redis_url"))
            settings.iota_scripts_runners = get_setting(None, "runners")
            settings.iota_scripts_tracing_endpoint = _without_password(
                tracing.configured_endpoint()
            )
            settings.iota_scripts_overrides = _overrides()
            settings.iota_scripts_sentry = _sentry_target()
            settings.iota_scripts_log_format = get_setting(None, "log_format")
