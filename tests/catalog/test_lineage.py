"""Model lineage: the DAG from a real dbt manifest, trees, impact analysis, cycles, lookup."""

from __future__ import annotations

import pytest

from headwater.catalog import (
    LineageGraph,
    LineageNode,
    LineageTree,
    UnknownNodeError,
    build_graph,
    load_manifest,
    model_lineage,
)
from tests.catalog.tiny_dbt import tiny_build


@pytest.fixture(scope="module")
def graph() -> LineageGraph:
    return model_lineage(load_manifest(tiny_build().target_dir))


def names(tree: LineageTree) -> object:
    """(name, [children]) nested, flags marked, for compact assertions."""
    flag = " (cycle)" if tree.cycle else " (repeated)" if tree.repeated else ""
    return (tree.node.name + flag, [names(child) for child in tree.children])


def test_nodes_and_edges_of_the_diamond(graph: LineageGraph) -> None:
    assert {n.name: n.resource_type for n in graph.nodes.values()} == {
        "orders.orders": "source", "shop.customers": "source", "countries": "seed",
        "a": "model", "b": "model", "c": "model", "d": "model",
    }
    edges = {(graph.nodes[e.parent].name, graph.nodes[e.child].name) for e in graph.edges}
    assert edges == {
        ("orders.orders", "a"), ("shop.customers", "a"),
        ("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"),
    }


def test_impact_of_a_reaches_d_once(graph: LineageGraph) -> None:
    impact = [(i.node.name, i.distance) for i in graph.impact("a")]
    assert impact == [("b", 1), ("c", 1), ("d", 2)]
    assert [(i.node.name, i.distance) for i in graph.impact("orders.orders")] == [
        ("a", 1), ("b", 2), ("c", 2), ("d", 3)
    ]
    assert graph.impact("d") == []


def test_downstream_and_upstream_trees(graph: LineageGraph) -> None:
    assert names(graph.downstream("a")) == (
        "a", [("b", [("d", [])]), ("c", [("d (repeated)", [])])]
    )
    assert names(graph.upstream("d")) == (
        "d",
        [
            ("b", [("a", [("orders.orders", []), ("shop.customers", [])])]),
            ("c", [("a (repeated)", [])]),
        ],
    )
    shallow = graph.upstream("d", max_depth=1)
    assert names(shallow) == ("d", [("b", []), ("c", [])])
    assert graph.downstream("a").as_dict()["children"][0]["children"][0]["depth"] == 2


def test_lookup_by_id_name_source_and_relation(graph: LineageGraph) -> None:
    assert graph.find("model.tiny.b").name == "b"
    assert graph.find("B").id == "model.tiny.b"
    assert graph.find("orders.orders").id == "source.tiny.orders.orders"
    assert graph.find("raw_shop.customers").id == "source.tiny.shop.customers"


def test_unknown_node_lists_close_matches(graph: LineageGraph) -> None:
    with pytest.raises(UnknownNodeError, match=r"no lineage node named 'order\.orders'.*"
                       r"did you mean orders\.orders"):
        graph.find("order.orders")
    with pytest.raises(UnknownNodeError, match=r"'zzz' \(\d+ known\)"):
        graph.find("zzz")


def test_ambiguous_name_names_the_candidates() -> None:
    nodes = [LineageNode("model.p1.m", "m", "model"), LineageNode("model.p2.m", "m", "model")]
    with pytest.raises(UnknownNodeError, match=r"ambiguous.*model\.p1\.m, model\.p2\.m"):
        build_graph(nodes, {}).find("m")


def test_cycles_do_not_loop_forever() -> None:
    nodes = [LineageNode(n, n, "model") for n in ("x", "y", "z")]
    graph = build_graph(nodes, {"y": ["x"], "z": ["y"], "x": ["z", "ghost"]})
    assert names(graph.downstream("x")) == ("x", [("y", [("z", [("x (cycle)", [])])])])
    assert names(graph.upstream("x")) == ("x", [("z", [("y", [("x (cycle)", [])])])])
    assert [(i.node.name, i.distance) for i in graph.impact("x")] == [("y", 1), ("z", 2)]


def test_consoles_join_the_graph(graph: LineageGraph) -> None:
    extended = graph.with_nodes(
        [("console.daily", ["d", "raw_shop.events"]), ("console.weekly", ["console.daily"])]
    )
    daily = extended.find("daily")
    assert daily.resource_type == "console"
    assert set(extended.parents["console.daily"]) == {"model.tiny.d", "raw_shop.events"}
    assert extended.nodes["raw_shop.events"].resource_type == "table"
    assert [(i.node.id, i.distance) for i in extended.impact("a")] == [
        ("model.tiny.b", 1), ("model.tiny.c", 1), ("model.tiny.d", 2),
        ("console.daily", 3), ("console.weekly", 4),
    ]
    assert "console.daily" not in graph.nodes  # the original graph is unchanged
    via_model_lineage = model_lineage(load_manifest(tiny_build().target_dir),
                                      extra=[("console.daily", ["d"])])
    assert via_model_lineage.children["model.tiny.d"] == ("console.daily",)
