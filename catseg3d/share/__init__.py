"""Sharing trained models: checked single-file bundles."""

from catseg3d.share.pack import check_bundle, pack_bundle

__all__ = ["check_bundle", "pack_bundle"]
