from . import bench, main, openapi
