"""IR -> TVM -> artifact. The only package that imports TVM for lowering."""
