from . import bundle, editor, health, main, metrics, openapi, version
