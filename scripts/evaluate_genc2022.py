"""Score a trained model on the 15 Genc et al. (2022) validation patches, beside the paper's Table 1.

The network comes from catseg3d's model loader and the validation preprocessing from the bundle config;
each patch is predicted whole, in float32 and with the bundle's bfloat16 + channels-last path, so
the table also shows what mixed precision costs at inference. Like the bundle's evaluation and
``catseg3d segment``, each patch is mirrored outward by ``--border`` pixels before the network and
the prediction cropped back (``catseg3d.inferers.ReflectionPaddingInferer``; 0: the plain patch).

    python scripts/evaluate_genc2022.py [--model bundle/models/model.pt] [--dataset_dir data/genc2022]
                                        [--border 32]

``--model`` is a ``model.pt`` or a full training state (``checkpoint_epoch=N.pt``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from monai.bundle import ConfigParser

from catseg3d.engines import trained_state
from catseg3d.inference.model import paper_unet_from_state_dict
from catseg3d.inferers import AutocastInferer, ReflectionPaddingInferer
from catseg3d.io import load_datalist
from catseg3d.metrics import METRICS, confusion_matrix, summarize_confusion_matrices
from catseg3d.metrics.paper import CLASS_NAMES as CLASSES
from catseg3d.metrics.paper import GENC2022_TABLE_1


def load_network_and_preprocessing(model: str, config_path: str = "bundle/configs/train.yaml"):
    """The network in ``model`` (catseg3d's model loader; eval mode) and the bundle's validation
    preprocessing. ``model``: a ``model.pt`` or a ``checkpoint_epoch=N.pt``."""
    config = ConfigParser()
    config.read_config(config_path)
    network = paper_unet_from_state_dict(trained_state(model), model)
    return network.eval(), config.get_parsed_content("validate#preprocessing")


def predict(network, preprocessing, items, inferer, border: int):
    """``(truth, prediction)`` label arrays of whole patches, in MONAI's ``(x, y)`` order; each
    patch mirrored outward by ``border`` pixels for the network (0: as it is)."""
    inferer = ReflectionPaddingInferer(inferer, border)
    with torch.no_grad():
        for item in items:
            data = preprocessing(item)
            pred = inferer(data["image"][None], network).argmax(1)[0]
            yield data["label"][0].numpy().astype(np.int64), pred.numpy()


def predict_confusion_matrices(network, preprocessing, items, inferer, border: int) -> np.ndarray:
    """``(n_images, 3, 3)`` confusion matrices of whole-patch predictions."""
    return np.stack([confusion_matrix(pred, truth, 3)
                     for truth, pred in predict(network, preprocessing, items, inferer, border)])


def table(summary) -> str:
    lines = ["| metric | class | ours (mean ± 95 % CI, n) | paper |", "|---|---|---|---|"]
    for metric in METRICS:
        for name in CLASSES:
            s = summary["mean"][metric][name]
            paper_mean, paper_ci = GENC2022_TABLE_1[metric][name]
            lines.append(f"| {metric} | {name} | {s['mean']:.3f} ± {s['ci95']:.3f} (n={s['n']}) | "
                         f"{paper_mean:.3f} ± {paper_ci:.3f} |")
    return "\n".join(lines)


INFERERS = {"float32": AutocastInferer(enabled=False, channels_last=False),
            "bfloat16 + channels-last": AutocastInferer()}


def evaluate(model: str, dataset_dir: str, config_path: str = "bundle/configs/train.yaml",
             inferers: tuple[str, ...] = tuple(INFERERS),
             border: int = 32) -> dict[str, dict]:
    """Table 1 statistics of ``model`` on the validation list, one summary per inferer name; each
    patch mirrored outward by ``border`` pixels for the network."""
    network, preprocessing = load_network_and_preprocessing(model, config_path)
    items = load_datalist(dataset_dir, "validation")
    return {name: summarize_confusion_matrices(
        predict_confusion_matrices(network, preprocessing, items, INFERERS[name], border), CLASSES) for name in inferers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundle/models/model.pt")
    parser.add_argument("--dataset_dir", default="data/genc2022")
    parser.add_argument("--config", default="bundle/configs/train.yaml")
    parser.add_argument("--border", type=int, default=32, help="pixels mirrored at each patch edge (0: none)")
    args = parser.parse_args()
    for title, summary in evaluate(args.model, args.dataset_dir, args.config, border=args.border).items():
        print(f"\n### {args.model}, {summary['per_image']['dsc'].shape[0]} validation patches, {title}, "
              f"border {args.border}\n")
        print(table(summary))
        pooled = ", ".join(f"{c} {summary['pooled']['dsc'][c]:.3f}" for c in CLASSES)
        print(f"\npooled (micro) DSC: {pooled}")


if __name__ == "__main__":
    main()
