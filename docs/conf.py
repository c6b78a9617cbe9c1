"""Sphinx configuration of sklstm's documentation.

Build from the root of a clone, after ``pip install ".[docs]"``::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
import tempfile
from pathlib import Path

# `python -m sphinx` from the root of a clone puts the source tree, which has no
# compiled kernels, first on sys.path: document and run the installed sklstm.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]

import sklstm  # noqa: E402

project = "sklstm"
author = "the sklstm developers"
copyright = "2026, the sklstm developers"
release = version = sklstm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]

# Markdown pages (the user guide) with $...$ math, GitHub's tables and heading
# anchors for links between pages.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The API reference: a page per public name, generated from the docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
# A public object without a docstring, a parameter not documented or documented
# but not in the signature, or a method that returns without saying what, fails
# the build (with -W).
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "RT01"}
numpydoc_validation_exclude = {r"\.__init__$"}  # documented in the class

# The gallery runs every example and shows its output and the figure it draws;
# the files the examples save go to a scratch folder.
os.environ.setdefault("SKLSTM_EXAMPLES_OUTPUT", tempfile.mkdtemp(prefix="sklstm-"))
sphinx_gallery_conf = {
    "examples_dirs": str(_ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
}

# scikit-learn's metadata-routing and set_output methods are inherited as they
# are; their docstrings link into scikit-learn's own documentation.
_SKLEARN_PLUMBING = ("get_metadata_routing", "set_output")


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    if name in _SKLEARN_PLUMBING or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)


html_theme = "pydata_sphinx_theme"
html_title = f"sklstm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
}
html_show_sourcelink = False
