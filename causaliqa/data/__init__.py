"""Image sets and corruptions."""

from causaliqa.data.corrupt import CORRUPTIONS, SEVERITIES, corrupt_image, prepare_image
from causaliqa.data.datasets import DatasetSpec, ImageRecord, MixtureSpec, build_records

__all__ = ["CORRUPTIONS", "SEVERITIES", "DatasetSpec", "ImageRecord", "MixtureSpec", "build_records", "corrupt_image", "prepare_image"]
