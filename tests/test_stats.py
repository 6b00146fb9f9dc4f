"""Statistics and the Xmipp histogram file."""

from __future__ import annotations

import numpy as np
import pytest
import starfile

from deepres.stats import compute_stats, format_xmd, histogram


def test_stats_match_numpy_and_histogram_bins():
    rng = np.random.default_rng(1)
    r = rng.uniform(2.5, 9.0, (12, 13, 14)).astype(np.float32)
    m = rng.random(r.shape) > 0.4
    s = compute_stats(r, m)
    v = r[m]
    assert s.median_A == pytest.approx(float(np.median(v)))
    assert s.highest_A == float(v.min()) and s.lowest_A == float(v.max())
    assert s.n_voxels == int(m.sum())
    n_bins = max(1, round(4 * (v.max() - v.min())))
    assert len(s.counts) == n_bins and s.counts.sum() == m.sum()
    assert s.edges_A[0] == pytest.approx(v.min()) and s.edges_A[-1] == pytest.approx(v.max())
    # bin widths about 0.25 A
    assert np.diff(s.edges_A).mean() == pytest.approx(0.25, rel=0.1)
    # each count equals the number of values in [edge_i, edge_i+1) (last bin closed)
    e = s.edges_A
    for i, c in enumerate(s.counts):
        hi_ok = v <= e[i + 1] if i == len(s.counts) - 1 else v < e[i + 1]
        assert c == int(((v >= e[i]) & hi_ok).sum())


def test_all_equal_values_give_one_bin():
    counts, edges = histogram(np.full(17, 4.2, np.float32))
    assert counts.tolist() == [17] and edges[0] == pytest.approx(4.2)


def test_xmd_parses_with_starfile(tmp_path):
    rng = np.random.default_rng(2)
    r = rng.uniform(3.0, 6.0, (8, 8, 8)).astype(np.float32)
    m = np.ones(r.shape, bool)
    s = compute_stats(r, m)
    text = format_xmd(s)
    assert text.startswith("# XMIPP_STAR_1 *")
    assert "\ndata_\n" in text and "\nloop_\n" in text
    p = tmp_path / "h.xmd"
    p.write_text(text)
    df = starfile.read(p)
    assert list(df.columns) == ["count", "x"]
    assert int(df["count"].sum()) == m.sum()
    assert np.allclose(df["x"].to_numpy(), s.edges_A[:-1], atol=1e-5)
