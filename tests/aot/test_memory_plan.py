"""Static memory planner: placements never collide, and the arena is close to the lower bound.

The oracle is arithmetic independent of the planner: a pairwise overlap check (``verify_plan``
is also checked against hand-made bad plans) and the live-bytes lower bound computed here.
"""

import random

import pytest

from compiler.codegen.aot.memory_plan import BufferLife, MemoryPlan, plan_memory, verify_plan


def lower_bound(buffers: list[BufferLife]) -> int:
    """Max over steps of the bytes that must be live at once (no in-place sharing)."""
    steps = max((b.last for b in buffers), default=-1) + 1
    return max((sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(steps)), default=0)


def aligned_sum(buffers: list[BufferLife], alignment: int) -> int:
    return sum(-(-b.size // alignment) * alignment for b in buffers)


def chain(sizes: list[int]) -> list[BufferLife]:
    """t0 -> t1 -> ...: each tensor is written at step i and read by step i + 1."""
    return [BufferLife(f"t{i}", size, i, i + 1) for i, size in enumerate(sizes)]


def random_buffers(rng: random.Random, inplace: bool) -> list[BufferLife]:
    steps = rng.randint(1, 30)
    buffers: list[BufferLife] = []
    for i in range(rng.randint(0, 40)):
        first = rng.randrange(steps)
        last = first if rng.random() < 0.2 else rng.randint(first, steps - 1)
        size = rng.choice([0, rng.randint(1, 64), rng.randint(1, 5000)])
        source = None
        if inplace and buffers and rng.random() < 0.4:
            candidates = [b for b in buffers if b.last == first] or buffers
            source = rng.choice(candidates).name
            if rng.random() < 0.7:
                size = min(size, next(b.size for b in buffers if b.name == source))
        buffers.append(BufferLife(f"b{i}", size, first, last, source))
    return buffers


# ----------------------------------------------------------------------------- randomized


@pytest.mark.parametrize("inplace", [False, True])
def test_random_lifetimes(inplace):
    rng = random.Random(1234 + inplace)
    for _ in range(300):
        buffers = random_buffers(rng, inplace)
        alignment = rng.choice([1, 4, 8, 16])
        plan = plan_memory(buffers, alignment)
        verify_plan(buffers, plan, alignment)
        assert plan.arena_bytes % alignment == 0
        assert max(plan.peak_per_step, default=0) <= plan.arena_bytes <= aligned_sum(buffers, alignment)
        if not inplace:
            assert plan.arena_bytes >= lower_bound(buffers)
            assert max(plan.peak_per_step, default=0) == lower_bound(buffers)
        else:  # sharing storage can only help
            plain = [BufferLife(b.name, b.size, b.first, b.last) for b in buffers]
            assert plan.arena_bytes <= plan_memory(plain, alignment).arena_bytes


def test_deterministic():
    buffers = random_buffers(random.Random(7), inplace=True)
    assert plan_memory(buffers) == plan_memory(list(buffers))


# ----------------------------------------------------------------------------- hand examples


def test_chain_reuses_memory():
    buffers = chain([100, 300, 50, 200])
    plan = plan_memory(buffers, alignment=1)
    verify_plan(buffers, plan)
    assert plan.arena_bytes == max(100 + 300, 300 + 50, 50 + 200) == lower_bound(buffers)
    assert plan.peak_per_step == [100, 400, 350, 250, 200]


def test_residual_skip_stays_live():
    # step 0 writes x; 1: y1 = conv(x); 2: y2 = conv(y1); 3: z = add(y2, x); 4 reads z
    buffers = [
        BufferLife("x", 1024, 0, 3),
        BufferLife("y1", 1024, 1, 2),
        BufferLife("y2", 1024, 2, 3),
        BufferLife("z", 1024, 3, 4),
    ]
    plan = plan_memory(buffers)
    verify_plan(buffers, plan, 16)
    assert plan.arena_bytes == 3 * 1024 == lower_bound(buffers)
    assert plan.offsets["y1"] != plan.offsets["x"]


def test_residual_add_in_place_of_skip():
    buffers = [
        BufferLife("x", 1024, 0, 3),
        BufferLife("y1", 1024, 1, 2),
        BufferLife("y2", 1024, 2, 3),
        BufferLife("z", 1024, 3, 4, inplace_of="x"),
    ]
    plan = plan_memory(buffers)
    verify_plan(buffers, plan, 16)
    assert plan.offsets["z"] == plan.offsets["x"]
    assert plan.arena_bytes == 3 * 1024
    assert plan.peak_per_step == [1024, 2048, 3072, 2048, 1024]


def test_inplace_elementwise_shares_storage():
    # conv -> relu (in place) -> pool: relu's output overwrites the conv output it reads
    buffers = [
        BufferLife("conv", 1000, 0, 1),
        BufferLife("relu", 1000, 1, 2, inplace_of="conv"),
        BufferLife("pool", 250, 2, 3),
    ]
    plan = plan_memory(buffers, alignment=1)
    verify_plan(buffers, plan)
    assert plan.offsets["relu"] == plan.offsets["conv"]
    assert plan.arena_bytes == 1250 < lower_bound(buffers) == 2000
    assert plan.peak_per_step == [1000, 1000, 1250, 250]


def test_inplace_chain_of_three():
    buffers = [
        BufferLife("a", 512, 0, 1),
        BufferLife("b", 512, 1, 2, inplace_of="a"),
        BufferLife("c", 256, 2, 3, inplace_of="b"),
    ]
    plan = plan_memory(buffers)
    verify_plan(buffers, plan, 16)
    assert plan.offsets["a"] == plan.offsets["b"] == plan.offsets["c"]
    assert plan.arena_bytes == 512


@pytest.mark.parametrize(
    "source, new, why",
    [
        (BufferLife("a", 100, 0, 2), BufferLife("b", 100, 1, 3, "a"), "source still read after b is written"),
        (BufferLife("a", 100, 0, 1), BufferLife("b", 200, 1, 2, "a"), "b is larger than its source"),
    ],
)
def test_inplace_refused_when_unsafe(source, new, why):
    plan = plan_memory([source, new], alignment=1)
    verify_plan([source, new], plan)
    assert plan.offsets["a"] != plan.offsets["b"], why
    assert plan.arena_bytes == source.size + new.size


def test_source_donated_once():
    # two outputs of one step both ask for the same input; only one may have it
    buffers = [
        BufferLife("x", 64, 0, 1),
        BufferLife("p", 64, 1, 2, inplace_of="x"),
        BufferLife("q", 64, 1, 2, inplace_of="x"),
    ]
    plan = plan_memory(buffers, alignment=1)
    verify_plan(buffers, plan)
    assert plan.arena_bytes == 128
    assert sorted([plan.offsets["p"], plan.offsets["q"]]) == [0, 64]


def test_alignment_with_odd_sizes():
    buffers = [BufferLife("a", 3, 0, 0), BufferLife("b", 5, 0, 1), BufferLife("c", 7, 0, 1)]
    plan = plan_memory(buffers, alignment=16)
    verify_plan(buffers, plan, 16)
    assert sorted(plan.offsets.values()) == [0, 16, 32]
    assert plan.arena_bytes == 48
    assert plan_memory(buffers, alignment=1).arena_bytes == 15


def test_scratch_workspace_disjoint_from_kernel_operands():
    buffers = chain([400, 400]) + [BufferLife("ws1", 100, 1, 1)]
    plan = plan_memory(buffers, alignment=4)
    verify_plan(buffers, plan, 4)
    assert plan.arena_bytes == 900


def test_zero_size_and_empty():
    assert plan_memory([]) == MemoryPlan({}, 0, [])
    plan = plan_memory([BufferLife("e", 0, 0, 2), BufferLife("f", 10, 1, 1)])
    assert plan.offsets == {"e": 0, "f": 0} and plan.arena_bytes == 16


def test_as_dict_is_json_data():
    plan = plan_memory(chain([10, 20]), alignment=4)
    assert plan.as_dict() == {
        "arena_bytes": 32,
        "peak_bytes": 30,
        "peak_per_step": [10, 30, 20],
        "offsets": {"t0": 20, "t1": 0},
    }


# ----------------------------------------------------------------------------- realistic


def resnet8_int8() -> list[BufferLife]:
    """Activations of MLPerf Tiny's ResNet-8 (CIFAR-10, int8 NHWC), one step per kernel."""
    hw32, hw16, hw8 = 32 * 32, 16 * 16, 8 * 8
    # (name, bytes, reads): the step index is the position in this list
    layers = [
        ("input", hw32 * 3, []),
        ("stem", hw32 * 16, ["input"]),
        ("b1c1", hw32 * 16, ["stem"]),
        ("b1c2", hw32 * 16, ["b1c1"]),
        ("b1add", hw32 * 16, ["b1c2", "stem"]),
        ("b2c1", hw16 * 32, ["b1add"]),
        ("b2c2", hw16 * 32, ["b2c1"]),
        ("b2skip", hw16 * 32, ["b1add"]),
        ("b2add", hw16 * 32, ["b2c2", "b2skip"]),
        ("b3c1", hw8 * 64, ["b2add"]),
        ("b3c2", hw8 * 64, ["b3c1"]),
        ("b3skip", hw8 * 64, ["b2add"]),
        ("b3add", hw8 * 64, ["b3c2", "b3skip"]),
        ("pool", 64, ["b3add"]),
        ("fc", 10, ["pool"]),
        ("softmax", 10, ["fc"]),
    ]
    last = {name: step for step, (name, _, _) in enumerate(layers)}
    for step, (_, _, reads) in enumerate(layers):
        for read in reads:
            last[read] = step
    buffers = [BufferLife(name, size, step, last[name]) for step, (name, size, _) in enumerate(layers)]
    # each conv gets an im2col-style scratch row buffer live only during its own call
    buffers += [BufferLife(f"ws_{n}", 3 * 3 * 64, s, s) for s, (n, _, _) in enumerate(layers) if "c" in n[2:]]
    return buffers


def test_resnet8_activations_pack_to_lower_bound():
    buffers = resnet8_int8()
    plan = plan_memory(buffers)
    verify_plan(buffers, plan, 16)
    bound = lower_bound(buffers)
    # the skip tensor, the two block tensors and a scratch are live together at the widest step
    assert bound == 3 * 32 * 32 * 16 + 576
    assert bound <= plan.arena_bytes <= -(-bound // 16) * 16
    assert plan.arena_bytes < aligned_sum(buffers, 16) / 2  # versus one buffer per tensor


def test_resnet8_inplace_adds_shrink_the_arena():
    plain = resnet8_int8()
    shared = [
        BufferLife(b.name, b.size, b.first, b.last, {"b1add": "stem"}.get(b.name)) for b in plain
    ]
    plan = plan_memory(shared)
    verify_plan(shared, plan, 16)
    assert plan.offsets["b1add"] == plan.offsets["stem"]
    assert plan.arena_bytes <= plan_memory(plain).arena_bytes


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "buffers, needle",
    [
        ([BufferLife("a", 1, 0, 0), BufferLife("a", 2, 1, 1)], "'a' is listed twice"),
        ([BufferLife("neg", -1, 0, 0)], "'neg' has negative size"),
        ([BufferLife("back", 1, 3, 2)], "'back' has an invalid lifetime"),
        ([BufferLife("early", 1, -1, 0)], "'early' has an invalid lifetime"),
        ([BufferLife("x", 1, 0, 1, inplace_of="ghost")], "'x' is in place of unknown buffer 'ghost'"),
        ([BufferLife("me", 1, 0, 1, inplace_of="me")], "'me' is in place of unknown buffer 'me'"),
    ],
)
def test_bad_input_names_the_buffer(buffers, needle):
    with pytest.raises(ValueError, match=needle):
        plan_memory(buffers)


def test_bad_alignment():
    with pytest.raises(ValueError, match="alignment"):
        plan_memory(chain([1]), alignment=0)


def test_verify_plan_names_colliding_buffers():
    buffers = chain([100, 100])
    with pytest.raises(ValueError, match="'t0' .* and 't1' .* overlap"):
        verify_plan(buffers, MemoryPlan({"t0": 0, "t1": 50}, 150, []))
    with pytest.raises(ValueError, match="'t1' at \\[150, 250\\) is outside"):
        verify_plan(buffers, MemoryPlan({"t0": 0, "t1": 150}, 200, []))
    with pytest.raises(ValueError, match="'t1' at offset 100 is not 16-aligned"):
        verify_plan(buffers, MemoryPlan({"t0": 0, "t1": 100}, 200, []), alignment=16)
    with pytest.raises(ValueError, match="do not match"):
        verify_plan(buffers, MemoryPlan({"t0": 0}, 200, []))
    # an in-place pair at the same offset is fine, but only when the source dies as it is written
    shared = MemoryPlan({"a": 0, "b": 0}, 8, [])
    verify_plan([BufferLife("a", 8, 0, 1), BufferLife("b", 8, 1, 2, "a")], shared)
    with pytest.raises(ValueError, match="'a' .* and 'b' .* overlap"):
        verify_plan([BufferLife("a", 8, 0, 2), BufferLife("b", 8, 1, 2, "a")], shared)
