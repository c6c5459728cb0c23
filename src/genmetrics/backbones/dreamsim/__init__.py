"""DreamSim (Fu et al. 2023): the ensemble of DINO ViT-B/16, CLIP ViT-B/16 and OpenCLIP
ViT-B/16 with its LoRA fine-tune, and the single-branch variants, in plain torch
(:mod:`.network`), loaded from the published checkpoints (:mod:`.load`). Used by the paired
metric ``dreamsim`` of ``pair`` and ``compare --similarity``."""
