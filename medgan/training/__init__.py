"""Training: ``python -m medgan train`` (cli), one loop (loop), a step function per family (steps; generation
bridged in family_generation), presets per (task, arch) (presets), nested dataclass configs (config),
deterministic per-step batches and seed augmentations (data), atomic safetensors checkpoints and exact resume
(checkpoint), data parallelism under torchrun (distributed), validation metrics and sample grids (validation),
and bundling a run into checkpoints/ (export)."""
