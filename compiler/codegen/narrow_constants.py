"""Store wide integer constants in the narrowest type that holds them.

On a microcontroller this saves flash; on a CPU the kernel's widening loads tell LLVM the
values' width (a 64-bit multiply of two widened 32-bit values is one pmuludq on x86).

Integer requantization is lowered with 64-bit arithmetic where 32 bits are not proven enough
(and its multipliers are uint64 in the 32-bit form), so per-channel bias, multiplier, rounding
and shift arrays arrive as 64-bit constants (8 bytes where 1 to 4 suffice), and an int8
average pool is a grouped convolution with an int32 kernel of ones. This pass
(after FoldConstant, before FuseOps) replaces such a constant by the narrow array and an
``astype`` back to the wide type; the cast is fused into the kernel that reads the constant
(``regroup`` moves it there if FuseOps does not), so the kernel widens on load.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from .aot.regroup import _subst

WIDE = ("int64", "int32", "int16", "uint64", "uint32", "uint16")


def narrowest(array: np.ndarray) -> str | None:
    """The smallest integer type of the same signedness that holds every value of ``array``
    (None: keep it)."""
    if str(array.dtype) not in WIDE or array.size == 0:
        return None
    low, high = int(array.min()), int(array.max())
    for bits in (8, 16, 32):
        dtype = f"{array.dtype.kind == 'u' and 'u' or ''}int{bits}"
        if np.dtype(dtype).itemsize >= array.dtype.itemsize:
            return None
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return None


def _narrow_dtype(arg, wide: tuple[str, ...]) -> str | None:
    """The narrow dtype to store constant ``arg`` in, or None (not a constant, or keep it)."""
    if not isinstance(arg, tvm.ir.expr.Constant) or str(arg.value.dtype) not in wide:
        return None
    return narrowest(arg.value.numpy())


def _narrow_args(bb: relax.BlockBuilder, call, cache: dict, wide: tuple[str, ...]):
    """``call`` with its narrowable constant arguments replaced (itself if there are none)."""
    if len(call.args) > 2 or all(_narrow_dtype(a, wide) is None for a in call.args[1].fields):
        return call
    args = []
    for arg in call.args[1].fields:
        dtype = _narrow_dtype(arg, wide)
        if dtype is not None:
            if arg not in cache:
                array = arg.value.numpy()
                cache[arg] = bb.emit(relax.op.astype(relax.const(array.astype(dtype), dtype), str(array.dtype)))
            arg = cache[arg]
        args.append(arg)
    out = call.ty_args[0] if len(call.ty_args) == 1 else list(call.ty_args)
    if isinstance(out, relax.TupleType):  # several outputs (split)
        out = list(out.fields)
    return relax.call_tir(call.args[0], relax.Tuple(args), out)


def narrow_constants_pass(wide: tuple[str, ...] = WIDE) -> tvm.transform.Pass:
    """The pass, narrowing constants of the ``wide`` dtypes."""
    return tvm.transform.module_pass(lambda mod, _ctx: narrow_constants(mod, wide), opt_level=0,
                                     name="edgec.NarrowConstants")


def narrow_constants(mod: tvm.IRModule, wide: tuple[str, ...] = WIDE) -> tvm.IRModule:
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
                    value = _narrow_args(bb, value, cache, wide)
                emit = bb.emit if isinstance(b.var, relax.DataflowVar) else bb.emit_output
                env[b.var] = emit(value, name_hint=b.var.name)
        bb.emit_func_output(_subst(main.body.body, env))
    new_mod.update_func(new_mod.get_global_var("main"), bb.get()["main"])
    return new_mod
