"""The Optuna sweeper, ending a study whose every trial failed like any failed sweep.

Imported by Hydra's plugin scan on every start: without the ``sweep`` extra (optuna and
hydra-optuna-sweeper) this module defines nothing and ``hparams_search=optuna`` says what
to install.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sports_rec.utils.sweeps import record_study_without_result, warn_fixed_searched_keys

if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import (
        OptunaSweeper as HydraOptunaSweeper,
    )

    class OptunaSweeper(HydraOptunaSweeper):
        """hydra-optuna-sweeper's sweeper with two differences.

        * A fixed command-line value of a key the search space covers
          (``data.batch_size=8`` beside ``params: data.batch_size: choice(...)``) wins over
          the search, as in Hydra; it is now said so, with a warning.
        * When no trial completes, Optuna has no best trial and the plugin ends in
          ``ValueError: No trials are completed yet``; here the study ends normally with an
          ``optimization_results.yaml`` that says so, and the sweep summary lists every
          failed trial with its reason (exit status 1).
        """

        def sweep(self, arguments: list[str]) -> Any:
            impl = self.sweeper
            warn_fixed_searched_keys(impl.params, arguments)
            try:
                return super().sweep(arguments)
            except ValueError as error:
                if "No trials are completed yet" not in str(error):
                    raise
                record_study_without_result(impl.config.hydra.sweep.dir, impl.n_trials)
                return None
