"""Datasets: the embedded handwritten digits, image folders, and online datasets."""

from kcnn.data.digits import load_digits

__all__ = ["load_digits"]
