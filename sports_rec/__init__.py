"""sports_rec: a Lightning + Hydra framework for sports and fitness activity recognition.

Importing the package registers the OmegaConf resolvers the configs under ``conf/`` use,
so that ``hydra.compose`` in tests and notebooks sees the same configs as the CLI.
"""

import warnings

from sports_rec.utils.resolvers import register_resolvers

register_resolvers()

# Lightning 2.6 on torch 2.14 warns about its own use of torch's private pytree API at every
# loop start; nothing a user can act on, and it buries the messages that matter.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")

__version__ = "0.1.0"
