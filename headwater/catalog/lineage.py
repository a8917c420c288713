"""Model lineage: the DAG of sources -> seeds/models -> (later) consoles, and impact analysis.

The graph is built from dbt's manifest; other producers (consoles) add their nodes through
`LineageGraph.with_nodes`. Walks are cycle-safe because hand-made or console edges can form
cycles even though dbt's own graph cannot.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from headwater.catalog.manifest import Manifest
from headwater.errors import TerminalError

LINEAGE_TYPES = ("source", "seed", "snapshot", "model")
"""Manifest resource types that become lineage nodes (tests are not data)."""

Direction = Literal["upstream", "downstream", "both"]
"""Which way a walk follows edges: to what a node reads, to what reads it, or both."""


class UnknownNodeError(TerminalError):
    """A node reference matched no node (or several); the message lists close matches."""


@dataclass(frozen=True)
class LineageNode:
    """A node of the lineage graph."""

    id: str
    """Unique id: dbt's unique_id, or `console.<name>` and the like for other producers."""
    name: str
    """Short name people type: model name, `source.table` for a source."""
    resource_type: str
    """source, seed, snapshot, model, console, table, ..."""
    relation: str | None = None
    """`schema.table` in the warehouse, when known."""
    error: str | None = None
    """Why the node's own SQL could not be analysed (a console with broken SQL): it is
    shown, but its parents are unknown."""


@dataclass(frozen=True)
class LineageEdge:
    """`parent` is read by `child`."""

    parent: str
    """Id of the upstream node."""
    child: str
    """Id of the downstream node."""


@dataclass(frozen=True)
class LineageTree:
    """A node with its upstream or downstream nodes below it."""

    node: LineageNode
    """This node."""
    children: tuple[LineageTree, ...] = ()
    """Next nodes in the walk's direction, sorted by name."""
    depth: int = 0
    """Distance from the root of the walk."""
    cycle: bool = False
    """The node is already on the path from the root: not expanded again (a cycle)."""
    repeated: bool = False
    """The node was expanded elsewhere in this tree: not expanded again (keeps trees small)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (for the API and `--json` output)."""
        return {
            "id": self.node.id,
            "name": self.node.name,
            "resource_type": self.node.resource_type,
            "error": self.node.error,
            "depth": self.depth,
            "cycle": self.cycle,
            "repeated": self.repeated,
            "children": [child.as_dict() for child in self.children],
        }


@dataclass(frozen=True)
class Impact:
    """A node downstream of the changed one."""

    node: LineageNode
    """The affected node."""
    distance: int
    """Shortest number of edges from the changed node."""


