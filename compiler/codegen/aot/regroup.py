"""Move cheap index/elementwise tails of a fused group into the group that consumes them.

TVM's FuseOps cuts the graph for speed, not for memory: a conv group may end with the *next*
layer's pad (its output is the padded tensor), with the widening cast of a residual operand (an
int64 tensor, 8x the int8 one) or the int32 cast of an average pool's input; standalone pads
write a padded copy. On a microcontroller every such tensor is arena RAM. This pass, run between
FuseOps and FuseTIR, finds a producer group whose single consumer is another group and moves the
producer's trailing injective ops (patterns <= injective) into the consumer, when the value then
passed between them is smaller. FuseTIR then builds one kernel that pads or widens on the fly,
and ``kernels.inline_stages`` inlines those stages into the consumer's reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

INJECTIVE = 2  # TVM OpPatternKind: 0 elementwise, 1 broadcast, 2 injective, 3+ reductions and opaque
MAX_ROUNDS = 1000


@dataclass
class Group:
    """A call in ``main`` seen as a fused group: parameters, bindings and the value it returns."""

    params: list
    bindings: list
    output: object
    args: list
    name: str


def _is_call_tir(value) -> bool:
    return isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.call_tir"


def _pattern(mod: tvm.IRModule, value) -> int:
    if not _is_call_tir(value):
        return 99
    attrs = mod[value.args[0]].attrs
    return int(attrs["op_pattern"]) if attrs is not None and "op_pattern" in attrs else 99


def _nbytes(var) -> int:
    ty = var.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return 1 << 62
    return int(np.prod([int(d) for d in ty.shape.values], dtype=np.int64)) * np.dtype(str(ty.dtype)).itemsize


def _as_group(mod: tvm.IRModule, value) -> Group | None:
    """A Primitive function call, or a bare call_tir wrapped as a one-binding group."""
    if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar):
        func = mod[value.op]
        if not isinstance(func, relax.Function) or func.attrs is None or "Primitive" not in func.attrs:
            return None
        blocks = func.body.blocks
        if len(blocks) != 1 or not all(_is_call_tir(b.value) for b in blocks[0].bindings):
            return None
        return Group(list(func.params), list(blocks[0].bindings), func.body.body, list(value.args),
                     value.op.name_hint)
    if _is_call_tir(value) and isinstance(value.ty, relax.TensorType):
        args = list(value.args[1].fields)
        params = [relax.Var(f"a{i}", a.ty) for i, a in enumerate(args)]
        out = relax.Var("out", value.ty)
        call = relax.call_tir(value.args[0], relax.Tuple(params), value.ty)
        return Group(params, [relax.VarBinding(out, call)], out, args, value.args[0].name_hint)
    return None


def _used_vars(expr) -> list:
    if isinstance(expr, relax.Var):
        return [expr]
    if isinstance(expr, relax.Tuple):
        return [v for f in expr.fields for v in _used_vars(f)]
    if isinstance(expr, relax.TupleGetItem):
        return _used_vars(expr.tuple_value)
    if isinstance(expr, relax.Call):
        return [v for a in expr.args for v in _used_vars(a)]
    return []


def _subst(expr, env: dict):
    if isinstance(expr, relax.Var):
        for _ in range(4):  # env may map a value to another old value that is mapped in turn
            if expr not in env or env[expr].same_as(expr):
                break
            expr = env[expr]
        return expr
    if isinstance(expr, relax.Tuple):
        return relax.Tuple([_subst(f, env) for f in expr.fields])
    if isinstance(expr, relax.TupleGetItem):
        return relax.TupleGetItem(_subst(expr.tuple_value, env), expr.index)
    if isinstance(expr, relax.Call):
        return relax.Call(expr.op, [_subst(a, env) for a in expr.args], expr.attrs, expr.ty_args)
    return expr


def _split(mod: tvm.IRModule, group: Group) -> tuple[int, object] | None:
    """(s, x): move ``bindings[s:]``, which read only ``x`` (a head value; None when the whole
    group moves) and parameters, choosing the smallest ``x`` that is smaller than the output."""
    best: tuple[int, object, int] | None = None
    defined = {b.var for b in group.bindings}
    for s in range(len(group.bindings) - 1, -1, -1):
        if _pattern(mod, group.bindings[s].value) > INJECTIVE:
            break
        tail = {b.var for b in group.bindings[s:]}
        outside = {v for b in group.bindings[s:] for v in _used_vars(b.value) if v in defined and v not in tail}
        if len(outside) > 1:
            continue
        x = next(iter(outside), None)
        cost = _nbytes(x) if x is not None else 0
        if best is None or cost < best[2]:
            best = (s, x, cost)
    if best is None or best[2] >= _nbytes(group.output):
        return None
    return best[0], best[1]


def _function(params: list, bindings: list, output, env: dict) -> relax.Function:
    """A Primitive function over fresh ``params`` (``env`` maps old values to them)."""
    bb = relax.BlockBuilder()
    with bb.function("f", params, attrs={"Primitive": True}, private=True):
        with bb.dataflow():
            for b in bindings:
                emit = bb.emit_output if b.var.same_as(output) else bb.emit
                env[b.var] = emit(_subst(b.value, env), name_hint=b.var.name)
        bb.emit_func_output(env[output])
    return bb.get()["f"]


def _fresh(params: list) -> tuple[list, dict]:
    new = [relax.Var(p.name, p.ty) for p in params]
    return new, dict(zip(params, new))


def _rewrite(mod: tvm.IRModule, main, i: int, j: int, producer: Group, consumer: Group,
             split: tuple[int, object]) -> tvm.IRModule:
    s, x = split
    tail = producer.bindings[s:]
    head = [] if x is None else producer.bindings[:1 + next(k for k, b in enumerate(producer.bindings)
                                                             if b.var.same_as(x))]
    used_tail = {v for b in tail for v in _used_vars(b.value)}
    used_head = {v for b in head for v in _used_vars(b.value)} | ({x} if x is not None else set())
    tail_params = [k for k, p in enumerate(producer.params) if p in used_tail]
    head_params = [k for k, p in enumerate(producer.params) if p in used_head]
    bindings = list(main.body.blocks[0].bindings)
    produced = bindings[i].var
    v_index = next(k for k, a in enumerate(consumer.args) if a.same_as(produced))

    # consumer': [x] + producer params the tail reads + the consumer's other params
    x_param = [relax.Var("x", x.ty)] if x is not None else []
    p_new, env = _fresh([producer.params[k] for k in tail_params])
    c_rest = [p for k, p in enumerate(consumer.params) if k != v_index]
    c_new, c_env = _fresh(c_rest)
    env.update(c_env)
    if x is not None:
        env[x] = x_param[0]
    env[consumer.params[v_index]] = tail[-1].var  # resolved to the emitted value by _subst
    consumer_fn = _function(x_param + p_new + c_new, tail + consumer.bindings, consumer.output, env)

    bb = relax.BlockBuilder(mod)
    consumer_gv = bb.add_func(consumer_fn, f"{consumer.name}_in")
    producer_gv = None
    if x is not None:
        h_new, h_env = _fresh([producer.params[k] for k in head_params])
        producer_gv = bb.add_func(_function(h_new, head, x, h_env), f"{producer.name}_head")
    new_mod = bb.get()
    bb = relax.BlockBuilder()
    with bb.function("main", list(main.params), attrs={"global_symbol": "main"}):
        with bb.dataflow():
            menv: dict = {}
            x_value = None
            for k, b in enumerate(bindings):
                emit = bb.emit if isinstance(b.var, relax.DataflowVar) else bb.emit_output
                if k == i:
                    if producer_gv is not None:
                        x_value = bb.emit(relax.Call(producer_gv, [_subst(producer.args[q], menv)
                                                                   for q in head_params]), name_hint=x.name)
                    continue
                if k == j:
                    args = ([x_value] if x_value is not None else []) + \
                        [_subst(producer.args[q], menv) for q in tail_params] + \
                        [_subst(a, menv) for q, a in enumerate(consumer.args) if q != v_index]
                    menv[b.var] = emit(relax.Call(consumer_gv, args), name_hint=b.var.name)
                    continue
                menv[b.var] = emit(_subst(b.value, menv), name_hint=b.var.name)
        bb.emit_func_output(_subst(main.body.body, menv))
    new_mod.update_func(new_mod.get_global_var("main"), bb.get()["main"])
    return new_mod


def _rewrite_once(mod: tvm.IRModule) -> tvm.IRModule | None:
    main = mod["main"]
    if len(main.body.blocks) != 1:
        return None
    bindings = list(main.body.blocks[0].bindings)
    uses: dict = {}
    for b in bindings:
        for v in _used_vars(b.value):
            uses[v] = uses.get(v, 0) + 1
    for v in _used_vars(main.body.body):
        uses[v] = uses.get(v, 0) + 1
    for i, b in enumerate(bindings):
        if uses.get(b.var, 0) != 1:
            continue
        j = next((k for k in range(i + 1, len(bindings)) if any(v.same_as(b.var) for v in
                                                                 _used_vars(bindings[k].value))), None)
        if j is None:
            continue
        producer, consumer = _as_group(mod, b.value), _as_group(mod, bindings[j].value)
        if producer is None or consumer is None:
            continue
        if sum(1 for a in consumer.args if a.same_as(b.var)) != 1:
            continue
        split = _split(mod, producer)
        if split is not None:
            return _rewrite(mod, main, i, j, producer, consumer, split)
    return None


@tvm.transform.module_pass(opt_level=0, name="edgec.RegroupForMemory")
def regroup_for_memory(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    for _ in range(MAX_ROUNDS):
        new = _rewrite_once(mod)
        if new is None:
            break
        mod = new
    return relax.transform.DeadCodeElimination(["main"])(mod)
