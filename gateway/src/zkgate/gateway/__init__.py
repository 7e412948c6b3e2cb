"""zkgate gateway: Open Inference Protocol serving with signed receipts and proof jobs."""

__version__ = "0.1.0"
