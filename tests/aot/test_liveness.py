"""Buffer lifetimes from ordered (reads, writes) steps, checked against hand-computed intervals."""

import pytest

from compiler.codegen.aot.liveness import lifetimes
from compiler.codegen.aot.memory_plan import BufferLife, plan_memory, verify_plan

# x -> conv(w) -> relu -> conv(w2) -> add(skip: relu) -> y, with one conv scratch workspace
STEPS = [
    (["x", "w"], ["c1", "ws0"]),
    (["c1"], ["r1"]),
    (["r1", "w2"], ["c2"]),
    (["c2", "r1"], ["y"]),
]
SIZES = {"c1": 400, "ws0": 36, "r1": 400, "c2": 400, "y": 400}
KEEP = {"x", "w", "w2", "y"}


def test_lifetimes_of_a_residual_block():
    assert lifetimes(STEPS, SIZES, KEEP) == [
        BufferLife("c1", 400, 0, 1),
        BufferLife("ws0", 36, 0, 0),
        BufferLife("r1", 400, 1, 3),
        BufferLife("c2", 400, 2, 3),
    ]


def test_inplace_passed_on_except_for_kept_tensors():
    lives = lifetimes(STEPS, SIZES, KEEP, inplace={"r1": "c1", "c1": "x"})
    by_name = {b.name: b for b in lives}
    assert by_name["r1"].inplace_of == "c1"
    assert by_name["c1"].inplace_of is None  # the model input is never overwritten
    plan = plan_memory(lives, alignment=4)
    verify_plan(lives, plan, 4)
    assert plan.offsets["r1"] == plan.offsets["c1"]
    assert plan.arena_bytes == 800


def test_empty_and_all_kept():
    assert lifetimes([], {}, set()) == []
    assert lifetimes([(["x"], ["y"])], {}, {"x", "y"}) == []


@pytest.mark.parametrize(
    "steps, sizes, needle",
    [
        ([(["a"], ["b"])], {"b": 1}, "step 0 reads 'a' before any step writes it"),
        ([([], ["a"]), ([], ["a"])], {"a": 1}, "'a' is written by steps 0 and 1"),
        ([([], ["a"])], {}, "no size for buffer 'a'"),
        ([(["a"], ["a"])], {"a": 1}, "step 0 reads 'a' before"),
    ],
)
def test_bad_steps_name_the_buffer(steps, sizes, needle):
    with pytest.raises(ValueError, match=needle):
        lifetimes(steps, sizes, set())
