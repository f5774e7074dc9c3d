"""Export of the collection into a SpeechBrain checkout, as one pull request.

:func:`plan_export` reads the collection (its ``speechbrain_ext`` package,
the ``hparams/`` folder installed as ``speechbrain_ext.hparams``,
``recipes/`` and ``tests/recipes/``) and a SpeechBrain checkout, and
returns every file to write there; :func:`write_export` writes them.

* Modules go under ``speechbrain/`` at the path they mirror
  (``speechbrain_ext/nnet/x.py`` to ``speechbrain/nnet/x.py``); every
  ``speechbrain_ext`` name in code, yaml tags and text becomes
  ``speechbrain`` (:class:`UpstreamNames`), and the code is sorted and
  formatted with ``ruff`` under the checkout's own configuration.
* Where upstream already has a module of the same name,
  :data:`MODULE_MAP` gives the exported one another name; the test tools
  the recipe tests need go to ``tests/utils/`` the same way.
* Recipes go under ``recipes/``, with an ``extra_requirements.txt`` listing
  what their code imports beyond SpeechBrain's ``requirements.txt``; their
  rows are appended to ``tests/recipes/<Dataset>.csv``, their setup
  scripts copied to ``tests/recipes/setup/``.
* :data:`LEFT_OUT` names what stays in the collection, and why; a recipe
  yaml that uses it stays out with its csv row, and a recipe README says
  which of its files stayed out. Relative links of a README are pointed
  at the exported files; a link to a file that is not exported becomes
  plain text.

Nothing of upstream's own is changed, except for the rows appended to its
csv tables: a file that exists there and differs, a module or package
that would shadow one of upstream's (also when only the case of the name
differs), a csv row of the same yaml that differs, or a csv header that
differs is an :class:`ExportError` naming the file, raised before anything
is written. Exporting twice writes nothing the second time.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import ast
import csv
import dataclasses
import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

COLLECTION = "speechbrain_ext"
UPSTREAM = "speechbrain"
PACKAGE_DIRS = {
    COLLECTION: "speechbrain_ext",
    f"{COLLECTION}.hparams": "hparams",
}
"""The collection's packages and their folders (``setup.py``:
``hparams/`` is installed as ``speechbrain_ext.hparams``)."""
RECIPES = "recipes"
RECIPE_TABLES = "tests/recipes"
SETUP_FOLDER = "tests/recipes/setup"
SOURCE_FOLDERS = ("speechbrain_ext", "hparams", RECIPES, RECIPE_TABLES)
EXTRA_REQUIREMENTS = "extra_requirements.txt"

MODULE_MAP = {
    # upstream has speechbrain/nnet/RNN.py (LSTM, AttentionalRNNDecoder...)
    "speechbrain_ext.nnet.RNN": "speechbrain.nnet.padded_rnn",
    # upstream has speechbrain/nnet/pooling.py (StatisticsPooling...)
    "speechbrain_ext.nnet.pooling": "speechbrain.nnet.attentive_pooling",
    # upstream has speechbrain/utils/checkpoints.py (Checkpointer...)
    "speechbrain_ext.utils.checkpoints": (
        "speechbrain.utils.resumable_checkpoints"
    ),
    # upstream's speechbrain/inference/__init__.py imports its interfaces;
    # the collection's package __init__ re-exports its own names
    "speechbrain_ext.inference": "speechbrain.inference.recipe",
    # builders of tiny local models, run by the setup scripts of the recipe
    # tests and by doctests
    "speechbrain_ext.synthetic.offline_models": "tests.utils.offline_models",
    "speechbrain_ext.synthetic.random_a2w": "tests.utils.random_a2w",
}
"""Exported names that differ from the mirrored ones (longest prefix
wins; a package entry renames its modules too). An entry whose module no
longer exists is ignored."""

SYNTHETIC = (
    "synthetic-corpus tooling (SynthEmo, SynthNoise, SynthEmoDB, SynthLibri "
    "and their eSpeak NG binding), which exists only so that the collection "
    "runs without licensed corpora"
)
LEFT_OUT = {
    f"{COLLECTION}/__init__.py": (
        "the collection's package marker and version; SpeechBrain has its "
        "own speechbrain/__init__.py"
    ),
    f"{COLLECTION}/synthetic/": SYNTHETIC,
    f"{COLLECTION}/benchmark/": (
        "the collection's robustness benchmark (grids of its recipes, "
        "training regimes and seeds, local and SLURM executors, "
        "leaderboard): an experiment runner of this study that needs "
        "submitit, not a toolkit feature; it runs the exported recipes "
        "from the collection"
    ),
    "hparams/grids/": "benchmark grids (the benchmark stays out)",
    f"{COLLECTION}/upstream/": "this exporter",
}
"""What stays in the collection (a source path, or a folder ending in
``/``), and why. A :data:`MODULE_MAP` entry exports a module of a folder
listed here."""

_NAME = re.compile(rf"(?<![\w./-]){COLLECTION}(?![\w-])((?:[./][A-Za-z_]\w*)*)")
_TAG = re.compile(rf"!(?:new|name|apply|module):({COLLECTION}[\w.]*)")
_IMPORT_LINE = re.compile(
    rf"^\s*(?:(?:>>>|\.\.\.)\s+)?(?:from|import)\s+({COLLECTION}[\w.]*)",
    re.MULTILINE,
)
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_SKIPPED_PARTS = {"__pycache__", "results", ".ipynb_checkpoints"}


class ExportError(ValueError):
    """The export would change a file of upstream's, or cannot be made."""


