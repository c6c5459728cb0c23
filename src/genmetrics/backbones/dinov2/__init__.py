"""DINOv2 ViTs (Oquab et al. 2023) on transformers' ``Dinov2Model``: the FD_DINOv2 backbone of
Stein et al. 2023 ("Exposing flaws of generative model evaluation metrics")."""
