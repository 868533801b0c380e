"""``runtime.Model`` on this machine: inputs staged in shared aligned buffers, outputs returned as
copies, one call at a time (the buffers are shared), each result checked against onnxruntime."""

from __future__ import annotations

import threading

import numpy as np
import onnxruntime as ort
import pytest

import runtime
from compiler.codegen.build import compile_graph
from compiler.frontend.onnx import import_onnx

from .conftest import TINY_CNN


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "artifact"
    compile_graph(import_onnx(str(TINY_CNN)), out)
    return runtime.load(out)


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(str(TINY_CNN), providers=["CPUExecutionProvider"])


def expected(session, feeds):
    return dict(zip((o.name for o in session.get_outputs()), session.run(None, feeds)))


def test_results_are_independent_copies(model, session):
    first_feeds, second_feeds = model.random_inputs(seed=1), model.random_inputs(seed=2)
    first = model.run(first_feeds)
    kept = {k: v.copy() for k, v in first.items()}
    second = model.run(second_feeds)
    for name, want in expected(session, first_feeds).items():
        np.testing.assert_allclose(first[name], want, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(first[name], kept[name])  # the second run did not write into it
    for name, want in expected(session, second_feeds).items():
        np.testing.assert_allclose(second[name], want, rtol=1e-4, atol=1e-5)
    first_feeds[model.inputs[0].name][...] = 0  # the caller's arrays are not the staged buffers
    np.testing.assert_allclose(model.run(second_feeds)[model.outputs[0].name], second[model.outputs[0].name])


def test_model_runs_directly(model):
    """The tests here then cover the direct executor's one-pass input check and copy."""
    assert model.manifest["executor"]["kind"] == "direct"


def test_non_contiguous_input(model, session):
    feeds = model.random_inputs(seed=3)
    name = model.inputs[0].name
    strided = np.asfortranarray(feeds[name])
    got = model.run({name: strided})
    for out, want in expected(session, feeds).items():
        np.testing.assert_allclose(got[out], want, rtol=1e-4, atol=1e-5)


def test_threads_share_a_model(model, session):
    feeds = [model.random_inputs(seed=10 + i) for i in range(4)]
    results: dict[int, dict] = {}

    def work(i: int) -> None:
        for _ in range(20):
            results[i] = model.run(feeds[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, f in enumerate(feeds):
        for name, want in expected(session, f).items():
            np.testing.assert_allclose(results[i][name], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.pop(next(iter(f))), r"^missing input\(s\) \['\w+'\]; the model takes \['\w+'\]$"),
    (lambda f: f.update(z=np.zeros(1, np.float32)), r"^unknown input\(s\) \['z'\]; the model takes"),
    (lambda f: f.update({k: v.astype(np.float64) for k, v in f.items()}), r"^input '\w+' has dtype float64, the model expects float32$"),
    (lambda f: f.update({k: v[..., :-1] for k, v in f.items()}), r"^input '\w+' has shape \[.*\], the model expects \[.*\]$"),
    (lambda f: f.update(z=f.pop(next(iter(f)))), r"^missing input\(s\) \['\w+'\]; the model takes"),  # as many names
    (lambda f: f.update({k: v.astype(">f4") for k, v in f.items()}), r"^input '\w+' has dtype >f4, the model expects float32$"),
    (lambda f: f.update({k: [v] for k, v in f.items()}), r"^input '\w+' has shape \[1, .*\], the model expects \["),
])
def test_bad_inputs_name_the_tensor(model, change, message):
    from compiler.errors import InputError

    feeds = model.random_inputs(seed=4)
    change(feeds)
    with pytest.raises(InputError, match=message):
        model.run(feeds)
