"""scripts/cross_validation.py pools the folds' per-image scores exactly as a numpy computation does."""

from __future__ import annotations

import csv
import json
import numpy as np
import pytest
from conftest import run_script

COLUMNS = [f"{m}_{c}" for c in ("background", "alumina", "pt") for m in ("dsc", "precision", "recall")] + [
    "rhd90_nm_alumina", "rhd90_nm_pt"]


def write_scores(path, values, pt_status=None, names=None):
    """An evaluation's per-image CSV as the harness records it (the report's per_image.csv): name,
    RHD statuses, the score columns, one row per image."""
    pt_status = pt_status or ["defined"] * len(values)
    names = names or [f"val_{i:03d}_label.nii.gz" for i in range(len(values))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "rhd_status_alumina", "rhd_status_pt", *COLUMNS])
        for name, row, status in zip(names, values, pt_status):
            writer.writerow([name, "defined", status, *(repr(float(v)) for v in row)])


def run(runs, *args):
    return run_script("cross_validation.py", "demo", "--folds", "3", "--record", str(runs),
                      "--evaluations", "eval_last", *args)


def test_folds_are_pooled_over_images_and_compared_with_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    folds = [rng.uniform(0.8, 1.0, (n, len(COLUMNS))) for n in (4, 5, 3)]
    folds[1][2, 2] = np.nan  # a score left undefined
    folds[2][0, -1] = np.nan  # Pt in one of prediction and truth only: its RHD is undefined, and counted
    pt_dsc, pt_precision, pt_recall = (COLUMNS.index(c) for c in ("dsc_pt", "precision_pt", "recall_pt"))
    folds[2][0, [pt_dsc, pt_precision, pt_recall]] = 0.0, 0.0, np.nan  # no Pt in the truth, Pt predicted: 0
    folds[0][3, [pt_dsc, pt_precision, pt_recall]] = np.nan, np.nan, np.nan  # no Pt in either
    folds[1][4, [pt_dsc, pt_precision, pt_recall]] = 0.0, np.nan, 0.0  # Pt in the truth, none predicted
    for k, values in enumerate(folds):
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", values,
                     ["undefined", "defined", "defined"] if k == 2 else None)
    reference = np.vstack([folds[0][:2], rng.uniform(0.0, 0.1, (3, len(COLUMNS)))])
    reference[:, -1] = np.nan  # no Pt anywhere in the reference images: no Pt RHD to compare
    write_scores(tmp_path / "demo_ref" / "eval_last.csv", reference, ["absent"] * 5)

    result = run(tmp_path, "--reference", "demo_ref")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "demo_cv_folds0-2.json").read_text(), parse_constant=pytest.fail)[0]  # strict JSON
    pooled = np.vstack(folds)
    assert summary["n_images"] == 12 and summary["reference_n_images"] == 5
    for j, column in enumerate(COLUMNS):
        finite = pooled[:, j][np.isfinite(pooled[:, j])]
        got = summary["cross_validation"][column]
        assert got["n"] == finite.size and np.isclose(got["mean"], finite.mean())
        assert np.isclose(got["ci95"], 1.96 * finite.std(ddof=1) / np.sqrt(finite.size))
        assert [m[column] for m in summary["fold_means"]] == [float(np.nanmean(f[:, j])) for f in folds]
        if column == "rhd90_nm_pt":
            assert summary["reference"][column]["mean"] is None and summary["agrees"][column] is None
            continue
        ref_mean = reference[:, j].mean()
        assert np.isclose(summary["reference"][column]["mean"], ref_mean)
        assert summary["agrees"][column] == bool(abs(ref_mean - finite.mean()) <= got["ci95"])
    assert summary["cross_validation"]["rhd90_nm_pt"]["n_undefined"] == 1
    assert summary["cross_validation"]["rhd90_nm_alumina"]["n_undefined"] == 0
    assert summary["cross_validation"]["dsc_pt"]["n_without_pt"] == 2
    assert summary["cross_validation"]["dsc_pt"]["n_false_pt"] == 1
    with_pt = np.isfinite(pooled[:, pt_recall])  # the images with Pt in the truth: 10, one with none predicted
    for column, n in (("dsc_pt", 10), ("precision_pt", 9)):  # precision is undefined where no Pt is predicted
        values = pooled[with_pt, COLUMNS.index(column)]
        values = values[np.isfinite(values)]
        got = summary["cross_validation"][column]["with_pt"]
        assert got["n"] == n == values.size and np.isclose(got["mean"], values.mean())
        assert np.isclose(got["ci95"], 1.96 * values.std(ddof=1) / np.sqrt(values.size))
    cells = {c: summary["cross_validation"][c]["with_pt"] for c in ("dsc_pt", "precision_pt")}
    folds_row, reference_row = result.stdout.splitlines()[2:4]
    assert (f"(1 of 2 Pt-free images with false Pt: 0) (images with Pt: {cells['dsc_pt']['mean']:.3f} ± "
            f"{cells['dsc_pt']['ci95']:.3f})") in folds_row
    assert f"(images with Pt: {cells['precision_pt']['mean']:.3f} ± {cells['precision_pt']['ci95']:.3f})" in folds_row
    assert "images with Pt" not in reference_row  # Pt in the truth of every reference image
    assert not any(summary["agrees"].values())  # the reference was drawn far below the folds
    assert "(outside)" in result.stdout and "12 held-out images" in result.stdout and "(1 undefined)" in result.stdout


