"""Every notebook runs end to end through papermill in smoke mode and publishes its headline JSON."""
import json
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no NN_*.ipynb notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_smoke(nb, tmp_path):
    import papermill as pm

    report_dir, out_dir = tmp_path / "reports", tmp_path / "outputs"
    report_dir.mkdir()
    executed = tmp_path / nb.name
    t0 = time.perf_counter()
    try:
        # cwd = notebooks/ as in `make report`, so relative paths to ../data behave the same
        pm.execute_notebook(str(nb), str(executed), kernel_name="python3", cwd=str(NOTEBOOK_DIR),
                            parameters={"smoke": True, "report_dir": str(report_dir),
                                        "out_dir": str(out_dir)},
                            progress_bar=False, extra_arguments=["--log-level=ERROR"])
    except pm.PapermillExecutionError as exc:
        pytest.fail(f"{nb.name} failed in smoke mode (cell {exc.exec_count}): {exc.ename}: "
                    f"{exc.evalue}\n" + re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(exc.traceback[-4:])),
                    pytrace=False)
    print(f"{nb.stem}: {time.perf_counter() - t0:.1f} s")
    meta_path = report_dir / f"{nb.stem}.json"
    assert meta_path.exists(), f"{nb.name} did not write its headline JSON {meta_path.name}"
    meta = json.loads(meta_path.read_text())
    assert isinstance(meta.get("title"), str) and meta["title"]
    assert isinstance(meta.get("figures"), dict) and meta["figures"], "headline JSON has no figures"
    for img in meta.get("images", []):
        assert (report_dir / img).is_file(), f"headline image {img} listed but not written"


def _toy_notebook(path, body):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell('smoke = False\nreport_dir = "."', metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[params, new_code_cell(body)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def test_report_builds_index_and_stops_on_failure(tmp_path, capsys):
    from galcube_lib.report import notebooks as report

    nb_dir, out = tmp_path / "notebooks", tmp_path / "reports"
    nb_dir.mkdir()
    _toy_notebook(nb_dir / "01_ok.ipynb", (
        "import json, pathlib\n"
        "meta = {'title': 'Toy <ok>', 'figures': {'speed': '3.0 ms per cube'}, 'images': [],\n"
        "        'tables': {'nRMSE <per bin>': {'columns': ['SNR', 'ist'], 'rows': [['(2.5,3]', 0.314]],\n"
        "                                       'note': '10 cubes & more'},\n"
        "                   'broken': {'columns': ['a'], 'rows': 'not rows'}}}\n"
        "pathlib.Path(report_dir, '01_ok.json').write_text(json.dumps(meta))\n"
        "assert smoke is True"))
    _toy_notebook(nb_dir / "02_bad.ipynb", "raise RuntimeError('boom')")
    _toy_notebook(nb_dir / "03_never.ipynb", "pass")
    assert report.main(["--smoke", "--notebooks", str(nb_dir), "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "01_ok ... ok" in printed.out and "02_bad ... FAILED" in printed.out
    assert "02_bad.ipynb failed" in printed.err and "RuntimeError" in printed.err
    assert (out / "01_ok.ipynb").exists() and (out / "01_ok.html").exists()
    assert (out / "02_bad.failed.ipynb").exists() and not (out / "02_bad.ipynb").exists()
    assert not (out / "03_never.ipynb").exists(), "the run should stop at the first failure"
    assert "03_never · not run" in (out / "index.html").read_text()
    index = (out / "index.html").read_text()
    assert "Toy &lt;ok&gt;" in index and "3.0 ms per cube" in index and "01_ok.html" in index
    assert "02_bad.failed.ipynb" in index
    # a published table: caption, header cells, body cells and note, all escaped
    assert ("<caption>nRMSE &lt;per bin&gt;</caption><thead><tr><th>SNR</th><th>ist</th></tr></thead>"
            "<tbody><tr><td>(2.5,3]</td><td>0.314</td></tr></tbody>") in index
    assert "10 cubes &amp; more" in index
    assert "table broken: not" in index, "a malformed table is reported, not fatal"
    # published figures at the card's full width (a channel grid is unreadable as a thumbnail)
    image_rule = re.search(r"\.imgs img\{([^}]*)\}", index).group(1)
    assert "max-width:100%" in image_rule and "max-height" not in image_rule
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
