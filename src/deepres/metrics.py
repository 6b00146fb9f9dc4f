"""Accuracy metrics of a local-resolution map against a known truth, and per-residue summaries.

All functions work on plain `(z, y, x)` numpy arrays on one grid; they never resample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import ndimage, stats

__all__ = [
    "score_map",
    "aggregate",
    "pearson",
    "spearman",
    "valid_estimate",
    "atom_values",
    "per_residue",
]


def valid_estimate(values: np.ndarray) -> np.ndarray:
    """True where ``values`` holds an estimate: finite and non-zero (0 means "not evaluated")."""
    v = np.asarray(values)
    return np.isfinite(v) & (v != 0)


def _nan_to_none(x: float) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else x


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D samples; NaN when either is constant or has < 2 values.

    Parameters
    ----------
    a, b : np.ndarray, shape (n,)
        Paired samples.

    Returns
    -------
    float
        The correlation coefficient, or NaN when it is undefined.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size < 2 or a.size != b.size:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if den <= 0 or not math.isfinite(den):
        return float("nan")
    return float(np.clip(np.dot(a, b) / den, -1.0, 1.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks, ties handled); NaN when undefined."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size < 2 or a.size != b.size:
        return float("nan")
    return pearson(stats.rankdata(a), stats.rankdata(b))


#: A truth that varies by less than this (Å, max − min over the scored voxels) is uniform for the
#: correlations: their r and ρ are undefined, as for an exactly constant field. A smooth field
#: drawn with almost no amplitude (benchmark case low-06 spans 0.0014 Å) would otherwise give a
#: correlation with float rounding; 0.1 Å is a third of the smallest MAE target.
MIN_TRUTH_SPREAD_A = 0.1


def truth_varies(truth: np.ndarray) -> bool:
    """Whether a truth spans at least :data:`MIN_TRUTH_SPREAD_A` (else it counts as uniform and a
    correlation with it is undefined)."""
    return truth.size > 0 and float(truth.max() - truth.min()) >= MIN_TRUTH_SPREAD_A


def score_map(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """Compare a local-resolution map with the truth inside a mask.

    Parameters
    ----------
    estimate : np.ndarray, shape (z, y, x)
        Estimated local resolution in Å. Zero, NaN or inf means "no estimate" at that voxel.
    truth : np.ndarray, shape (z, y, x)
        True local resolution in Å on the same grid.
    mask : np.ndarray, shape (z, y, x)
        Voxels to score: those > 0.

    Returns
    -------
    dict
        ``n_mask`` (voxels in the mask), ``n_scored`` (those with an estimate), ``coverage``
        (n_scored / n_mask), and over the scored voxels: ``mae_A`` (mean absolute error),
        ``median_ae_A``, ``rmse_A``, ``bias_A`` (mean of estimate − truth), ``pearson``,
        ``spearman``, ``est_median_A``, ``truth_median_A`` (over the whole mask), and
        ``within_1A`` (fraction of scored voxels with |error| ≤ 1 Å). Undefined values
        (no scored voxel; a constant estimate, or a truth spanning less than
        :data:`MIN_TRUTH_SPREAD_A`, for a correlation) are ``None``.

    Raises
    ------
    ValueError
        If the three arrays do not have the same shape.

    Examples
    --------
    >>> t = np.full((4, 4, 4), 5.0); m = np.ones_like(t)
    >>> score_map(t + 1.0, t, m)["bias_A"]
    1.0
    """
    estimate = np.asarray(estimate)
    truth = np.asarray(truth)
    mask = np.asarray(mask)
    if not (estimate.shape == truth.shape == mask.shape):
        raise ValueError(
            f"shapes differ: estimate {estimate.shape}, truth {truth.shape}, mask {mask.shape}"
        )
    inside = mask > 0
    n_mask = int(inside.sum())
    est = estimate[inside].astype(np.float64)
    tru = truth[inside].astype(np.float64)
    ok = valid_estimate(est)
    n_scored = int(ok.sum())
    out: dict = {
        "n_mask": n_mask,
        "n_scored": n_scored,
        "coverage": (n_scored / n_mask) if n_mask else None,
        "truth_median_A": _nan_to_none(np.median(tru)) if n_mask else None,
    }
    if n_scored == 0:
        out.update(mae_A=None, median_ae_A=None, rmse_A=None, bias_A=None, pearson=None,
                   spearman=None, est_median_A=None, within_1A=None)
        return out
    e, t = est[ok], tru[ok]
    err = e - t
    ae = np.abs(err)
    varies = truth_varies(t)
    out.update(
        mae_A=float(ae.mean()),
        median_ae_A=float(np.median(ae)),
        rmse_A=float(np.sqrt(np.mean(err**2))),
        bias_A=float(err.mean()),
        pearson=_nan_to_none(pearson(e, t)) if varies else None,
        spearman=_nan_to_none(spearman(e, t)) if varies else None,
        est_median_A=float(np.median(e)),
        within_1A=float(np.mean(ae <= 1.0)),
    )
    return out


_AGG_KEYS = ("mae_A", "median_ae_A", "rmse_A", "bias_A", "pearson", "spearman", "coverage", "within_1A")


def aggregate(scores: Iterable[Mapping], times_s: Sequence[float] | None = None) -> dict:
    """Summarise per-case scores of one estimator over a set of cases.

    Parameters
    ----------
    scores : iterable of dict
        Outputs of :func:`score_map` (``None`` entries are skipped per metric).
    times_s : sequence of float, optional
        Per-case run times in seconds.

    Returns
    -------
    dict
        ``n_cases``; for each metric ``<key>_mean`` and ``<key>_median`` over the cases that
        define it; ``time_s_total`` and ``time_s_mean`` when times are given.
    """
    scores = list(scores)
    out: dict = {"n_cases": len(scores)}
    for key in _AGG_KEYS:
        vals = np.array([s[key] for s in scores if s.get(key) is not None], dtype=np.float64)
        out[f"{key}_mean"] = float(vals.mean()) if vals.size else None
        out[f"{key}_median"] = float(np.median(vals)) if vals.size else None
        if vals.size < len(scores):
            out[f"{key}_n"] = int(vals.size)
    if times_s is not None:
        t = np.asarray(list(times_s), dtype=np.float64)
        out["time_s_total"] = float(t.sum()) if t.size else 0.0
        out["time_s_mean"] = float(t.mean()) if t.size else None
    return out


#: FSC of the half maps at or above which a case's labels count as supported by its data.
SUPPORT_FSC = 0.143
#: Mask voxels per case kept for the benchmark's pooled scores (a fixed random subset, so large maps
#: do not dominate).
POOL_VOXELS = 20000


def shell_fsc(half1: np.ndarray, half2: np.ndarray, mask: np.ndarray, voxel_size_A: float,
              resolution_A: float, width_Ainv: float) -> float:
    """Fourier shell correlation of two half maps, both multiplied by ``mask``, over the shell of
    frequencies ``[1/resolution_A - width_Ainv, 1/resolution_A]`` (Å⁻¹).

    The benchmark uses it to ask whether the data could show a label at all: at the truth's best
    resolutions (its 10th percentile), in the last ``width`` of the pass band below the cut-off,
    the half maps of a case whose labels are supported correlate at FSC >= :data:`SUPPORT_FSC`
    (0.143, the usual resolution criterion). Below that the content the label promises is under
    the noise, and no estimator, ours or a half-map one, can see it.
    """
    from deepres.filters import radial_frequency

    m = np.asarray(mask, dtype=np.float32)
    a = np.fft.rfftn(np.asarray(half1, dtype=np.float32) * m)
    b = np.fft.rfftn(np.asarray(half2, dtype=np.float32) * m)
    k = radial_frequency(m.shape) / np.float32(voxel_size_A)
    hi = 1.0 / float(resolution_A)
    shell = (k >= hi - float(width_Ainv)) & (k <= hi)
    if not shell.any():
        return float("nan")
    num = float(np.real(a[shell] * np.conj(b[shell])).sum())
    den = math.sqrt(float((np.abs(a[shell]) ** 2).sum()) * float((np.abs(b[shell]) ** 2).sum()))
    return num / den if den > 0 else float("nan")


def atom_values(
    values: np.ndarray,
    voxel_size_A: float,
    origin_A: Sequence[float],
    atom_xyz_A: np.ndarray,
) -> np.ndarray:
    """Trilinear interpolation of a map at atom positions.

    Parameters
    ----------
    values : np.ndarray, shape (z, y, x)
        The map (e.g. local resolution in Å).
    voxel_size_A : float
        Grid spacing in Å.
    origin_A : sequence of 3 floats
        `(z, y, x)` position in Å of the centre of voxel ``values[0, 0, 0]``.
    atom_xyz_A : np.ndarray, shape (n, 3)
        Atom coordinates in Å, in PDB order `(x, y, z)`.

    Returns
    -------
    np.ndarray, shape (n,)
        Interpolated values; NaN for atoms outside the box. Voxels holding 0 ("no estimate")
        take part in the interpolation as they are, so callers should drop atoms whose 8
        neighbours are not all valid if that matters (see :func:`per_residue`).
    """
    xyz = np.asarray(atom_xyz_A, dtype=np.float64).reshape(-1, 3)
    zyx = xyz[:, ::-1]
    idx = (zyx - np.asarray(origin_A, dtype=np.float64)[None, :]) / float(voxel_size_A)
    shape = np.asarray(values.shape)
    inside = np.all((idx >= 0) & (idx <= shape[None, :] - 1), axis=1)
    out = np.full(len(xyz), np.nan)
    if inside.any():
        out[inside] = ndimage.map_coordinates(
            np.asarray(values, dtype=np.float64), idx[inside].T, order=1, mode="nearest"
        )
    return out


def per_residue(
    values: np.ndarray,
    voxel_size_A: float,
    origin_A: Sequence[float],
    structure_path: str,
) -> dict:
    """Per-residue median of a local-resolution map over atoms, next to the residue's B-factor.

    An atom counts when it lies in the box and all 8 voxels around it hold an estimate
    (finite, non-zero); a residue counts when at least one atom does.

    Parameters
    ----------
    values : np.ndarray, shape (z, y, x)
        Local resolution in Å.
    voxel_size_A : float
        Grid spacing in Å.
    origin_A : sequence of 3 floats
        `(z, y, x)` position in Å of voxel ``[0, 0, 0]``.
    structure_path : str
        PDB/mmCIF file readable by gemmi; only the first model is used.

    Returns
    -------
    dict
        ``residues`` (list of ``"chain:seqid"``), ``resolution_A`` and ``bfactor`` (lists, one
        per counted residue), ``n_residues``, ``n_residues_total``, ``spearman`` (rank
        correlation of the two, ``None`` when undefined), ``n_distinct_bfactors`` (a model with
        one or two B values cannot rank its residues by order) and
        ``spearman_vs_centre_distance``: rank correlation between the residue's value and the
        distance of its atoms' centroid from the centroid of all atoms (core vs periphery);
        ``spearman_vs_exposure``: rank correlation with the residue's exposure, the inverse of
        its weighted contact number (:func:`residue_exposure`), buried core vs exposed surface
        whatever the molecule's shape (a central cavity or several subunits included).
    """
    import gemmi

    st = gemmi.read_structure(str(structure_path))
    st.remove_hydrogens()
    model = st[0]
    valid = valid_estimate(values).astype(np.float64)
    labels, res_val, res_b, res_xyz, res_idx = [], [], [], [], []
    exposure = residue_exposure(model)
    total = 0
    for chain in model:
        for res in chain:
            if res.is_water():
                continue
            total += 1
            k = total - 1
            xyz = np.array([a.pos.tolist() for a in res], dtype=np.float64)
            if xyz.size == 0:
                continue
            v = atom_values(values, voxel_size_A, origin_A, xyz)
            good = atom_values(valid, voxel_size_A, origin_A, xyz)
            keep = np.isfinite(v) & (good > 0.999)
            if not keep.any():
                continue
            labels.append(f"{chain.name}:{res.seqid.num}{res.seqid.icode.strip()}")
            res_val.append(float(np.median(v[keep])))
            res_b.append(float(np.mean([a.b_iso for a in res])))
            res_xyz.append(xyz.mean(axis=0))
            res_idx.append(k)
    rho = spearman(np.array(res_val), np.array(res_b)) if len(res_val) >= 3 else float("nan")
    all_xyz = np.array([a.pos.tolist() for ch in model for r in ch if not r.is_water() for a in r], dtype=np.float64)
    if len(res_val) >= 3:
        dist = np.linalg.norm(np.array(res_xyz) - all_xyz.mean(axis=0), axis=1)
        rho_d = spearman(np.array(res_val), dist)
    else:
        rho_d = float("nan")
    rho_e = spearman(np.array(res_val), exposure[res_idx]) if len(res_val) >= 3 else float("nan")
    return {
        "residues": labels,
        "resolution_A": res_val,
        "bfactor": res_b,
        "n_residues": len(labels),
        "n_residues_total": total,
        "spearman": _nan_to_none(rho),
        "n_distinct_bfactors": int(len({round(b, 2) for b in res_b})),
        "spearman_vs_centre_distance": _nan_to_none(rho_d),
        "spearman_vs_exposure": _nan_to_none(rho_e),
    }


def residue_exposure(model) -> np.ndarray:
    """Exposure of each non-water residue of a gemmi model, in the order :func:`per_residue` walks
    them: ``1 / WCN``, with WCN = Σ 1/d² over the other residues (d in Å between their Cα atoms, or
    the atoms' centroid for a residue without Cα, e.g. a ligand): the weighted contact number of Lin
    et al. (Proteins 2008), a measure of burial that tracks crystallographic B-factors (buried
    residues are ordered, exposed loops are not) without needing them.
    """
    pts = []
    for chain in model:
        for res in chain:
            if res.is_water():
                continue
            ca = res.find_atom("CA", "*")
            xyz = [a.pos.tolist() for a in res]
            pts.append(ca.pos.tolist() if ca is not None else (np.mean(xyz, axis=0) if xyz else [np.nan] * 3))
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
    wcn = np.zeros(len(p))
    for i0 in range(0, len(p), 512):  # blocks: memory O(512 n), not O(n²)
        d2 = ((p[i0:i0 + 512, None, :] - p[None, :, :]) ** 2).sum(-1)
        d2[np.arange(d2.shape[0]), np.arange(i0, i0 + d2.shape[0])] = np.inf
        wcn[i0:i0 + 512] = np.nansum(1.0 / d2, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(wcn > 0, 1.0 / wcn, np.inf)
