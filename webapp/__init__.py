"""The hwsim dashboard (Dash): reads a results store, never trains, never imports torch.

``webapp.app.create_app(db_path)`` builds it; ``hwsim serve DB`` runs it on 127.0.0.1.
"""

from hwsim import __version__

__all__ = ["__version__"]
