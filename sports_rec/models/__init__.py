"""Model side: nets (timm and classic), freeze policies, losses and the LightningModule."""