def test_images_selects_patches_by_name(tmp_path):
    rng = np.random.default_rng(1)
    folds = [rng.uniform(0.5, 1.0, (4, len(COLUMNS))) for _ in range(3)]
    names = [["train_000", "val_000", "train_001", "val_001"], ["train_002"] * 4, ["val_002", "val_003", "x", "y"]]
    for k, (values, fold_names) in enumerate(zip(folds, names)):
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", values, names=fold_names)
    result = run(tmp_path, "--images", "val_")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "demo_cv_val_folds0-2.json").read_text(), parse_constant=pytest.fail)[0]
    chosen = np.vstack([folds[0][[1, 3]], folds[2][[0, 1]]])
    assert summary["n_images"] == 4 and summary["fold_means"][1]["dsc_pt"] is None  # fold 1 holds none
    for j, column in enumerate(COLUMNS):
        assert np.isclose(summary["cross_validation"][column]["mean"], chosen[:, j].mean())


def test_a_missing_fold_is_named_in_one_line(tmp_path):
    write_scores(tmp_path / "demo_fold0" / "eval_last.csv", np.full((2, len(COLUMNS)), 0.9))
    result = run(tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"cross_validation: {tmp_path}/demo_fold1/eval_last.csv: "
                                     "no per-image scores; score the run with scripts/experiment.py")
    assert not list(tmp_path.glob("*.json"))


def test_first_fold_pools_a_later_run_of_folds(tmp_path):
    """--first-fold 1 --folds 2 reads folds 1 and 2 only (there is no fold 0 here)."""
    rng = np.random.default_rng(3)
    folds = {k: rng.uniform(0.5, 1.0, (3, len(COLUMNS))) for k in (1, 2, 3)}
    for k, values in folds.items():
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", values)
    result = run_script("cross_validation.py", "demo", "--first-fold", "1", "--folds", "2",
                        "--record", str(tmp_path), "--evaluations", "eval_last")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "demo_cv_folds1-2.json").read_text(), parse_constant=pytest.fail)[0]
    assert summary["folds"] == [1, 2] and summary["n_images"] == 6
    pooled = np.vstack([folds[1], folds[2]])
    for j, column in enumerate(COLUMNS):
        assert np.isclose(summary["cross_validation"][column]["mean"], pooled[:, j].mean())
    assert "demo: folds 1-2, 6 held-out images" in result.stdout


def test_against_gives_paired_differences_on_the_same_images(tmp_path):
    """Fold k of one recipe against fold k of another, images matched by name whatever their order;
    a pair with an undefined score is left out; the shift drawn for alumina DSC is significant."""
    rng = np.random.default_rng(2)
    names = [[f"val_{k}{i}" for i in range(n)] for k, n in enumerate((6, 5, 7))]
    mine = [rng.uniform(0.7, 0.9, (len(n), len(COLUMNS))) for n in names]
    theirs = [m + rng.normal(0.0, 0.01, m.shape) for m in mine]
    alumina = COLUMNS.index("dsc_alumina")
    for m in mine:
        m[:, alumina] += 0.05
    theirs[1][3, COLUMNS.index("dsc_pt")] = np.nan  # undefined in one run: the pair is left out
    for k in range(3):
        order = rng.permutation(len(names[k]))
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", mine[k], names=names[k])
        write_scores(tmp_path / f"other_fold{k}" / "eval_last.csv", theirs[k][order],
                     names=[names[k][i] for i in order])
    result = run(tmp_path, "--against", "other")
    assert result.returncode == 0, result.stderr
    paired = json.loads((tmp_path / "demo_cv_folds0-2_against_other.json").read_text(), parse_constant=pytest.fail)[0]["paired"]
    differences = np.vstack(mine) - np.vstack(theirs)
    for j, column in enumerate(COLUMNS):
        finite = differences[:, j][np.isfinite(differences[:, j])]
        got = paired[column]
        assert got["n"] == finite.size and np.isclose(got["mean"], finite.mean())
        assert np.isclose(got["ci95"], 1.96 * finite.std(ddof=1) / np.sqrt(finite.size))
        assert got["significant"] == (abs(finite.mean()) > got["ci95"])
    assert paired["dsc_pt"]["n"] == 17 and paired["dsc_alumina"]["n"] == 18
    assert paired["dsc_alumina"]["significant"] and paired["dsc_alumina"]["mean"] > 0.04
    assert "demo - other: paired, same images" in result.stdout


