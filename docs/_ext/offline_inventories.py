"""Intersphinx inventories for scikit-learn, NumPy and SciPy, made offline.

Intersphinx links names such as ``sklearn.pipeline.Pipeline`` to their pages
by reading each project's ``objects.inv``, which it downloads at build time. A
build machine without network cannot, so this extension writes the inventories
itself, before intersphinx reads them, from the packages installed in the build
environment: each public name of their public modules, at the address the
projects' own documentation gives it (``modules/generated/<name>.html`` for
scikit-learn, ``reference/generated/<name>.html`` for NumPy and SciPy). The
links point at each project's ``stable`` documentation, as an ``objects.inv``
downloaded from there would.
"""

import importlib
import importlib.util
import inspect
import tempfile
import zlib
from pathlib import Path

SKLEARN_URL = "https://scikit-learn.org/stable/"
NUMPY_URL = "https://numpy.org/doc/stable/"
SCIPY_URL = "https://docs.scipy.org/doc/scipy/"

# scikit-learn's modules for estimator developers, which its __all__ leaves out.
SKLEARN_UTILS = (
    "sklearn.base",
    "sklearn.utils",
    "sklearn.utils.estimator_checks",
    "sklearn.utils.validation",
    "sklearn.utils.class_weight",
    "sklearn.utils.multiclass",
    "sklearn.utils.metaestimators",
    "sklearn.utils.parallel",
)
# SciPy's subpackages whose public names have a page of their own.
SCIPY_MODULES = (
    "cluster",
    "fft",
    "integrate",
    "interpolate",
    "io",
    "linalg",
    "ndimage",
    "optimize",
    "signal",
    "sparse",
    "spatial",
    "special",
    "stats",
)
# NumPy names documented on a shared page rather than a page of their own.
NUMPY_SCALARS = (
    "float16",
    "float32",
    "float64",
    "longdouble",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool_",
    "complex64",
    "complex128",
    "generic",
    "number",
    "floating",
    "integer",
)
NUMPY_PAGES = {
    "numpy.random.Generator": "reference/random/generator.html#$",
    "numpy.random.default_rng": "reference/random/generator.html#$",
    "numpy.random.RandomState": "reference/random/legacy.html#$",
    "numpy.lib.stride_tricks.sliding_window_view": "reference/generated/$.html#$",
    "numpy.lib.stride_tricks.as_strided": "reference/generated/$.html#$",
}


def _role(obj):
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return None


def _methods(cls):
    """Public methods and properties a class defines or inherits."""
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(inspect.getattr_static(cls, name, None), property):
            yield name, "attribute"
        elif callable(member) and not inspect.isclass(member):
            yield name, "method"


def _module_entries(module_name, page, module_page, members_on_class_page):
    """Entries for a module's public names: (name, role, uri).

    ``page`` is an object's address, ``$`` standing for its full name;
    scikit-learn documents methods on their class's page, SciPy on pages of
    their own.
    """
    try:
        module = importlib.import_module(module_name)
    except Exception:  # an optional part that needs what is not installed
        return
    yield module_name, "module", module_page
    public = getattr(module, "__all__", None)
    if public is None:  # e.g. sklearn.base: what the module itself defines
        public = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and getattr(obj, "__module__", None) == module_name
        ]
    for name in public:
        try:
            obj = getattr(module, name)
        except Exception:  # e.g. scikit-learn's experimental names, not enabled
            continue
        role = _role(obj)
        if role is None:
            continue
        full = f"{module_name}.{name}"
        yield full, role, page
        if role == "class":
            class_page = page.replace("$.html", f"{full}.html")
            for method, kind in _methods(obj):
                member = f"{full}.{method}"
                yield member, kind, class_page if members_on_class_page else page


def sklearn_entries():
    import sklearn

    page = "modules/generated/$.html#$"
    for name in sklearn.__all__:
        if importlib.util.find_spec(f"sklearn.{name}") is not None:
            yield from _module_entries(
                f"sklearn.{name}",
                page,
                f"api/sklearn.{name}.html#module-sklearn.{name}",
                members_on_class_page=True,
            )
        else:  # set_config, clone, ...
            yield f"sklearn.{name}", _role(getattr(sklearn, name)), page
    for name in SKLEARN_UTILS:
        yield from _module_entries(
            name,
            page,
            f"api/{name}.html#module-{name}",
            members_on_class_page=True,
        )
    yield "sklearn", "module", "api/index.html#module-sklearn"


def numpy_entries():
    import numpy

    yield "numpy", "module", "reference/index.html#module-numpy"
    for name in numpy.__all__:
        obj = getattr(numpy, name, None)
        full = f"numpy.{name}"
        if name in NUMPY_SCALARS:
            yield full, "class", "reference/arrays.scalars.html#$"
            continue
        role = _role(obj)
        if role is None or inspect.ismodule(obj):
            continue
        yield full, role, "reference/generated/$.html#$"
        if role == "class":
            for method, kind in _methods(obj):
                yield (
                    f"{full}.{method}",
                    kind,
                    f"reference/generated/{full}.{method}.html#$",
                )
    for full, uri in NUMPY_PAGES.items():
        yield full, "function" if full[full.rfind(".") + 1].islower() else "class", uri


def scipy_entries():
    yield "scipy", "module", "reference/index.html#module-scipy"
    for sub in SCIPY_MODULES:
        yield from _module_entries(
            f"scipy.{sub}",
            "reference/generated/$.html#$",
            f"reference/{sub}.html#module-scipy.{sub}",
            members_on_class_page=False,
        )


def write_inventory(path, project, version, entries):
    """Write ``entries`` (name, role, uri) as a Sphinx version-2 objects.inv."""
    seen = set()
    lines = []
    for name, role, uri in entries:
        key = (name, role)
        if role is None or key in seen:
            continue
        seen.add(key)
        uri = uri.replace("$.html", f"{name}.html")
        if uri.endswith(f"#{name}"):
            uri = uri[: -len(name)] + "$"
        lines.append(f"{name} py:{role} 1 {uri} -\n")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    Path(path).write_bytes(header.encode() + zlib.compress("".join(lines).encode()))
    return len(lines)


def build_inventories(directory=None):
    """Write the three inventories; return intersphinx_mapping's entries."""
    import numpy
    import scipy
    import sklearn

    directory = Path(directory or tempfile.mkdtemp(prefix="sklstm-inv-"))
    directory.mkdir(parents=True, exist_ok=True)
    projects = {
        "sklearn": ("scikit-learn", sklearn.__version__, SKLEARN_URL, sklearn_entries),
        "numpy": ("NumPy", numpy.__version__, NUMPY_URL, numpy_entries),
        "scipy": ("SciPy", scipy.__version__, SCIPY_URL, scipy_entries),
    }
    mapping = {}
    for key, (project, version, url, entries) in projects.items():
        path = directory / f"{key}-objects.inv"
        write_inventory(path, project, version, entries())
        mapping[key] = (url, str(path))
    return mapping
