from . import controllers, models, wizard
from .hooks import _post_init_hook, _post_load, _uninstall_hook
