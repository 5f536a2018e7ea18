from . import bench, editor, main, openapi
