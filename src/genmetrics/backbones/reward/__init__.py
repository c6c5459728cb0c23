"""Preference (reward) models for text-to-image evaluation: PickScore, ImageReward, HPSv3.

PickScore is a CLIP-H dual encoder (image embedding from the one pass, cached text embedding);
ImageReward and HPSv3 are prompt-conditioned (ImageReward's text encoder cross-attends to the
image tokens; HPSv3 reads image and instruction in one Qwen2-VL sequence), so they run as
:class:`~genmetrics.backbones.reward.base.PromptConditionedBackbone` whose features are cached
per (image, prompt). HPSv3 is the optional extra ``genmetrics[hpsv3]``; its weights have no
published sha256, so loading them is refused until one is pinned.

MPS (Kwai-Kolors/MPS, Zhang et al. 2024) is not ported. Its architecture could be (CLIP-H from
``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` + a 4-layer condition-masked cross-attention head,
``trainer/models/cross_modeling.py``), but the published weights do not allow a faithful,
verified port:

* the only released checkpoint (``MPS_overall_checkpoint.pth``, "overall" preference only) is
  a Google Drive link, with no Hugging Face / URL source ``genmetrics weights`` can download
  and no published sha256 to pin;
* it is a whole pickled ``nn.Module`` (the README loads it with a bare ``torch.load`` that
  imports the repository's ``trainer.models`` classes), not a state dict: reading it needs an
  unpickler of arbitrary classes, which ``weights_only=True`` refuses, and without the file its
  key names (and whether the head's bias buffers and fp16 casts are stored) cannot be checked;
* the code disagrees with itself on the scoring: the model's ``forward`` masks the condition
  at similarity > 0.01, the released evaluation scripts at > 0.3, and the image tower runs in
  fp16 (``image_inputs.half()``) while the rest runs in the checkpoint's dtype; which variant
  the published numbers use cannot be settled without the checkpoint.
"""


def register() -> None:
    """Register PickScore, ImageReward (with its weights) and the Hugging Face CLIP resolver
    (``--clip-model owner/name`` or a folder)."""
    from genmetrics.backbones.clip import hf
    from genmetrics.backbones.reward import hpsv3, imagereward, pickscore

    hf.register()
    pickscore.register()
    imagereward.register()
    hpsv3.register()
