"""The project's own import graph has no cycle: every dependency of s_cnn_rnn/ and data_prep/ points down.

The graph is read from the source (`ast`), so it sees every import, at module level or inside a
function: a function-local import delays a dependency, it does not remove it. An import of a
module outside the project (TensorFlow, matplotlib, ...) is no edge, so lazy imports that keep
TensorFlow out of a fast start-up stay allowed; a function-local import of a project module is
allowed only where it closes no cycle.

Edges follow what Python runs: `import a.b.c` (or `from a.b import c`) in a module outside the
package `a.b` runs `a.b`'s `__init__` and then `a.b.c`, so it is an edge to both; a package's
`__init__` that gathers its own modules is no cycle (they run after it started). A call
`importlib.import_module(f"{__name__}.{...}")` (a lazy package, PEP 562) is an edge to each of the
package's modules, since the test cannot tell which.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("s_cnn_rnn", "data_prep")


def _modules(root: pathlib.Path) -> dict[str, tuple[pathlib.Path, bool]]:
    """{dotted name: (file, is a package's __init__)} of every module under the packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _lazy_package_import(node: ast.AST) -> bool:
    """`importlib.import_module(f"{__name__}. ...")`: a package importing one of its own modules by name."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
            and bool(node.args) and isinstance(node.args[0], ast.JoinedStr) and bool(node.args[0].values)
            and isinstance(node.args[0].values[0], ast.FormattedValue)
            and isinstance(node.args[0].values[0].value, ast.Name) and node.args[0].values[0].value.id == "__name__")


def _imported(name: str, is_package: bool, node: ast.AST, modules: dict) -> list[str]:
    """The project modules one import statement (or lazy import call) names, most specific first."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from the importing module's package, `level - 1` packages up
            package = name.split(".") if is_package else name.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module
        # `from a import b` names the module a.b where there is one, else an attribute of a.
        return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    if isinstance(node, ast.Call) and _lazy_package_import(node) and is_package:
        return [module for module in modules if module.rsplit(".", 1)[0] == name and module != name]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return [node.args[0].value]
    return []


def import_graph(root: pathlib.Path = ROOT) -> dict[str, dict[str, str]]:
    """{module: {module it imports: "file:line" of the (first) import}} over the project's modules."""
    modules = _modules(root)
    graph = {}
    for name, (path, is_package) in modules.items():
        edges = graph.setdefault(name, {})
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1 + is_package)}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in _imported(name, is_package, node, modules):
                parts = target.split(".")
                # The packages on the way run first: each one not already running for this module is an edge.
                for depth in range(1, len(parts) + 1):
                    module = ".".join(parts[:depth])
                    if module in modules and module != name and module not in own_packages:
                        edges.setdefault(module, f"{path.relative_to(root)}:{node.lineno}")
    return graph


def circles(graph: dict[str, dict[str, str]]) -> list[set[str]]:
    """The groups of modules that each reach every other one of their group (strongly connected, > 1 module)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for start in sorted(graph):  # Tarjan's algorithm, iterative (no recursion limit)
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle (a list of modules, the first repeated at the end) per circle of modules."""
    return [_shortest_cycle(graph, group) for group in circles(graph)]


def _shortest_cycle(graph: dict, group: set) -> list[str]:
    """The shortest cycle through the group's first module (breadth-first, inside the group)."""
    start = min(group)
    parents, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [start] + path[::-1][1:] + [start]
                if child in group and child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{sorted(group)} is no cycle")


def describe(graph: dict, cycle: list[str]) -> str:
    """'a -> b (a.py:3) -> a (b.py:7)': each step with the import that makes it."""
    steps = [cycle[0]] + [f"{child} ({graph[parent][child]})" for parent, child in zip(cycle, cycle[1:])]
    return " -> ".join(steps)


def test_the_project_imports_no_module_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and "s_cnn_rnn.tasks" in graph["s_cnn_rnn.inference"]  # the graph was read
    found = [f"{describe(graph, _shortest_cycle(graph, group))}; the circle: {', '.join(sorted(group))}"
             for group in circles(graph)]
    assert not found, "import cycles (each step names the import that makes it):\n" + "\n".join(found)


