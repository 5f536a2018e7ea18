from . import editor, main, openapi
