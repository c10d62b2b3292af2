"""OpenAI-compatible providers added at run time (the sidebar's Providers section, ``%chat provider``).

A provider is a remote endpoint a person adds without editing ``jupyter_server_config.py``: its
settings live in a config file of the extension (``config_file.py``, under the Jupyter config
dir, never in the chat store), its key in the OS keyring or in an environment variable named by
the user (``keys.py``). ``service.py`` merges the saved providers with ``Settings.remote_endpoints``
when the core starts and applies every change to the engine's ``RemotePool`` at once;
``probe.py`` is the "Test" button (list models + a short streamed answer, time to first token).
No key is ever returned, logged or written anywhere but the keyring.
"""

from .presets import PRESETS
from .service import ProviderService

__all__ = ["PRESETS", "ProviderService"]
