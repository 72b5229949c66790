"""Run the galcube notebooks end to end and build a static HTML report.

Usage (from the repository root; this is ``make report``)::

    python -m galcube_lib.report            # full run
    python -m galcube_lib.report --smoke    # quick run, passes smoke=True to every notebook

Every ``notebooks/NN_name.ipynb`` is executed in order with papermill (kernel ``python3``,
working directory ``notebooks/``) and written to ``reports/NN_name.ipynb`` and
``reports/NN_name.html``. A notebook publishes headline figures by writing
``<report_dir>/NN_name.json`` = ``{"title": str, "figures": {name: "value unit"},
"images": [png paths relative to report_dir], "tables": {name: {"columns": [str, ...],
"rows": [[cell, ...], ...], "note": str}}}``; ``reports/index.html`` collects them. Only
``title`` and ``figures`` are required; ``images``, ``tables`` and a table's ``note`` are optional.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

from galcube_lib.io.files import write_text

__all__ = ["run_reports", "main"]


def _export_html(ipynb: Path, out: Path) -> None:
    """Export an executed notebook to standalone HTML with nbconvert.

    The widget state that papermill saves is left out: live widgets need a kernel (and their
    JavaScript from a CDN), so the page shows each widget's static fallback instead, the PNG of
    its view (:func:`widgets.plots.with_picture`) or its text.
    """
    import warnings

    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    nb.metadata.pop("widgets", None)
    with warnings.catch_warnings():  # empty display_data outputs (widget/comm plumbing) are fine
        warnings.filterwarnings("ignore", message="Your element with mimetype")
        body, _ = HTMLExporter().from_notebook_node(nb)
    write_text(out, body)


def _table(name, spec) -> str:
    """One published table as HTML: a caption, a header row and body rows (cells as text)."""
    esc = html.escape
    if not (isinstance(spec, dict) and isinstance(spec.get("columns"), list)
            and isinstance(spec.get("rows"), list)
            and all(isinstance(row, list) for row in spec["rows"])):
        return (f'<p class="bad">table {esc(str(name))}: not {{"columns": [...], '
                f'"rows": [[...], ...]}}</p>')
    head = "".join(f"<th>{esc(str(c))}</th>" for c in spec["columns"])
    body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>"
                   for row in spec["rows"])
    note = f'<p class="note">{esc(str(spec["note"]))}</p>' if spec.get("note") else ""
    return (f'<table class="data"><caption>{esc(str(name))}</caption><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table>{note}")


def _card(stem: str, status: str, seconds: float, report_dir: Path) -> str:
    """One notebook's section of index.html: title, headline figures, tables, images, links."""
    meta = {}
    meta_path = report_dir / f"{stem}.json"
    if status == "ok" and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    esc = html.escape
    title = esc(str(meta.get("title", stem)))
    rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                   for k, v in meta.get("figures", {}).items())
    imgs = "".join(f'<a href="{esc(p)}"><img src="{esc(p)}" alt="{esc(p)}"></a>'
                   for p in meta.get("images", []))
    tables = "".join(_table(name, spec) for name, spec in meta.get("tables", {}).items())
    link = {"ok": f'<a href="{stem}.html">full report</a> · <a href="{stem}.ipynb">notebook</a>',
            "failed": f'<a href="{stem}.failed.ipynb">failed notebook</a>'}.get(status, "")
    meta_line = " · ".join([esc(stem), status] + ([f"{seconds:.1f} s", link] if link else []))
    return (f'<section class="card {status.replace(" ", "-")}"><h2>{title}</h2>'
            f'<p class="meta">{meta_line}</p>'
            f'{"<table>" + rows + "</table>" if rows else ""}'
            f'{"<div class=tables>" + tables + "</div>" if tables else ""}'
            f'{"<div class=imgs>" + imgs + "</div>" if imgs else ""}</section>')


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;
color:#1f2933}header{background:#1f2d3d;color:#fff;padding:1.2rem 2rem}header h1{margin:0;font-size:1.5rem}
header p{margin:.3rem 0 0;opacity:.8}main{max-width:1400px;margin:1.5rem auto;padding:0 1rem}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:1rem 1.4rem;
margin-bottom:1.2rem;border-left:5px solid #2e9e5b}.card.failed{border-left-color:#c0392b}
.card.not-run{border-left-color:#9aa5b1;opacity:.7}
.card h2{margin:.2rem 0;font-size:1.2rem}.meta{color:#616e7c;font-size:.9rem}a{color:#1c6fd1}
table{border-collapse:collapse;margin:.6rem 0}th,td{padding:.25rem .9rem;border-bottom:1px solid #e4e7eb;
text-align:left}th{font-weight:500;color:#3e4c59}td{font-variant-numeric:tabular-nums}
.tables{overflow-x:auto}table.data{font-size:.85rem}table.data caption{text-align:left;
font-weight:600;padding:.3rem 0}table.data th{background:#f4f5f7}.note{color:#616e7c;font-size:.85rem;
margin:.1rem 0 .8rem}.bad{color:#c0392b}
.imgs{display:flex;flex-direction:column;align-items:flex-start;gap:.8rem}
.imgs img{max-width:100%;height:auto;border:1px solid #e4e7eb;border-radius:4px}"""


def _write_index(results: list[tuple[str, str, float]], report_dir: Path, smoke: bool) -> None:
    """Write report_dir/index.html from (stem, status, seconds) triples."""
    cards = "".join(_card(s, st, sec, report_dir) for s, st, sec in results)
    when = time.strftime("%Y-%m-%d %H:%M")
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>galcube report</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_CSS}</style>"
            f"</head><body><header><h1>galcube report</h1><p>{when}"
            f"{' · smoke run' if smoke else ''}</p></header><main>{cards}</main></body></html>")
    write_text(report_dir / "index.html", page)


def run_reports(notebook_dir="notebooks", report_dir="reports", smoke=False):
    """Execute every ``NN_*.ipynb`` notebook in order and build the HTML report.

    Parameters
    ----------
    notebook_dir : str or path-like
        Folder holding the notebooks; also the working directory they run in.
    report_dir : str or path-like
        Output folder for executed notebooks, HTML exports and ``index.html``.
    smoke : bool
        Pass ``smoke=True`` to every notebook (small, fast run).

    Returns
    -------
    list of tuple
        ``(stem, status, seconds)`` per notebook; status is ``"ok"``, ``"failed"`` or
        ``"not run"``. Execution stops at the first failure (later notebooks may build on
        earlier ones), and the later notebooks are listed as ``"not run"``.
    """
    import papermill as pm

    nb_dir, rep = Path(notebook_dir).resolve(), Path(report_dir).resolve()
    rep.mkdir(parents=True, exist_ok=True)
    notebooks = sorted(nb_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"notebook_dir={str(nb_dir)!r} holds no NN_*.ipynb notebooks")
    results = []
    for i, nb in enumerate(notebooks, 1):
        stem = nb.stem
        (rep / f"{stem}.json").unlink(missing_ok=True)  # never show a stale headline
        partial = rep / f".{stem}.partial.ipynb"
        print(f"[{i}/{len(notebooks)}] {stem} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        try:
            # the kernel's log level keeps its start-up chatter off the progress line
            pm.execute_notebook(str(nb), str(partial), kernel_name="python3", cwd=str(nb_dir),
                                parameters={"smoke": smoke, "report_dir": str(rep)},
                                progress_bar=False, extra_arguments=["--log-level=ERROR"])
        except Exception as exc:  # papermill raises PapermillExecutionError for cell errors
            dt = time.perf_counter() - t0
            failed = rep / f"{stem}.failed.ipynb"
            if partial.exists():
                os.replace(partial, failed)
            why = (f"{exc.ename}: {exc.evalue}" if isinstance(exc, pm.PapermillExecutionError)
                   else f"{type(exc).__name__}: {exc}")
            print(f"FAILED ({dt:.1f} s)")
            print(f"error: notebook {nb.name} failed: {why}\n"
                  f"       executed notebook kept at {failed}", file=sys.stderr)
            results.append((stem, "failed", dt))
            results += [(later.stem, "not run", 0.0) for later in notebooks[i:]]
            break
        os.replace(partial, rep / f"{stem}.ipynb")
        (rep / f"{stem}.failed.ipynb").unlink(missing_ok=True)
        _export_html(rep / f"{stem}.ipynb", rep / f"{stem}.html")
        dt = time.perf_counter() - t0
        print(f"ok ({dt:.1f} s)", flush=True)
        results.append((stem, "ok", dt))
    _write_index(results, rep, smoke)
    return results


def main(argv=None) -> int:
    """Command-line entry point, ``python -m galcube_lib.report``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (``--smoke``, ``--notebooks DIR``, ``--out DIR``); ``sys.argv[1:]``
        when None.

    Returns
    -------
    int
        The process exit status: 0 when every notebook ran, 1 otherwise.
    """
    ap = argparse.ArgumentParser(prog="python -m galcube_lib.report", description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="quick run: pass smoke=True to notebooks")
    ap.add_argument("--notebooks", default="notebooks", help="notebook folder (default: notebooks)")
    ap.add_argument("--out", default="reports", help="output folder (default: reports)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run_reports(args.notebooks, args.out, smoke=args.smoke)
    ok = all(status == "ok" for _, status, _ in results)
    print(f"{'done' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s; "
          f"open {Path(args.out) / 'index.html'}")
    return 0 if ok else 1