def _under(path, prefix):
    return path == prefix.rstrip("/") or path.startswith(
        prefix.rstrip("/") + "/"
    )


def _mapped_name(dotted):
    """The :data:`MODULE_MAP` name of ``dotted``, or None when not mapped."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in MODULE_MAP:
            return ".".join([MODULE_MAP[prefix]] + parts[i:])
    return None


def _package_of(path):
    """(package, path inside its folder) of a source path, or None."""
    for package, folder in PACKAGE_DIRS.items():
        if _under(path, folder) and path != folder:
            return package, path[len(folder) + 1 :]
    return None


def source_module(path):
    """Dotted name of a collection source file (a data file: its folder's).

    Arguments
    ---------
    path : str
        Path relative to the collection's root, with ``/``.

    Returns
    -------
    tuple
        ``(dotted name, is_python)``, or None for a file outside the
        collection's packages.

    Example
    -------
    >>> source_module("speechbrain_ext/nnet/fusion.py")
    ('speechbrain_ext.nnet.fusion', True)
    >>> source_module("speechbrain_ext/inference/__init__.py")
    ('speechbrain_ext.inference', True)
    >>> source_module("hparams/condition_sets/paper7.yaml")
    ('speechbrain_ext.hparams.condition_sets', False)
    >>> source_module("recipes/EmoDB/emotion_recognition/LSTM/train.py")
    """
    found = _package_of(path)
    if found is None:
        return None
    package, inner = found
    parts = inner.split("/")
    if parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join([package] + parts), True
    return ".".join([package] + parts[:-1]), False


class UpstreamNames:
    """The upstream name of every collection name, from the collection's files.

    A name of a module (or package, or object in a module) gets its
    :data:`MODULE_MAP` name, or ``speechbrain`` in place of
    ``speechbrain_ext``; a name in a module that stays out
    (:data:`LEFT_OUT`) gets None. :meth:`rewrite` applies this to a text:
    dotted names (imports, yaml tags, prose) and paths
    (``speechbrain_ext/nnet/RNN.py``).

    Arguments
    ---------
    sources : list of str
        The collection's files, relative to its root, with ``/``.

    Example
    -------
    >>> names = UpstreamNames([
    ...     "speechbrain_ext/nnet/RNN.py",
    ...     "speechbrain_ext/nnet/fusion.py",
    ...     "speechbrain_ext/synthetic/synthemo.py",
    ... ])
    >>> names.target("speechbrain_ext.nnet.fusion.SkipConnectionFusion")
    'speechbrain.nnet.fusion.SkipConnectionFusion'
    >>> names.target("speechbrain_ext.nnet.RNN.PaddedBLSTM")
    'speechbrain.nnet.padded_rnn.PaddedBLSTM'
    >>> names.target("speechbrain_ext.synthetic.synthemo") is None
    True
    >>> names.rewrite("from speechbrain_ext.nnet.RNN import PaddedBLSTM")
    'from speechbrain.nnet.padded_rnn import PaddedBLSTM'
    >>> names.rewrite("see speechbrain_ext/nnet/RNN.py and speechbrain_ext.")
    'see speechbrain/nnet/padded_rnn.py and speechbrain.'
    >>> names.rewrite("python -m speechbrain_ext.synthetic.synthemo")
    'python -m speechbrain_ext.synthetic.synthemo'
    >>> names.kept
    ['speechbrain_ext.synthetic.synthemo']
    """

    def __init__(self, sources):
        self.modules = {}
        for path in sources:
            found = source_module(path)
            if found is not None and found[1]:
                self.modules[found[0]] = path
        self.kept = []

    def owner(self, dotted):
        """The longest module name that ``dotted`` starts with, or None.

        Arguments
        ---------
        dotted : str
            A collection name (module, package or object).

        Returns
        -------
        str or None
            The module (or package) of the collection that holds it.
        """
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.modules:
                return prefix
        return None

    def reason_left_out(self, dotted):
        """Why the module of ``dotted`` stays out, or None when exported.

        Arguments
        ---------
        dotted : str
            A collection name.

        Returns
        -------
        str or None
            The :data:`LEFT_OUT` reason.
        """
        if _mapped_name(dotted) is not None:
            return None
        owner = self.owner(dotted)
        if owner is None or owner == COLLECTION:
            # the package itself becomes speechbrain, whose __init__ stays
            return None
        return left_out_reason(self.modules[owner])

    def target(self, dotted):
        """The upstream name of a collection name.

        Arguments
        ---------
        dotted : str
            A name starting with ``speechbrain_ext``.

        Returns
        -------
        str or None
            The exported name, or None when its module stays out.
        """
        mapped = _mapped_name(dotted)
        if mapped is not None:
            return mapped
        if self.reason_left_out(dotted) is not None:
            return None
        return UPSTREAM + dotted[len(COLLECTION) :]

    def _rewrite_match(self, match):
        text, rest = match.group(0), match.group(1)
        if not rest.startswith("/"):
            target = self.target(text)
            if target is None:
                self.kept.append(text)
                return text
            return target
        # a path: speechbrain_ext/a/b(.py|.yaml|/)
        segments = rest[1:].split("/")
        last, ext = segments[-1], ""
        if "." in last:
            last, ext = last.split(".", 1)
            ext = "." + ext
        segments[-1] = last
        if ext and ext != ".py":  # a data file: its folder is the package
            folder, name = segments[:-1], last + ext
        else:
            folder, name = segments, None
        dotted = ".".join([COLLECTION] + folder)
        target = self.target(dotted)
        if target is None:
            self.kept.append(dotted)
            return text
        path = target.replace(".", "/")
        if name is not None:
            return f"{path}/{name}"
        return path + ext

    def rewrite(self, text):
        """``text`` with every collection name replaced by its upstream one.

        Arguments
        ---------
        text : str
            Code, yaml, markdown or shell text.

        Returns
        -------
        str
            The rewritten text; names in modules that stay out are kept
            (and listed in ``self.kept``).
        """
        return _NAME.sub(self._rewrite_match, text)


def left_out_reason(path):
    """Why a source file stays in the collection, or None when exported.

    Arguments
    ---------
    path : str
        Path relative to the collection's root, with ``/``.

    Returns
    -------
    str or None
        The :data:`LEFT_OUT` reason of the longest matching entry; None
        for a file exported (also through :data:`MODULE_MAP`).

    Example
    -------
    >>> left_out_reason("speechbrain_ext/nnet/fusion.py") is None
    True
    >>> left_out_reason("speechbrain_ext/benchmark/grid.py")[:37]
    "the collection's robustness benchmark"
    >>> left_out_reason("speechbrain_ext/synthetic/offline_models.py") is None
    True
    """
    found = source_module(path)
    if found is not None and found[1] and _mapped_name(found[0]):
        return None
    matches = [p for p in LEFT_OUT if _under(path, p) or path == p]
    if not matches:
        return None
    return LEFT_OUT[max(matches, key=len)]


@dataclasses.dataclass
class ExportPlan:
    """Everything an export writes into a SpeechBrain checkout.

    Arguments
    ---------
    files : dict
        Target path (relative, ``/``) to ``(content bytes, file mode,
        source path)``.
    links : dict
        Target path to ``(link text, source path)``: a symbolic link of the
        collection (a recipe's ``*_prepare.py`` pointing to its corpus's
        shared one) stays a link to the exported file.
    rows : dict
        Target csv path to ``(header, rows to append, whether the csv is
        new)``.
    unchanged : list
        Target paths that already hold the exported content (or an
        upstream package ``__init__.py`` kept as it is).
    exported : dict
        Every target path of the export (written or already there) to its
        source path.
    exported_rows : dict
        Every exported csv row (appended or already there) as a dict by
        column, by table.
    left_out : dict
        Source path to the reason it stays in the collection.
    kept_names : dict
        Target path to the names of modules that stay out which its text
        still mentions (prose; code that imports one is an error).
    requirements : dict
        Recipe folder to the packages of its ``extra_requirements.txt``.
    notes : list
        What a reviewer should know (packages the exported library modules
        import beyond SpeechBrain's requirements, package data).
    """

    files: dict = dataclasses.field(default_factory=dict)
    links: dict = dataclasses.field(default_factory=dict)
    rows: dict = dataclasses.field(default_factory=dict)
    unchanged: list = dataclasses.field(default_factory=list)
    exported: dict = dataclasses.field(default_factory=dict)
    exported_rows: dict = dataclasses.field(default_factory=dict)
    left_out: dict = dataclasses.field(default_factory=dict)
    kept_names: dict = dataclasses.field(default_factory=dict)
    requirements: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)

    def summary(self):
        """A text report of the plan.

        Returns
        -------
        str
            Files, rows, what stays out (grouped by reason) and notes.
        """
        lines = [
            f"files to write: {len(self.files) + len(self.links)} "
            f"({len(self.unchanged)} already there)"
        ]
        for path in sorted(self.files):
            lines.append(f"  {path}")
        for path, (link, _) in sorted(self.links.items()):
            lines.append(f"  {path} -> {link}")
        for table, (_, rows, new) in sorted(self.rows.items()):
            state = "new table" if new else "appended"
            lines.append(f"rows for {table} ({state}): {len(rows)}")
        by_reason = {}
        for path, reason in sorted(self.left_out.items()):
            by_reason.setdefault(reason, []).append(path)
        lines.append(f"left out: {len(self.left_out)} files and csv rows")
        for reason, paths in by_reason.items():
            lines.append(f"  {reason}:")
            lines.extend(f"    {p}" for p in paths)
        for folder, packages in sorted(self.requirements.items()):
            lines.append(
                f"{folder}/{EXTRA_REQUIREMENTS}: {', '.join(packages)}"
            )
        for target, kept in sorted(self.kept_names.items()):
            lines.append(
                f"note: {target} still names {', '.join(kept)} (stays in "
                "the collection)"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def collection_root():
    """The root folder of the collection this package is installed from.

    Returns
    -------
    str
        The folder holding ``speechbrain_ext/`` and ``recipes/``.

    Example
    -------
    >>> os.path.isdir(os.path.join(collection_root(), "recipes"))
    True
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.dirname(package)


def list_sources(root):
    """The collection's files that an export reads.

    Files git would commit (tracked, or untracked and not ignored) in a git
    checkout; otherwise every file but caches and results.

    Arguments
    ---------
    root : str
        The collection's root folder.

    Returns
    -------
    list of str
        Sorted paths relative to ``root``, with ``/``.

    Example
    -------
    >>> "speechbrain_ext/upstream/export.py" in list_sources(collection_root())
    True
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z", "--"]
            + list(SOURCE_FOLDERS),
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")
        paths = [p for p in listed.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for folder in SOURCE_FOLDERS:
            for dirpath, dirnames, filenames in os.walk(
                os.path.join(root, folder)
            ):
                dirnames[:] = [d for d in dirnames if d not in _SKIPPED_PARTS]
                for name in filenames:
                    full = os.path.join(dirpath, name)
                    paths.append(os.path.relpath(full, root))
    paths = [p.replace(os.sep, "/") for p in paths]
    return sorted(
        p
        for p in set(paths)
        if os.path.isfile(os.path.join(root, p))
        and not _SKIPPED_PARTS.intersection(p.split("/"))
        and not p.endswith((".pyc", ".pyo"))
    )


def target_path(path, names):
    """Where a collection file goes in the SpeechBrain checkout.

    Arguments
    ---------
    path : str
        Source path relative to the collection's root.
    names : UpstreamNames
        The collection's names.

    Returns
    -------
    str or None
        Target path relative to the checkout's root; None for a file that
        stays out.

    Example
    -------
    >>> names = UpstreamNames(["speechbrain_ext/inference/__init__.py"])
    >>> target_path("speechbrain_ext/inference/__init__.py", names)
    'speechbrain/inference/recipe/__init__.py'
    >>> target_path("hparams/condition_sets/clean.yaml", names)
    'speechbrain/hparams/condition_sets/clean.yaml'
    >>> target_path("recipes/IEMOCAP/README.md", names)
    'recipes/IEMOCAP/README.md'
    """
    if left_out_reason(path) is not None:
        return None
    found = source_module(path)
    if found is None:
        return path
    dotted, is_python = found
    target = names.target(dotted)
    if target is None:
        return None
    folder = target.replace(".", "/")
    if not is_python:
        return f"{folder}/{os.path.basename(path)}"
    if os.path.basename(path) == "__init__.py":
        return f"{folder}/__init__.py"
    return f"{folder}.py"


def _read(root, path):
    with open(os.path.join(root, path), "rb") as f:
        return f.read()


def _text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_docstring_only(text):
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return False
    return all(
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for node in body
    )


def _yaml_uses_left_out(text, names):
    for match in _TAG.finditer(text):
        reason = names.reason_left_out(match.group(1))
        if reason is not None:
            return match.group(1), reason
    return None


def _recipe_of(path):
    """The recipe folder of a path under recipes/ (the folder of train.py)."""
    parts = path.split("/")
    if "hparams" in parts:
        return "/".join(parts[: parts.index("hparams")])
    return os.path.dirname(path)


# --------------------------------------------------------------- requirements
def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line):
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return _canonical(match.group(1)) if match else None


def upstream_requirements(speechbrain_folder):
    """The packages SpeechBrain's ``requirements.txt`` installs.

    Follows ``-r`` includes. Without a ``requirements.txt`` (a tree made
    from an installed package), the requirements of the installed
    ``speechbrain`` distribution.

    Arguments
    ---------
    speechbrain_folder : str
        The SpeechBrain checkout.

    Returns
    -------
    set of str
        Canonical package names (lower case, ``-`` separators).
    """
    names = set()

    def _read_file(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line.startswith("-r"):
                    _read_file(
                        os.path.join(os.path.dirname(path), line[2:].strip())
                    )
                elif line and not line.startswith("-"):
                    names.add(_requirement_name(line))

    path = os.path.join(speechbrain_folder, "requirements.txt")
    if os.path.exists(path):
        _read_file(path)
    else:
        from importlib import metadata

        for spec in metadata.requires(UPSTREAM) or []:
            if "extra ==" not in spec:
                names.add(_requirement_name(spec))
    names.discard(None)
    return names


def _declared_specifiers():
    """The collection's own requirement lines, by canonical name."""
    from importlib import metadata

    try:
        specs = metadata.requires(COLLECTION) or []
    except metadata.PackageNotFoundError:
        return {}
    declared = {}
    for spec in specs:
        if ";" in spec:  # extras (tests)
            continue
        declared[_requirement_name(spec)] = spec.strip()
    return declared


def _imports(text):
    """(collection names, third-party top-level names) imported by code."""
    internal, external = set(), set()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return internal, external
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(
        sys.builtin_module_names
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [(node.module, [a.name for a in node.names])]
        else:
            continue
        for module, members in modules:
            top = module.split(".")[0]
            if top == COLLECTION:
                internal.add(module)
                internal.update(f"{module}.{m}" for m in members)
            elif top not in stdlib and top not in (UPSTREAM, "__future__"):
                external.add(top)
    return internal, external


def _yaml_imports(text):
    internal, external = set(), set()
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    for match in re.finditer(r"!(?:new|name|apply|module):([\w.]+)", text):
        name = match.group(1)
        top = name.split(".")[0]
        if top == COLLECTION:
            internal.add(name)
        elif "." in name and top not in stdlib | {UPSTREAM}:
            external.add(top)  # (a name without a dot is a builtin)
    return internal, external


@functools.lru_cache(maxsize=None)
def _distributions():
    from importlib import metadata

    return metadata.packages_distributions()


def _distribution(top):
    found = _distributions().get(top)
    return found[0] if found else top


class _Dependencies:
    """Third-party packages reached from files, through collection modules."""

    def __init__(self, root, names):
        self.root, self.names = root, names
        self.cache = {}

    def of_file(self, path):
        """(collection names, third-party top-level names) a file imports."""
        if path not in self.cache:
            text = _text(_read(self.root, path)) or ""
            if path.endswith(".py"):
                self.cache[path] = _imports(text)
            elif path.endswith(".yaml"):
                self.cache[path] = _yaml_imports(text)
            else:
                self.cache[path] = (set(), set())
        return self.cache[path]

    def closure(self, paths):
        """Third-party names imported by ``paths`` and what they import."""
        external, seen, todo = set(), set(), list(paths)
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            internal, direct = self.of_file(path)
            external |= direct
            for name in internal:
                owner = self.names.owner(name)
                if owner is None:
                    continue
                # importing a module runs the __init__ of its packages
                parts = owner.split(".")
                for i in range(1, len(parts) + 1):
                    package = ".".join(parts[:i])
                    if package in self.names.modules:
                        todo.append(self.names.modules[package])
        return external


def _extra_requirements(external, upstream, declared):
    lines = set()
    for top in external:
        name = _canonical(_distribution(top))
        if name in upstream or name in ("torch", "torchaudio"):
            continue
        lines.add(declared.get(name, _distribution(top)))
    return sorted(lines, key=str.lower)


# ---------------------------------------------------------------------- links
def _relink(text, readme, target_readme, files_by_source, speechbrain_folder):
    """README links pointed at the exported files; others made plain text."""
    unlinked = []

    def _replace(match):
        bang, label, link = match.groups()
        if re.match(r"^[a-z]+:|^#|^/", link):
            return match.group(0)
        path, _, anchor = link.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        source = os.path.normpath(
            os.path.join(os.path.dirname(readme), path)
        ).replace(os.sep, "/")
        here = os.path.dirname(target_readme)
        if source in files_by_source:
            new = os.path.relpath(files_by_source[source], here)
            return f"{bang}[{label}]({new.replace(os.sep, '/')}{anchor})"
        if os.path.exists(os.path.join(speechbrain_folder, here, path)):
            return match.group(0)
        unlinked.append(link)
        return label

    return _LINK.sub(_replace, text), unlinked


def _left_out_note(folder, left_out):
    """The README note listing a recipe's files that stay out."""
    by_reason = {}
    for path, reason in sorted(left_out.items()):
        if _under(path, folder):
            by_reason.setdefault(reason, []).append(
                "`" + os.path.relpath(path, folder).replace(os.sep, "/") + "`"
            )
    if not by_reason:
        return None
    parts = [
        f"{', '.join(paths)} ({reason})" for reason, paths in by_reason.items()
    ]
    return (
        "> This recipe comes from the joint ASR + SER recipe collection "
        f"(package `{COLLECTION}`, whose modules are `{UPSTREAM}` modules "
        "here). Not part of this folder: " + "; ".join(parts) + ".\n"
    )


def _insert_note(text, note):
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: i + 1] + ["\n", note] + lines[i + 1 :])
    return note + "\n" + text


# ------------------------------------------------------------------ formatting
def _format_python(files, speechbrain_folder):
    """Sorts imports and formats the Python files with the checkout's ruff.

    Returns a note when ruff or the checkout's configuration is missing.
    """
    config = os.path.join(speechbrain_folder, "pyproject.toml")
    ruff = shutil.which("ruff")
    if ruff is None or not os.path.exists(config):
        return (
            "Python files not formatted (ruff or the checkout's "
            "pyproject.toml not found): run ruff check --fix and ruff format"
        )
    python = [p for p in files if p.endswith(".py")]
    with tempfile.TemporaryDirectory() as scratch:
        for path in python:
            full = os.path.join(scratch, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(files[path][0])
        base = [ruff, "--config", config]
        for command in (
            ["check", "--fix", "--select", "I", "--exit-zero", "--quiet"],
            ["format", "--quiet"],
        ):
            subprocess.run(
                base[:1] + command[:1] + base[1:] + command[1:] + [scratch],
                check=True,
                capture_output=True,
            )
        for path in python:
            data, mode, source = files[path]
            files[path] = (_read(scratch, path), mode, source)
    return None


# ---------------------------------------------------------------- collisions
def _collisions(path, speechbrain_folder):
    """Problems of writing ``path`` beside upstream's files (or [])."""
    problems = []
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        full = os.path.join(speechbrain_folder, sub)
        parent = os.path.dirname(full)
        name = parts[i - 1]
        if os.path.isdir(parent):
            for entry in os.listdir(parent):
                if entry != name and entry.lower() == name.lower():
                    problems.append(
                        f"{sub}: upstream has {os.path.dirname(sub)}/{entry}, "
                        "which differs only in case"
                    )
        if i < len(parts) and os.path.isfile(full):
            problems.append(f"{sub}: a file upstream, not a folder")
        if i < len(parts) and os.path.exists(full + ".py"):
            problems.append(
                f"{sub}/: the package would shadow upstream's module {sub}.py"
            )
    if path.endswith(".py") and os.path.isdir(
        os.path.join(speechbrain_folder, path[:-3])
    ):
        problems.append(
            f"{path}: the module would shadow upstream's package {path[:-3]}/"
        )
    if os.path.isdir(os.path.join(speechbrain_folder, path)):
        problems.append(f"{path}: a folder upstream")
    return problems


def _check_checkout(speechbrain_folder):
    missing = [
        p
        for p in ("speechbrain/__init__.py", RECIPES, RECIPE_TABLES)
        if not os.path.exists(os.path.join(speechbrain_folder, p))
    ]
    if missing:
        raise ExportError(
            f"{speechbrain_folder}: not a SpeechBrain checkout (no "
            f"{', '.join(missing)})"
        )


# ----------------------------------------------------------------------- plan
def plan_export(speechbrain_folder, collection_folder=None, format_code=True):
    """Plans the export of the collection into a SpeechBrain checkout.

    Arguments
    ---------
    speechbrain_folder : str
        The SpeechBrain checkout (holding ``speechbrain/``, ``recipes/`` and
        ``tests/recipes/``); nothing is written.
    collection_folder : str, optional
        The collection's root; by default the one this package is
        installed from.
    format_code : bool
        Sort imports and format the Python files with ``ruff`` under the
        checkout's ``pyproject.toml`` (upstream's pre-commit does).

    Returns
    -------
    ExportPlan
        What :func:`write_export` writes.

    Raises
    ------
    ExportError
        Naming every file of upstream's that the export would change,
        every module or package that would shadow one of upstream's, and
        every exported file that imports a module that stays out.

    Example
    -------
    >>> import tempfile
    >>> checkout = tempfile.mkdtemp()
    >>> for folder in ("speechbrain/nnet", "recipes", "tests/recipes"):
    ...     os.makedirs(os.path.join(checkout, folder))
    >>> for name in ("__init__.py", "nnet/__init__.py", "nnet/RNN.py"):
    ...     open(os.path.join(checkout, "speechbrain", name), "w").close()
    >>> plan = plan_export(checkout, format_code=False)
    >>> "speechbrain/nnet/padded_rnn.py" in plan.files
    True
    >>> "speechbrain/nnet/__init__.py" in plan.unchanged
    True
    >>> plan.left_out["speechbrain_ext/synthetic/synthemo.py"] == SYNTHETIC
    True
    """
    speechbrain_folder = os.path.abspath(speechbrain_folder)
    root = os.path.abspath(collection_folder or collection_root())
    _check_checkout(speechbrain_folder)
    sources = list_sources(root)
    names = UpstreamNames(sources)
    plan = ExportPlan()
    problems = []
    tables, setup_scripts, readmes = [], [], []

    for path in sources:
        reason = left_out_reason(path)
        if reason is not None:
            plan.left_out[path] = reason
            continue
        if _under(path, RECIPE_TABLES):
            if _under(path, SETUP_FOLDER):
                setup_scripts.append(path)
            elif path.endswith(".csv"):
                tables.append(path)
            else:
                plan.left_out[path] = "not a recipe table"
            continue
        data = _read(root, path)
        text = _text(data)
        if text is not None and path.endswith(".yaml"):
            used = _yaml_uses_left_out(text, names)
            if used is not None and _under(path, RECIPES):
                plan.left_out[path] = (
                    f"they use {used[0]}, which stays in the collection: "
                    f"{used[1]}"
                )
                continue
            if used is not None:
                problems.append(
                    f"{path}: uses {used[0]}, which stays out ({used[1]})"
                )
        target = target_path(path, names)
        if target is None:
            continue
        link = _exported_link(root, path, names)
        if link is not None:
            plan.links[target] = (link, path)
            continue
        if text is not None:
            names.kept = []
            text = names.rewrite(text)
            if path.endswith(".py"):
                for match in _IMPORT_LINE.finditer(text):
                    reason = names.reason_left_out(match.group(1))
                    if reason is not None:
                        problems.append(
                            f"{path}: imports {match.group(1)}, which stays "
                            f"out ({reason})"
                        )
            if names.kept:
                plan.kept_names[target] = sorted(set(names.kept))
            data = text.encode("utf-8")
        mode = os.stat(os.path.join(root, path)).st_mode & 0o777
        plan.files[target] = (data, mode, path)
        if path.endswith("README.md") and _under(path, RECIPES):
            readmes.append(target)

    exported = {src: dst for dst, (_, _, src) in plan.files.items()}
    exported.update({src: dst for dst, (_, src) in plan.links.items()})
    _plan_rows(plan, root, names, tables, exported, problems)
    _plan_setup(plan, root, names, setup_scripts, exported)
    _plan_requirements(plan, root, names, exported, speechbrain_folder)
    files_by_source = dict(exported)
    for target in readmes:
        data, mode, source = plan.files[target]
        text, unlinked = _relink(
            data.decode("utf-8"),
            source,
            target,
            files_by_source,
            speechbrain_folder,
        )
        note = _left_out_note(os.path.dirname(source), plan.left_out)
        if note:
            text = _insert_note(text, note)
        if unlinked:
            plan.notes.append(
                f"{target}: links to files that stay out made plain text: "
                + ", ".join(unlinked)
            )
        plan.files[target] = (text.encode("utf-8"), mode, source)
    if format_code:
        note = _format_python(plan.files, speechbrain_folder)
        if note:
            plan.notes.append(note)
    _package_data_note(plan, speechbrain_folder)

    plan.exported = {dst: src for dst, (_, _, src) in plan.files.items()}
    plan.exported_rows = {
        table: [dict(zip(header, row)) for row in rows]
        for table, (header, rows, _) in plan.rows.items()
    }
    for target in sorted(plan.files):
        data, _, source = plan.files[target]
        full = os.path.join(speechbrain_folder, target)
        if os.path.isfile(full):
            if target.endswith("__init__.py") and _is_docstring_only(
                data.decode("utf-8")
            ):
                plan.unchanged.append(target)
                del plan.exported[target]  # upstream's package stays
                continue
            if _read(speechbrain_folder, target) == data:
                plan.unchanged.append(target)
                continue
            problems.append(
                f"{target}: exists in the SpeechBrain checkout and differs "
                f"from the export of {source} (give it another name in "
                "MODULE_MAP of speechbrain_ext/upstream/export.py, or merge "
                "it by hand)"
            )
            continue
        problems.extend(_collisions(target, speechbrain_folder))
    for target in plan.unchanged:
        del plan.files[target]
    for target, (link, source) in sorted(plan.links.items()):
        plan.exported[target] = source
        full = os.path.join(speechbrain_folder, target)
        if os.path.islink(full) and os.readlink(full) == link:
            plan.unchanged.append(target)
        elif os.path.lexists(full):
            problems.append(
                f"{target}: exists in the SpeechBrain checkout and is not "
                f"the link to {link} that the export of {source} writes"
            )
    for target in plan.unchanged:
        plan.links.pop(target, None)
    _check_rows(plan, speechbrain_folder, problems)
    if problems:
        raise ExportError(
            f"cannot export into {speechbrain_folder}:\n  "
            + "\n  ".join(problems)
        )
    return plan


def _read_table(root, path):
    with open(os.path.join(root, path), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ExportError(f"{path}: an empty recipe table")
    return rows[0], rows[1:]


def _plan_rows(plan, root, names, tables, exported, problems):
    for table in tables:
        header, rows = _read_table(root, table)
        if "Hparam_file" not in header:
            problems.append(f"{table}: no Hparam_file column")
            continue
        column = header.index("Hparam_file")
        keep = []
        for row in rows:
            if not row:
                continue
            hparams = row[column].strip()
            if hparams in exported:
                keep.append([names.rewrite(field) for field in row])
            elif hparams in plan.left_out:
                plan.left_out[f"{table}: {hparams}"] = plan.left_out[hparams]
        if keep:
            plan.rows[table] = (header, keep, False)


def setup_script_path(script, hparams):
    """The setup script upstream's recipe-test harness runs for a row.

    Arguments
    ---------
    script : str
        The row's ``Script_file``.
    hparams : str
        The row's ``Hparam_file``.

    Returns
    -------
    str
        The path that ``run_recipe_tests`` runs before the row, if it
        exists.

    Example
    -------
    >>> setup_script_path("recipes/A/B/train.py", "recipes/A/B/hparams/x.yaml")
    'tests/recipes/setup/recipes_A_B_train/hparams_x'
    """
    folder = os.path.join(SETUP_FOLDER, script[:-3].replace("/", "_"))
    name = hparams.replace(os.path.dirname(script), "")[1:-5].replace("/", "_")
    return f"{folder}/{name}"


def _plan_setup(plan, root, names, setup_scripts, exported):
    wanted = set()
    for header, rows, _ in plan.rows.values():
        script = header.index("Script_file")
        hparams = header.index("Hparam_file")
        for row in rows:
            path = setup_script_path(row[script].strip(), row[hparams].strip())
            wanted.add(path)
            wanted.add(f"{os.path.dirname(path)}/tear_down")
    for path in setup_scripts:
        if path not in wanted:
            plan.left_out[path] = "setup script of a row that stays out"
            continue
        text = names.rewrite(_read(root, path).decode("utf-8"))
        mode = os.stat(os.path.join(root, path)).st_mode & 0o777
        plan.files[path] = (text.encode("utf-8"), mode, path)


def _plan_requirements(plan, root, names, exported, speechbrain_folder):
    upstream = upstream_requirements(speechbrain_folder)
    declared = _declared_specifiers()
    deps = _Dependencies(root, names)
    recipes = set()
    for header, rows, _ in plan.rows.values():
        script = header.index("Script_file")
        recipes.update(os.path.dirname(row[script].strip()) for row in rows)
    for folder in sorted(recipes):
        files = [p for p in exported if _under(p, folder)]
        external = deps.closure(files)
        existing = f"{folder}/{EXTRA_REQUIREMENTS}"
        lines = _extra_requirements(external, upstream, declared)
        if existing in plan.files:  # the recipe's own list comes first
            own = plan.files[existing][0].decode("utf-8").splitlines()
            listed = {_requirement_name(x) for x in own}
            lines = own + [
                x for x in lines if _requirement_name(x) not in listed
            ]
        if not lines:
            continue
        plan.requirements[folder] = lines
        text = "\n".join(lines) + "\n"
        plan.files[existing] = (text.encode("utf-8"), 0o644, existing)
    # what the exported library and test modules import beyond upstream's
    for prefix, what in ((f"{UPSTREAM}/", "library"), ("tests/", "test")):
        users = {}
        for target, (_, _, source) in sorted(plan.files.items()):
            if not (_under(target, prefix) and source.endswith(".py")):
                continue
            for line in _extra_requirements(
                deps.of_file(source)[1], upstream, declared
            ):
                users.setdefault(line, []).append(target)
        for line, paths in sorted(users.items()):
            plan.notes.append(
                f"{line}: not in SpeechBrain's requirements.txt, imported by "
                f"the exported {what} modules {', '.join(paths)}"
            )


def _package_data_note(plan, speechbrain_folder):
    patterns = sorted(
        {
            os.path.relpath(os.path.dirname(t), UPSTREAM).replace(os.sep, "/")
            + "/*"
            + os.path.splitext(t)[1]
            for t in plan.files
            if _under(t, UPSTREAM) and not t.endswith(".py")
        }
    )
    try:
        import tomllib

        with open(
            os.path.join(speechbrain_folder, "pyproject.toml"), "rb"
        ) as f:
            config = tomllib.load(f)
        listed = config["tool"]["setuptools"]["package-data"][UPSTREAM]
    except (ImportError, OSError, KeyError, ValueError):
        listed = []
    missing = [p for p in patterns if p not in listed]
    if missing:
        plan.notes.append(
            f"package data: {', '.join(missing)} must be added to "
            f"[tool.setuptools.package-data] {UPSTREAM} in pyproject.toml "
            "for a non-editable install to ship them (upstream's file: the "
            "export does not change it)"
        )


def _check_rows(plan, speechbrain_folder, problems):
    for table, (header, rows, _) in list(plan.rows.items()):
        full = os.path.join(speechbrain_folder, table)
        if not os.path.exists(full):
            plan.rows[table] = (header, rows, True)
            continue
        there_header, there = _read_table(speechbrain_folder, table)
        if [h.strip() for h in there_header] != [h.strip() for h in header]:
            problems.append(f"{table}: its header differs from the export's")
            continue
        column = header.index("Hparam_file")
        existing = {
            r[column].strip(): [f.strip() for f in r] for r in there if r
        }
        append = []
        for row in rows:
            old = existing.get(row[column].strip())
            if old is None:
                append.append(row)
            elif old != [f.strip() for f in row]:
                problems.append(
                    f"{table}: has a different row for {row[column].strip()}"
                )
        if append:
            plan.rows[table] = (header, append, False)
        else:
            del plan.rows[table]
            plan.unchanged.append(table)


# ---------------------------------------------------------------------- write
def _exported_link(root, path, names):
    """The link text of a source symlink whose file is exported, or None.

    A link that leaves the collection, or points to a file that stays out
    or moves to another relative place, is exported as a copy of its file.
    """
    full = os.path.join(root, path)
    if not os.path.islink(full):
        return None
    link = os.readlink(full)
    destination = os.path.normpath(
        os.path.join(os.path.dirname(path), link)
    ).replace(os.sep, "/")
    if os.path.isabs(link) or destination.startswith("../"):
        return None
    destination_target = target_path(destination, names)
    if destination_target is None:
        return None
    target = target_path(path, names)
    relative = os.path.relpath(
        destination_target, os.path.dirname(target)
    ).replace(os.sep, "/")
    return relative if relative == link else None


def write_export(plan, speechbrain_folder):
    """Writes a planned export into the SpeechBrain checkout.

    Arguments
    ---------
    plan : ExportPlan
        From :func:`plan_export` on the same checkout.
    speechbrain_folder : str
        The SpeechBrain checkout.

    Returns
    -------
    list of str
        The paths written (files, and csv tables with rows appended).
    """
    written = []
    for target, (data, mode, _) in sorted(plan.files.items()):
        full = os.path.join(speechbrain_folder, target)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, mode)
        written.append(target)
    for target, (link, _) in sorted(plan.links.items()):
        full = os.path.join(speechbrain_folder, target)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.symlink(link, full)
        written.append(target)
    for table, (header, rows, new) in sorted(plan.rows.items()):
        full = os.path.join(speechbrain_folder, table)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if new:
            writer.writerow(header)
        else:
            with open(full, "rb") as f:
                content = f.read()
            if content and not content.endswith(b"\n"):
                buffer.write("\n")
        writer.writerows(rows)
        with open(full, "a", encoding="utf-8", newline="") as f:
            f.write(buffer.getvalue())
        written.append(table)
    return written
