"""What each ``catseg3d segment`` option does to accuracy and time on the 15 real validation patches.

Every option runs the same trained model (default ``bundle/``) through
:class:`catseg3d.inference.predictor.Predictor` on the authors' 512 x 512 validation patches and is
scored like the paper's Table 1 (mean DSC / precision / recall over the patches). Windows of 256
pixels on 512-pixel patches reproduce, at patch scale, 512-pixel windows on 1024 x 512 slices:
blending happens in every patch.

    python scripts/compare_inference_options.py [--model bundle] [--dataset_dir data/genc2022]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from catseg3d.inference import Predictor, load_segmentation_model, remove_small_components
from catseg3d.io import load_datalist, read_nifti
from catseg3d.metrics import confusion_matrix, summarize_confusion_matrices

OPTIONS = {
    "whole patch (default)": dict(window=None),
    "whole patch, no mirrored border (--border 0)": dict(window=None, border=0),
    "whole patch, float32": dict(window=None, precision="float32"),
    "SW 256, overlap 0.5, gaussian": dict(window=256, overlap=0.5),
    "SW 256, overlap 0.5, spline (paper)": dict(window=256, overlap=0.5, blend="spline"),
    "SW 256, overlap 0.25, gaussian (MONAI default overlap)": dict(window=256, overlap=0.25),
    "whole patch + flip TTA": dict(window=None, tta=True),
}
MIN_SIZES = (10, 30)  # pixels; a 1 nm Pt disc at 0.12 nm/pixel has ~55


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--dataset_dir", default="data/genc2022")
    args = parser.parse_args()
    model = load_segmentation_model(args.model)
    items = load_datalist(args.dataset_dir, "validation")
    images = [read_nifti(item["image"]).array for item in items]
    truths = [read_nifti(item["label"]).array.astype(np.int64) for item in items]
    rows = []

    def score(name, predictions, seconds):
        matrices = np.stack([confusion_matrix(p, t, 3) for p, t in zip(predictions, truths)])
        summary = summarize_confusion_matrices(matrices, model.class_names)["mean"]
        cells = [f"{summary[m][c]['mean']:.3f}" for m in ("dsc", "precision", "recall") for c in model.class_names[1:]]
        timing = f"{seconds:.2f}" if seconds is not None else "(as the default)"
        rows.append(f"| {name} | {' | '.join(cells)} | {timing} |")

    for name, options in OPTIONS.items():
        predictor = Predictor(model, **options)
        predictor(images[0][None])  # warm-up
        started = time.perf_counter()
        predictions = [predictor(image[None])[0].argmax(0).astype(np.uint8) for image in images]
        score(name, predictions, (time.perf_counter() - started) / len(images))
        if name.endswith("(default)"):
            for min_size in MIN_SIZES:
                cleaned = [p.copy() for p in predictions]
                for p in cleaned:
                    remove_small_components(p, min_size)
                score(f"whole patch + min-size {min_size} px", cleaned, None)
    print(f"{len(images)} validation patches, model {model.path}\n")
    print("| option | DSC alumina | DSC Pt | precision alumina | precision Pt | recall alumina | recall Pt | s/patch |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
