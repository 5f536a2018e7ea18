from . import bundle, editor, main, metrics, openapi
