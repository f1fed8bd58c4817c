"""Training into a chip's limits (NEUTRAMS): fine-tuning, quantization-aware rate and SNN models, fan-in blocks."""
