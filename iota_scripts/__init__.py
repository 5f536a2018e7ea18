from . import controllers, models, wizard
from .hooks import _post_init_hook, _uninstall_hook
