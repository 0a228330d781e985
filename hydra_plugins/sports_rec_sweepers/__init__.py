"""sports_rec's Hydra sweepers (Hydra loads plugins from the ``hydra_plugins`` package only).

* :class:`~hydra_plugins.sports_rec_sweepers.basic.BasicSweeper` - Hydra's basic sweeper,
  except that a job whose config cannot be composed (``model=small,doesnotexist``) is
  listed, not fatal: the other jobs run.
* :class:`~hydra_plugins.sports_rec_sweepers.optuna_sweeper.OptunaSweeper` - the Optuna sweeper,
  except that a study whose every trial failed ends like a sweep with failed jobs, and a
  fixed override of a searched key is pointed out.

The logic lives in :mod:`sports_rec.utils.sweeps`; these classes only bind it to Hydra.
"""