def documented_layers(notes: str) -> dict[str, int]:
    """{path (`a/b.py` or package `a/`): layer number} of BUILD_NOTES.md's "What is where" list."""
    section = notes.split("## What is where\n", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for number, item in re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |^$)", section, flags=re.MULTILINE | re.DOTALL):
        for path in re.findall(r"`([\w/]+(?:\.py|/))`", item):
            assert path not in layers, f"BUILD_NOTES.md lists {path} in two layers"
            layers[path] = int(number)
    return layers


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of a dotted module: its file's own entry, else its innermost listed package's."""
    parts = module.split(".")
    candidates = ["/".join(parts) + ".py"] + ["/".join(parts[:depth]) + "/" for depth in range(len(parts), 0, -1)]
    return next((layers[path] for path in candidates if path in layers), None)


def test_every_import_points_down_the_layers_build_notes_lists():
    graph = import_graph()
    layers = documented_layers((ROOT / "BUILD_NOTES.md").read_text(encoding="utf-8"))
    assert len(set(layers.values())) >= 5  # the list was read
    # The packages' own (empty) __init__ files import nothing and sit below everything.
    roots = {package: 0 for package in PACKAGES}
    assert all(not graph[package] for package in roots)
    unlisted = sorted(module for module in graph if module not in roots and layer_of(module, layers) is None)
    assert not unlisted, f"modules in no layer of BUILD_NOTES.md \"What is where\": {', '.join(unlisted)}"
    upward = [f"{module} (layer {layer_of(module, layers)}) imports {target} (layer {layer_of(target, layers)}) "
              f"at {where}"
              for module, targets in sorted(graph.items()) if module not in roots
              for target, where in sorted(targets.items())
              if target not in roots and layer_of(target, layers) > layer_of(module, layers)]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_layer_list_is_read_as_written():
    notes = ("## What is where\n\nBottom to top:\n\n1. **Low**: `a/x.py`,\n   `a/p/`.\n2. **High**: `a/`.\n\n"
             "A path ending in `/` is a package.\n\n## Next\n3. `a/z.py`\n")
    layers = documented_layers(notes)
    assert layers == {"a/x.py": 1, "a/p/": 1, "a/": 2}
    assert [layer_of(name, layers) for name in ("a.x", "a.p.q", "a.y", "a", "b.c")] == [1, 1, 2, 2, None]


def _write(root: pathlib.Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_closed_by_a_function_local_import_is_found_and_named(tmp_path):
    _write(tmp_path, {
        "s_cnn_rnn/__init__.py": "",
        "s_cnn_rnn/low.py": "import json\n\ndef f():\n    from s_cnn_rnn import high\n    return high\n",
        "s_cnn_rnn/high.py": "from s_cnn_rnn.low import f\n",
        "data_prep/__init__.py": "",
    })
    graph = import_graph(tmp_path)
    assert graph["s_cnn_rnn.low"] == {"s_cnn_rnn.high": "s_cnn_rnn/low.py:4"}  # json is no edge
    assert [describe(graph, cycle) for cycle in cycles(graph)] == [
        "s_cnn_rnn.high -> s_cnn_rnn.low (s_cnn_rnn/high.py:1) -> s_cnn_rnn.high (s_cnn_rnn/low.py:4)"]


def test_a_package_gathering_its_modules_is_no_cycle_but_a_module_outside_it_reaching_back_is(tmp_path):
    files = {
        "s_cnn_rnn/__init__.py": "",
        "s_cnn_rnn/pkg/__init__.py": "from .a import A\nfrom s_cnn_rnn.pkg.b import B\n",
        "s_cnn_rnn/pkg/a.py": "A = 1\n",
        "s_cnn_rnn/pkg/b.py": "from s_cnn_rnn.pkg import a\nfrom s_cnn_rnn import top\nB = a.A\n",
        "s_cnn_rnn/top.py": "import tensorflow\n",
        "data_prep/__init__.py": "",
    }
    _write(tmp_path, files)
    assert cycles(import_graph(tmp_path)) == []
    # top imports the package's module a: the package's __init__ runs first, and it imports b, which imports top.
    _write(tmp_path, {"s_cnn_rnn/top.py": "def g():\n    import s_cnn_rnn.pkg.a\n"})
    graph = import_graph(tmp_path)
    assert graph["s_cnn_rnn.top"] == {"s_cnn_rnn.pkg": "s_cnn_rnn/top.py:2", "s_cnn_rnn.pkg.a": "s_cnn_rnn/top.py:2"}
    assert cycles(graph) == [["s_cnn_rnn.pkg", "s_cnn_rnn.pkg.b", "s_cnn_rnn.top", "s_cnn_rnn.pkg"]]


def test_a_lazy_package_import_counts_as_an_import_of_each_of_its_modules(tmp_path):
    _write(tmp_path, {
        "s_cnn_rnn/__init__.py": "",
        "s_cnn_rnn/lazy/__init__.py": ("import importlib\n\ndef __getattr__(name):\n"
                                       "    return importlib.import_module(f\"{__name__}.{name}\")\n"),
        "s_cnn_rnn/lazy/one.py": "from s_cnn_rnn import user\n",
        "s_cnn_rnn/user.py": "from s_cnn_rnn import lazy\n",
        "data_prep/__init__.py": "",
    })
    graph = import_graph(tmp_path)
    assert set(graph["s_cnn_rnn.lazy"]) == {"s_cnn_rnn.lazy.one"}
    assert cycles(graph) == [["s_cnn_rnn.lazy", "s_cnn_rnn.lazy.one", "s_cnn_rnn.user", "s_cnn_rnn.lazy"]]
