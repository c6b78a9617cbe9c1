"""Sphinx configuration of sklstm's documentation.

Build from the root of a clone, after ``pip install ".[docs]"``::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import re
import sys
import tempfile
from pathlib import Path

# `python -m sphinx` from the root of a clone puts the source tree, which has no
# compiled kernels, first on sys.path: document and run the installed sklstm.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]
# The site's own extensions (offline inventories, the gallery's order).
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from offline_inventories import build_inventories  # noqa: E402
from sphinx.errors import ExtensionError  # noqa: E402

import sklstm  # noqa: E402

project = "sklstm"
author = "the sklstm developers"
copyright = "2026, the sklstm developers"
release = version = sklstm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # A copy of MathJax 3 in the site (its _static/mathjax), so that equations
    # render with no network: the package of that name ships it.
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
]

# Links to scikit-learn's, NumPy's and SciPy's documentation. Intersphinx would
# download their objects.inv; a build machine without network cannot, so the
# inventories are written at build time from the installed packages
# (_ext/offline_inventories.py) and the links point at their stable docs.
intersphinx_mapping = build_inventories()
intersphinx_timeout = 1

# The copy button leaves out prompts and the output lines after them.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

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
    # Learning order, not alphabetical (_ext/gallery.py).
    "within_subsection_order": "gallery.ExampleOrder",
    # Matplotlib's state, and the warning filters an example sets, do not carry
    # over to the next example.
    "reset_modules": ("matplotlib", "gallery.restore_warning_filters"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # Its page of execution times loads jQuery and DataTables from CDNs: the
    # site loads nothing from another host.
    "write_computation_times": False,
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


# A script, style sheet or font from another host: <script src="https://...">,
# <link href="//..."> and the like, which a reader without network cannot load.
_REMOTE_ASSET = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.I
)
_REMOTE_LINK_OK = re.compile(r"\brel=[\"'](?:canonical|alternate)[\"']", re.I)


def _refuse_remote_assets(app, exception):
    """Fail the build if a page would load anything from another host."""
    if exception is not None or app.builder.format != "html":
        return
    remote = []
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for match in _REMOTE_ASSET.finditer(text):
            tag = text[match.start() :].split(">", 1)[0]
            if not _REMOTE_LINK_OK.search(tag):
                remote.append(f"{page.relative_to(app.outdir)}: {tag[:120]}>")
    if remote:
        raise ExtensionError(
            "pages load scripts, styles or images from other hosts, which a "
            "reader without network cannot: " + "; ".join(remote[:10])
        )


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
    app.connect("build-finished", _refuse_remote_assets)


html_theme = "pydata_sphinx_theme"
html_title = f"sklstm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    # Four section links fit one navbar row at any desktop width; the others
    # go under "More".
    "header_links_before_dropdown": 4,
    "secondary_sidebar_items": ["page-toc"],
}
# Pages without sibling pages get no left sidebar (it would be empty).
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting_started",
        "api",
        "changelog",
        "benchmarks",
        "development",
    )
}
html_static_path = ["_static"]
html_css_files = ["sklstm.css"]
html_show_sourcelink = False