def test_against_runs_scored_on_other_images_fails_in_one_line(tmp_path):
    for k in range(3):
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", np.full((2, len(COLUMNS)), 0.9), names=["a", "b"])
        write_scores(tmp_path / f"other_fold{k}" / "eval_last.csv", np.full((2, len(COLUMNS)), 0.9), names=["a", "c"])
    result = run(tmp_path, "--against", "other")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"cross_validation: {tmp_path}/other_fold0/eval_last.csv: "
                                     "other images than the run compared with (b)")
    assert not list(tmp_path.glob("*.json"))


def test_against_evaluation_pairs_with_the_other_runs_named_folder(tmp_path):
    """``--against-evaluation eval``: NAME's eval_last against OTHER's eval, never OTHER's eval_last;
    the summary gets its own file so the same-folder comparison is kept."""
    rng = np.random.default_rng(3)
    mine = [rng.uniform(0.7, 0.9, (4, len(COLUMNS))) for _ in range(3)]
    chosen = [rng.uniform(0.7, 0.9, (4, len(COLUMNS))) for _ in range(3)]
    for k in range(3):
        write_scores(tmp_path / f"demo_fold{k}" / "eval_last.csv", mine[k])
        write_scores(tmp_path / f"other_fold{k}" / "eval.csv", chosen[k])
        write_scores(tmp_path / f"other_fold{k}" / "eval_last.csv", np.zeros((4, len(COLUMNS))))
    result = run(tmp_path, "--against", "other", "--against-evaluation", "eval")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.glob("*.json")] == ["demo_cv_folds0-2_against_other_eval.json"]
    paired = json.loads((tmp_path / "demo_cv_folds0-2_against_other_eval.json").read_text())[0]["paired"]
    differences = np.vstack(mine) - np.vstack(chosen)
    for j, column in enumerate(COLUMNS):
        assert np.isclose(paired[column]["mean"], differences[:, j].mean()), column
    assert "| eval_last | demo - other eval: paired, same images |" in result.stdout
    alone = run_script("cross_validation.py", "demo", "--against-evaluation", "eval",
                       "--record", str(tmp_path))
    assert alone.returncode == 2 and "--against-evaluation needs --against" in alone.stderr


@pytest.mark.parametrize("folds", [["--folds", "0"], ["--first-fold", "-1"]])
def test_an_empty_or_negative_fold_range_is_refused(tmp_path, folds):
    result = run_script("cross_validation.py", "demo", *folds, "--record", str(tmp_path))
    assert result.returncode == 2 and "--folds needs at least 1 and --first-fold at least 0" in result.stderr
    assert not list(tmp_path.glob("*.json"))


def test_pt_particles_are_summed_over_the_folds_where_recorded(tmp_path):
    rng = np.random.default_rng(3)
    counts = []
    for k, n in enumerate((3, 4, 2)):
        path = tmp_path / f"demo_fold{k}" / "eval_last.csv"
        write_scores(path, rng.uniform(0.8, 1.0, (n, len(COLUMNS))))
        rows = list(csv.reader(path.open()))
        fold_counts = rng.integers(0, 9, (n, 3))
        fold_counts[:, 1] = np.minimum(fold_counts[:, 1], fold_counts[:, 0])  # found <= true
        counts.append(fold_counts)
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow([*rows[0], "particles_true_pt", "particles_found_pt", "particles_false_pt"])
            writer.writerows([*row, *map(str, c)] for row, c in zip(rows[1:], fold_counts))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "demo_cv_folds0-2.json").read_text())[0]["cross_validation"]["pt_particles"]
    true, found, false = np.vstack(counts).sum(0).tolist()
    assert summary == {"true": true, "found": found, "false": false, "recall": found / true}
    assert f"| {found} of {true} ({found / true:.3f}) | {false} |" in result.stdout
    # an older record without particle columns is summarised without them
    write_scores(tmp_path / "demo_fold1" / "eval_last.csv", rng.uniform(0.8, 1.0, (4, len(COLUMNS))))
    older = run(tmp_path)
    assert older.returncode == 0 and "| not recorded | not recorded |" in older.stdout
