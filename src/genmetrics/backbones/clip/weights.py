"""Pinned weights of the CLIP family and the LAION aesthetic heads, and the CLIP loader.

Every file is pinned by sha256 and converted once into a safetensors file in the cache
(transformers ``CLIPModel`` layout for CLIP models, original keys for aesthetic heads); loading
hashes the cached file against its install record each time.
:func:`register_clip_weights` adds the specs to the weights registry; nothing registers at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genmetrics.backbones.clip.configs import ClipArch, get_arch
from genmetrics.errors import UserError
from genmetrics.weights.store import WeightSpec, register_weights, verified_weights_path

if TYPE_CHECKING:  # torch loads with the model, not with the specs (the catalog reads those)
    import torch

_OPENAI = "https://openaipublic.azureedge.net/clip/models"
_OPENAI_SHA = {
    "ViT-B-32": "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    "ViT-B-16": "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
    "ViT-L-14": "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    "ViT-L-14-336": "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
}
_OPENAI_FILE = {
    "ViT-B-32": "ViT-B-32.pt",
    "ViT-B-16": "ViT-B-16.pt",
    "ViT-L-14": "ViT-L-14.pt",
    "ViT-L-14-336": "ViT-L-14-336px.pt",
}
_HPS_REPO = "xswu/HPSv2"
_HPS_REVISION = "697403c78157020a1ae59d23f111aa58ced35b0a"  # commit that added both files


@dataclass(frozen=True)
class ClipModelInfo:
    """A loadable CLIP model: its architecture and the preprocessing it was trained with."""

    arch: str
    preprocess: str  # "clip" (resize shortest + centre crop) or "hps" (resize longest + pad)

    @property
    def image_size(self) -> int:
        return get_arch(self.arch).image_size


CLIP_MODELS: dict[str, ClipModelInfo] = {
    "clip-vit-b-32-openai": ClipModelInfo("ViT-B-32", "clip"),
    "clip-vit-b-16-openai": ClipModelInfo("ViT-B-16", "clip"),
    "clip-vit-l-14-openai": ClipModelInfo("ViT-L-14", "clip"),
    "clip-vit-l-14-336-openai": ClipModelInfo("ViT-L-14-336", "clip"),
    "clip-vit-h-14-laion2b": ClipModelInfo("ViT-H-14", "clip"),
    "hps-v2.0": ClipModelInfo("ViT-H-14", "hps"),
    "hps-v2.1": ClipModelInfo("ViT-H-14", "hps"),
}

AESTHETIC_HEADS = (
    "aesthetic-laion-improved-l14",
    "aesthetic-laion-v1-l14",
    "aesthetic-laion-v1-b32",
)


def _convert_clip(src: Path, dst: Path) -> None:
    from genmetrics.backbones.clip.convert import convert_clip_checkpoint

    convert_clip_checkpoint(src, dst)


def _convert_plain(src: Path, dst: Path) -> None:
    from genmetrics.backbones.clip.convert import convert_plain_state_dict

    convert_plain_state_dict(src, dst)


def _openai_spec(name: str, arch: str) -> WeightSpec:
    sha = _OPENAI_SHA[arch]
    return WeightSpec(
        name=name,
        filename=f"{name}.safetensors",
        sha256=sha,
        description=f"OpenAI CLIP {arch} (official release)",
        url=f"{_OPENAI}/{sha}/{_OPENAI_FILE[arch]}",
        source_filename=_OPENAI_FILE[arch],
        license="MIT (OpenAI CLIP)",
        convert=_convert_clip,
    )


def clip_weight_specs() -> list[WeightSpec]:
    """Specs of every CLIP-family and aesthetic-head weights file."""
    specs = [_openai_spec(n, info.arch) for n, info in CLIP_MODELS.items() if n.endswith("-openai")]
    specs.append(
        WeightSpec(
            name="clip-vit-h-14-laion2b",
            filename="clip-vit-h-14-laion2b.safetensors",
            sha256="9a78ef8e8c73fd0df621682e7a8e8eb36c6916cb3c16b291a082ecd52ab79cc4",
            description="OpenCLIP ViT-H-14 trained on LAION-2B (laion2b_s32b_b79k)",
            hf_repo="laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
            hf_filename="open_clip_pytorch_model.bin",
            license="MIT (LAION / OpenCLIP)",
            convert=_convert_clip,
        )
    )
    for name, filename, sha in (
        (
            "hps-v2.0",
            "HPS_v2_compressed.pt",
            "07cb0d20626232204ca3a6ec53ff5984e7e53212a8a7b0e0ec2bac1bdaf125a1",
        ),
        (
            "hps-v2.1",
            "HPS_v2.1_compressed.pt",
            "c57a38fb4a2f7e7c15bf00da2ea377cdf165448b4dd1052a484c215a998c9837",
        ),
    ):
        specs.append(
            WeightSpec(
                name=name,
                filename=f"{name}.safetensors",
                sha256=sha,
                description=f"HPS v2 preference model {name[5:]} (OpenCLIP ViT-H-14 fine-tune)",
                hf_repo=_HPS_REPO,
                hf_filename=filename,
                hf_revision=_HPS_REVISION,
                license="Apache-2.0 (HPS v2)",
                convert=_convert_clip,
            )
        )
    improved = "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
    laion = "https://github.com/LAION-AI/aesthetic-predictor/raw/main/"
    for name, url, source, sha, lic, desc in (
        (
            "aesthetic-laion-improved-l14",
            improved + "sac%2Blogos%2Bava1-l14-linearMSE.pth",
            "sac+logos+ava1-l14-linearMSE.pth",
            "21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
            "Apache-2.0",
            "LAION improved aesthetic predictor MLP on CLIP ViT-L/14",
        ),
        (
            "aesthetic-laion-v1-l14",
            laion + "sa_0_4_vit_l_14_linear.pth",
            "sa_0_4_vit_l_14_linear.pth",
            "2cd4e60f4f24ae3bcd57b847b13c1f3ba27edc28cc1a7f9ce74ee9f421243cba",
            "MIT",
            "LAION aesthetic predictor v1 (linear) on CLIP ViT-L/14",
        ),
        (
            "aesthetic-laion-v1-b32",
            laion + "sa_0_4_vit_b_32_linear.pth",
            "sa_0_4_vit_b_32_linear.pth",
            "c7b14cead230694acc7b9447974d3cad78003c72da032e402a303b6c2429e85f",
            "MIT",
            "LAION aesthetic predictor v1 (linear) on CLIP ViT-B/32",
        ),
    ):
        specs.append(
            WeightSpec(
                name=name,
                filename=f"{name}.safetensors",
                sha256=sha,
                description=desc,
                url=url,
                source_filename=source,
                license=lic,
                convert=_convert_plain,
            )
        )
    return specs


def clip_weight_spec(name: str) -> WeightSpec:
    for spec in clip_weight_specs():
        if spec.name == name:
            return spec
    raise UserError(f"unknown CLIP-family weights '{name}'")


def register_clip_weights() -> None:
    """Add every CLIP-family and aesthetic-head spec to the weights registry."""
    for spec in clip_weight_specs():
        register_weights(spec)


def load_clip(
    name: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    offline: bool | None = None,
):
    """A registered CLIP model (``CLIP_MODELS``) as a :class:`ClipEncoder` in eval mode."""
    import torch
    from safetensors.torch import load_file

    from genmetrics.backbones.clip.model import ClipEncoder

    if name not in CLIP_MODELS:
        raise UserError(f"unknown CLIP model '{name}'; known: {', '.join(CLIP_MODELS)}")
    path = verified_weights_path(clip_weight_spec(name), offline=offline)  # hashed on every load
    arch: ClipArch = get_arch(CLIP_MODELS[name].arch)
    dtype = torch.float32 if dtype is None else dtype
    return ClipEncoder.from_state_dict(arch, load_file(str(path)), device=device, dtype=dtype)
