from . import bench, main
