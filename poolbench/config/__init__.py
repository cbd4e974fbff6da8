"""Configuration: the composed Hydra config -> typed, validated ``Settings``.

One job: say what a run's settings are and whether they are valid (``settings`` the typed fields, ``checks``
the rules, ``typed`` the table derived from them, ``validate`` applying it, ``components`` head/backbone keys
against their classes' constructors; ``catalog``, ``probe_layout`` and ``folder_layout`` what it knows of the
datasets without loading them: kinds and sizes, probe layouts, an image folder's classes and content key;
``run_folder`` the config a run folder holds, as saved; ``presets`` the claims presets' one list). May
import: ``errors``, ``record`` (the run key), ``objective``; never torch, data loading, sweeps or reports.
"""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"  # the shipped Hydra configs (package data)
