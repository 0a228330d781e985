"""sports_rec: a Lightning + Hydra framework for sports and fitness activity recognition.

Importing the package registers the OmegaConf resolvers the configs under ``conf/`` use,
so that ``hydra.compose`` in tests and notebooks sees the same configs as the CLI.
"""

from pathlib import Path

from sports_rec.utils.resolvers import register_resolvers

register_resolvers()

# The Hydra configs; shipped inside the package (the checkout's top-level conf/ links here).
CONF_DIR = Path(__file__).resolve().parent / "conf"

__version__ = "0.1.0"
