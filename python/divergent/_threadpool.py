"""divergent's thread pool under threadpoolctl.

``threadpoolctl.threadpool_limits(limits=1)`` limits BLAS and OpenMP libraries; with this
controller registered (at import, when threadpoolctl is installed) it limits divergent's
Rust core the same way, and ``threadpool_info()`` lists it, with user_api
"divergent". The controller finds the extension among the loaded libraries by its C
symbols ``divergent_get_num_threads`` and ``divergent_set_num_threads``, which it calls.
"""

from __future__ import annotations

import ctypes

from divergent import _core


def register() -> bool:
    """Register the controller with threadpoolctl; False where it is not installed (or
    older than 3.5, which has no controller API)."""
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register"):  # controllers are pluggable from 3.5
        return False

    class DivergentController(threadpoolctl.LibController):
        user_api = "divergent"
        internal_api = "divergent"
        filename_prefixes = ("_core",)
        check_symbols = ("divergent_get_num_threads", "divergent_set_num_threads")

        def get_num_threads(self):
            get = self.dynlib.divergent_get_num_threads
            get.restype = ctypes.c_size_t
            return int(get())

        def set_num_threads(self, num_threads):
            put = self.dynlib.divergent_set_num_threads
            put.argtypes = [ctypes.c_size_t]
            put(int(num_threads))

        def get_version(self):
            return _core.__version__

    threadpoolctl.register(DivergentController)
    return True
