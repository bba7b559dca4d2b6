"""The LLM-adapter model: an LLM's text features aligned to CLIP through an adapter (``llm-adapter``)."""
