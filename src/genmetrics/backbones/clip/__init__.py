"""CLIP-family backbones (OpenAI CLIP, OpenCLIP ViT-H-14, HPS v2): tokenizer, preprocessing,
transformers-based model, checkpoint converters and pinned weights."""
