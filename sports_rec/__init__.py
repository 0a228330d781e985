"""sports_rec: a Lightning + Hydra framework for sports and fitness activity recognition.

Importing the package registers the OmegaConf resolvers the configs under ``conf/`` use,
so that ``hydra.compose`` in tests and notebooks sees the same configs as the CLI.
"""

from sports_rec.utils.resolvers import register_resolvers

register_resolvers()

__version__ = "0.1.0"
