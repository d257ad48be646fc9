"""Training: ``python -m medgan train`` (cli), one loop (loop), the families in one registry (families: the
conditional steps in family_conditional, generation in family_generation on unconditional; the shared
StepContext in context), presets per (task, arch) (presets), nested dataclass configs (config),
deterministic per-step batches and seed augmentations (data), atomic safetensors checkpoints and exact resume
(checkpoint), data parallelism under torchrun (distributed), validation metrics and sample grids (validation),
and bundling a run into checkpoints/ (export)."""
