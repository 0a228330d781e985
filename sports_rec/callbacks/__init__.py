"""Lightning callbacks that write a run's artefacts (see ``conf/callbacks/default.yaml``)."""
