"""Explanations of a trained classifier's decisions (``python -m sports_rec.explain``):
attribution methods (:mod:`.attribution`), where GradCAM looks (:mod:`.targets`), image
panels (:mod:`.panels`) and GradCAM videos of clip models (:mod:`.video`)."""