@dataclass(frozen=True)
class LineageGraph:
    """Nodes and parent links; children are derived."""

    nodes: Mapping[str, LineageNode]
    """Nodes by id."""
    parents: Mapping[str, tuple[str, ...]]
    """Node id -> ids of the nodes it reads (only known nodes)."""

    @property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Node id -> ids of the nodes that read it."""
        found: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        for child, parents in self.parents.items():
            for parent in parents:
                found.setdefault(parent, []).append(child)
        return {node_id: tuple(sorted(ids)) for node_id, ids in found.items()}

    @property
    def edges(self) -> list[LineageEdge]:
        """Every parent -> child edge, sorted."""
        return sorted(
            (LineageEdge(parent, child) for child, ps in self.parents.items() for parent in ps),
            key=lambda e: (e.parent, e.child),
        )

    def find(self, ref: str) -> LineageNode:
        """The node called `ref`: a unique id, a name (`stg_orders`, `orders.orders` for a
        source table) or a `schema.table` relation, case-insensitively."""
        if ref in self.nodes:
            return self.nodes[ref]
        wanted = ref.lower()
        for key in (lambda n: n.id.lower(), lambda n: n.name.lower(),
                    lambda n: (n.relation or "").lower()):
            matches = [n for n in self.nodes.values() if key(n) == wanted]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                ids = ", ".join(sorted(n.id for n in matches))
                raise UnknownNodeError(f"'{ref}' is ambiguous: it names {ids}; use a unique id")
        names = sorted({n.name for n in self.nodes.values()} | set(self.nodes))
        close = difflib.get_close_matches(ref, names, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f" ({len(self.nodes)} known)"
        raise UnknownNodeError(f"no lineage node named '{ref}'{hint}")

    def upstream(self, ref: str, max_depth: int | None = None) -> LineageTree:
        """What `ref` reads, transitively, as a tree rooted at `ref`."""
        return self._tree(self.find(ref).id, self.parents, max_depth)

    def downstream(self, ref: str, max_depth: int | None = None) -> LineageTree:
        """What reads `ref`, transitively, as a tree rooted at `ref`."""
        return self._tree(self.find(ref).id, self.children, max_depth)

    def impact(self, ref: str) -> list[Impact]:
        """Every node downstream of `ref` once, with its shortest distance (BFS), nearest first."""
        start = self.find(ref).id
        children = self.children
        distance = {start: 0}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for child in children.get(current, ()):
                if child not in distance:  # first visit in BFS order is the shortest path
                    distance[child] = distance[current] + 1
                    queue.append(child)
        found = [Impact(self.nodes[n], d) for n, d in distance.items() if n != start]
        return sorted(found, key=lambda i: (i.distance, i.node.name, i.node.id))

    def subgraph(
        self, ref: str, direction: Direction = "both", max_depth: int | None = None
    ) -> LineageGraph:
        """The nodes within `max_depth` edges of `ref` (upstream, downstream or both ways;
        every distance when None), and the edges between them."""
        start = self.find(ref).id
        kept = {start}
        walks = [] if direction == "downstream" else [self.parents]
        walks += [] if direction == "upstream" else [self.children]
        for nexts in walks:
            seen = {start}
            frontier = [start]
            depth = 0
            while frontier and (max_depth is None or depth < max_depth):
                frontier = list(
                    dict.fromkeys(n for f in frontier for n in nexts.get(f, ()) if n not in seen)
                )
                seen.update(frontier)
                depth += 1
            kept |= seen
        return build_graph((self.nodes[n] for n in sorted(kept)), self.parents)

    def with_nodes(
        self, extra: Iterable[tuple[str, Iterable[str]]], resource_type: str = "console"
    ) -> LineageGraph:
        """A new graph with extra (node_id, parents) pairs, e.g. consoles and the tables they
        read. Parents are resolved like `find`; unknown ones become `table` nodes."""
        nodes = dict(self.nodes)
        parents = dict(self.parents)
        for node_id, node_parents in extra:
            name = node_id.split(".", 1)[1] if node_id.startswith(f"{resource_type}.") else node_id
            nodes.setdefault(node_id, LineageNode(node_id, name, resource_type))
            resolved: list[str] = []
            for parent in node_parents:
                try:
                    resolved.append(LineageGraph(nodes, parents).find(parent).id)
                except UnknownNodeError:
                    nodes[parent] = LineageNode(parent, parent, "table", parent)
                    resolved.append(parent)
            parents[node_id] = tuple(sorted(set(parents.get(node_id, ())) | set(resolved)))
        return LineageGraph(nodes, parents)

    def _tree(
        self, root: str, nexts: Mapping[str, tuple[str, ...]], max_depth: int | None
    ) -> LineageTree:
        expanded: set[str] = set()

        def walk(node_id: str, path: frozenset[str], depth: int) -> LineageTree:
            node = self.nodes[node_id]
            if node_id in path:
                return LineageTree(node, depth=depth, cycle=True)
            if node_id in expanded:
                return LineageTree(node, depth=depth, repeated=True)
            expanded.add(node_id)
            if max_depth is not None and depth >= max_depth:
                return LineageTree(node, depth=depth)
            following = sorted(nexts.get(node_id, ()), key=lambda n: (self.nodes[n].name, n))
            inner = path | {node_id}
            return LineageTree(node, tuple(walk(n, inner, depth + 1) for n in following), depth)

        return walk(root, frozenset(), 0)


def build_graph(
    nodes: Iterable[LineageNode], parents: Mapping[str, Iterable[str]]
) -> LineageGraph:
    """A graph from explicit nodes and parent links; links to unknown ids are dropped."""
    by_id = {node.id: node for node in nodes}
    links = {
        node_id: tuple(sorted({p for p in parents.get(node_id, ()) if p in by_id}))
        for node_id in by_id
    }
    return LineageGraph(by_id, links)


def model_lineage(
    manifest: Manifest, extra: Iterable[tuple[str, Iterable[str]]] = ()
) -> LineageGraph:
    """The model DAG of a dbt manifest (sources, seeds, snapshots, models), plus `extra`
    (node_id, parents) pairs such as consoles."""
    nodes = [
        LineageNode(
            id=n.unique_id,
            name=n.display_name,
            resource_type=n.resource_type,
            relation=f"{n.schema}.{n.table}" if n.schema else None,
        )
        for n in manifest.of_type(*LINEAGE_TYPES)
    ]
    graph = build_graph(nodes, {n.unique_id: n.depends_on for n in manifest.nodes.values()})
    extra = list(extra)
    return graph.with_nodes(extra) if extra else graph
