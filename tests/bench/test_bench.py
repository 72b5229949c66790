"""The benchmark protocol: its plan, determinism across workers, tables and files."""
import numpy as np
import pytest

from galcube_lib import bench

pytestmark = pytest.mark.slow


def test_plan_covers_every_bin_and_class():
    tasks = bench.plan(n_per_bin=4)
    assert len(tasks) == 4 * len(bench.SNR_BINS)
    bins = {t["snr_bin"] for t in tasks}
    assert bins == {"(2.5,3]", "(3,3.5]", "(3.5,4]", "(4,5]", "(5,6]", "(6,8]", "(8,10]"}
    for b in bins:
        classes = [t["class"] for t in tasks if t["snr_bin"] == b]
        assert classes.count("resolved") == 2 and classes.count("unresolved") == 2
    assert [t["index"] for t in tasks] == list(range(len(tasks)))


@pytest.fixture(scope="module")
def results():
    return bench.run(n_per_bin=2, methods=("gaussian", "pca"), rng=5, workers=1, progress=False)


def test_rows_respect_their_bins_and_classes(results):
    assert len(results) == 2 * 2 * len(bench.SNR_BINS)
    for _, row in results.iterrows():
        lo, hi = (float(v) for v in row["snr_bin"].strip("(]").split(","))
        assert lo <= row["peak_snr"] <= hi
        # resolved: R_e >= beam / 2 = 1.875 px
        assert (row["r_eff_px"] >= 1.875) == (row["class"] == "resolved")
    assert np.isfinite(results[["nrmse", "flux_conservation", "null_flux_sigma"]].to_numpy()).all()
    # Beam-matched smoothing always beats the raw noisy cube.
    assert (results.loc[results.method == "gaussian", "nrmse"] < 1).all()


def test_results_do_not_depend_on_the_workers(results):
    parallel = bench.run(n_per_bin=2, methods=("gaussian", "pca"), rng=5, workers=2, progress=False)
    columns = [c for c in results.columns if c != "time_s"]
    assert results[columns].equals(parallel[columns])


def test_rng_takes_every_form_of_spec_7(results):
    columns = [c for c in results.columns if c != "time_s"]
    gaussian = results[results.method == "gaussian"][columns].reset_index(drop=True)
    # an int is the entropy of the root SeedSequence: the SeedSequence itself gives the same cubes
    seq = bench.run(n_per_bin=2, methods="gaussian", rng=np.random.SeedSequence(5), workers=1,
                    progress=False)
    assert seq[columns].equals(gaussian)
    # a Generator seeds the run from one draw: the same state gives the same run
    runs = [bench.run(n_per_bin=2, methods="gaussian", rng=np.random.default_rng(7), workers=1,
                      progress=False)[columns] for _ in range(2)]
    assert runs[0].equals(runs[1]) and not runs[0].equals(gaussian)
    for bad, error in ((-1, ValueError), (True, TypeError), ("5", TypeError)):
        with pytest.raises(error, match="rng"):
            bench.run(n_per_bin=2, methods="gaussian", rng=bad, workers=1, progress=False)


def test_summary_and_files(results, tmp_path):
    table = bench.summary(results)
    assert table.shape[0] == 2 * 2 * len(bench.SNR_BINS)
    one = results[(results.method == "pca") & (results["class"] == "resolved") & (results.snr_bin == "(4,5]")]
    assert table.loc[("pca", "resolved", "(4,5]"), ("mean", "nrmse")] == pytest.approx(one.nrmse.mean())
    files = bench.save(results, tmp_path)
    assert all(path.stat().st_size > 0 for path in files.values())


def test_unknown_method_fails_before_work():
    with pytest.raises(ValueError, match="method='median'"):
        bench.run(n_per_bin=2, methods=("median",), workers=1, progress=False)


def test_subsampled_methods_run_on_the_first_cubes_of_each_bin_and_class():
    res = bench.run(n_per_bin=4, methods=("gaussian", "smooth_clip"), rng=1, workers=1,
                    subsample={"smooth_clip": 1}, progress=False)
    assert (res.method == "gaussian").sum() == 4 * len(bench.SNR_BINS)
    sub = res[res.method == "smooth_clip"]
    assert len(sub) == 2 * len(bench.SNR_BINS) and (sub["rank"] == 0).all()
    assert sub.groupby(["snr_bin", "class"]).size().eq(1).all()
    with pytest.raises(ValueError, match="subsample"):
        bench.run(n_per_bin=2, methods=("gaussian",), subsample={"gaussian": -1}, workers=1)
