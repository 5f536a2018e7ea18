"""The run path: ``RunRequest`` (request.py), the pipeline of named steps
(pipeline.py) and its steps (start.py, pending.py, record.py)."""

from . import pending, pipeline, record, request, start
from .request import RunRequest
