from . import editor, health, main, metrics, openapi
