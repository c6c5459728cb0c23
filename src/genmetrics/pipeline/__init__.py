"""The evaluation pipeline: plan (metrics → feature requests → backbones) → a runner
extracts features (in this process, on torchrun ranks or on Ray workers) → metrics → result."""
