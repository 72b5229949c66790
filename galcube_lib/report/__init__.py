"""Reports: what the displays compute, and the notebooks run end to end (``python -m galcube_lib.report``)."""
