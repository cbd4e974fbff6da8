"""Reports: read many run records from disk, aggregate them, write tables, figures and report.md.

Reads run records only; never imports models or torch. The entry point is ``poolbench.report.build.write_report``
(kept out of this ``__init__`` so that the sweep-end callback, instantiated by every poolbench run, stays cheap
to import: pandas and matplotlib load only when a report is written).
"""
