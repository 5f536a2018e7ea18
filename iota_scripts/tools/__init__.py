"""Odoo-side glue that is not a model: settings, the engine sentinel, run chains, sdk host functions."""

from . import chain, lazy_savepoint, sentinel, settings
