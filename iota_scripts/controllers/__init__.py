from . import editor, main, metrics, openapi
