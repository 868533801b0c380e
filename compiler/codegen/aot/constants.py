"""Store wide integer constants in the narrowest type that holds them (flash on a microcontroller).

Integer requantization is lowered with int64 arithmetic, so the per-channel bias, multiplier,
rounding and shift arrays arrive as int64 constants (8 bytes where 1 to 4 suffice), and an int8
average pool is a grouped convolution with an int32 kernel of ones. This pass
(after FoldConstant, before FuseOps) replaces such a constant by the narrow array and an
``astype`` back to the wide type; the cast is fused into the kernel that reads the constant
(``regroup`` moves it there if FuseOps does not), so the kernel widens on load.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from .regroup import _subst

NARROW = ("int8", "int16", "int32")
WIDE = ("int64", "int32", "int16")


def narrowest(array: np.ndarray) -> str | None:
    """The smallest integer type that holds every value of ``array`` (None: keep it)."""
    if str(array.dtype) not in WIDE or array.size == 0:
        return None
    low, high = int(array.min()), int(array.max())
    for dtype in NARROW:
        if np.dtype(dtype).itemsize >= array.dtype.itemsize:
            return None
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return None


def _narrow_args(bb: relax.BlockBuilder, call, cache: dict):
    args = []
    for arg in call.args[1].fields:
        if isinstance(arg, tvm.ir.expr.Constant):
            array = arg.value.numpy()
            dtype = narrowest(array)
            if dtype is not None:
                key = arg
                if key not in cache:
                    cache[key] = bb.emit(relax.op.astype(relax.const(array.astype(dtype), dtype), str(array.dtype)))
                arg = cache[key]
        args.append(arg)
    return relax.call_tir(call.args[0], relax.Tuple(args), call.ty_args[0] if len(call.ty_args) == 1
                          else list(call.ty_args))


@tvm.transform.module_pass(opt_level=0, name="edgec.NarrowConstants")
def narrow_constants(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    main = mod["main"]
    if len(main.body.blocks) != 1:
        return mod
    new_mod = relax.BlockBuilder(mod).get()  # a copy to update
    bb = relax.BlockBuilder()
    env: dict = {}
    cache: dict = {}
    with bb.function("main", list(main.params), attrs={"global_symbol": "main"}):
        with bb.dataflow():
            for b in main.body.blocks[0].bindings:
                value = _subst(b.value, env)
                if isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.call_tir":
                    value = _narrow_args(bb, value, cache)
                emit = bb.emit if isinstance(b.var, relax.DataflowVar) else bb.emit_output
                env[b.var] = emit(value, name_hint=b.var.name)
        bb.emit_func_output(_subst(main.body.body, env))
    new_mod.update_func(new_mod.get_global_var("main"), bb.get()["main"])
    return new_mod
