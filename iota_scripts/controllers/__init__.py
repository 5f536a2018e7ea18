from . import bench, editor, main
