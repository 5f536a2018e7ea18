from . import bundle, code, editor, health, main, metrics, openapi, version
