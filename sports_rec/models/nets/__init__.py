"""Networks built by Hydra from ``conf/model/*``: timm backbones and the study's classic CNNs.

Every net takes ``num_classes`` and ``in_chans`` (filled in from the datamodule) and maps
an image batch to logits.
"""
