import numpy as np
import pytest

from compiler.errors import PassError, UsageError
from compiler.ir import GraphBuilder
from compiler.passes import MERGE_PIPELINE, Pass, PassResult, run_passes, select_passes
from tests.passes.equivalence import assert_equivalent


def small_graph():
    b = GraphBuilder()
    x = b.input("x", (2, 4))
    h = b.op("identity", [b.op("dense", [x, b.const(np.ones((8, 4), np.float32))])])
    y = b.op("dense", [h, b.const(np.ones((3, 8), np.float32))], name="y")
    b.output(y)
    return b.build()


def test_pipeline_records_each_pass_and_dumps_ir(tmp_path):
    g = small_graph()
    result = run_passes(g, MERGE_PIPELINE, verify_each=True, dump_dir=tmp_path)
    assert [r.name for r in result.records] == [p.name for p in MERGE_PIPELINE]
    by_name = {r.name: r for r in result.records}
    assert by_name["eliminate-noops"].changes["nodes_removed"] == 1
    assert by_name["merge-linear-chains"].changes["layers_merged"] == 1
    assert [n.op for n in result.graph.nodes] == ["dense"]
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["000_input.ir", "001_eliminate-noops.ir"]
    assert len(list(tmp_path.iterdir())) == len(MERGE_PIPELINE) + 1
    assert_equivalent(g, result.graph)


def test_failing_pass_is_named_with_history():
    def broken(graph):
        graph = graph.copy()
        graph.nodes[0].inputs = ["nowhere"]
        return PassResult(graph, {"x": 1})

    with pytest.raises(PassError, match=r"pass 'broken' failed \(after passes: eliminate-noops\).*nowhere"):
        run_passes(small_graph(), [MERGE_PIPELINE[0], Pass("broken", broken)], verify_each=True)


def test_select_passes():
    assert [p.name for p in select_passes(["fold-batchnorm", "eliminate-dead-nodes"])] == \
        ["fold-batchnorm", "eliminate-dead-nodes"]
    with pytest.raises(UsageError, match="unknown pass"):
        select_passes(["fold-everything"])
