"""ilastik's pixel classification, as a baseline: a random forest on multiscale pixel features.

What many materials scientists use today: a few brush strokes, then a random forest on Gaussian-
smoothed intensity, edge and texture (Hessian eigenvalue) features at several scales, trained in
seconds. Features are scikit-image's ``multiscale_basic_features`` (scales 0.7 to 10 pixels, as
ilastik's default set spans), the forest scikit-learn's ``RandomForestClassifier`` with ilastik's
100 trees. Needs the ``baselines`` extra (``pip install catseg3d[baselines]``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from catseg3d.io.labels import UNLABELLED


class PixelForest:
    """Random-forest pixel classifier on multiscale features of 8-bit 2D images.

    Args:
        sigma_min, sigma_max: smallest and largest Gaussian scale in pixels.
        trees: number of trees.
        samples_per_class: at most this many labelled pixels of each class are drawn for training
            (the forest's cost grows with them; ilastik users label far fewer).
        seed: seed of the pixel draw and the forest.
        jobs: worker threads of the forest.
    """

    def __init__(self, sigma_min: float = 0.7, sigma_max: float = 10.0, trees: int = 100,
                 samples_per_class: int = 20000, seed: int = 0, jobs: int = 2) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.forest = RandomForestClassifier(n_estimators=trees, n_jobs=jobs, random_state=seed)

    def features(self, image: np.ndarray) -> np.ndarray:
        """``(y, x, F)`` float32 features of a ``(y, x)`` image."""
        from skimage.feature import multiscale_basic_features

        return multiscale_basic_features(np.asarray(image, np.float32) / 255.0, intensity=True, edges=True,
                                         texture=True, sigma_min=self.sigma_min,
                                         sigma_max=self.sigma_max).astype(np.float32)

    def fit(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> "PixelForest":
        """Train on the labelled pixels of ``images`` (``labels``: class indices, 255 unlabelled).

        Raises:
            ValueError: no labelled pixel, or a label image whose shape differs from its image's.
        """
        rows, classes = [], []
        for image, label in zip(images, labels):
            if np.shape(image) != np.shape(label):
                raise ValueError(f"labels of shape {np.shape(label)} for an image of shape {np.shape(image)}")
            labelled = np.asarray(label) != UNLABELLED
            if labelled.any():
                rows.append(self.features(image)[labelled])
                classes.append(np.asarray(label)[labelled])
        if not rows:
            raise ValueError("no labelled pixel")
        x, y = np.concatenate(rows), np.concatenate(classes)
        rng = np.random.default_rng(self.seed)
        keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:self.samples_per_class] for c in np.unique(y)])
        self.forest.fit(x[keep], y[keep])
        return self

    def predict(self, image: np.ndarray) -> np.ndarray:
        """``(y, x)`` uint8 class indices of a ``(y, x)`` image."""
        features = self.features(image)
        return self.forest.predict(features.reshape(-1, features.shape[-1])).reshape(np.shape(image)).astype(np.uint8)
