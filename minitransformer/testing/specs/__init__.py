"""The OpSpecs of minitransformer's own ops, one module per family.

``primitive_ops`` (the Functions of ``minitransformer.ops``), ``fused_ops``
(those of ``minitransformer.functional``) and ``exercises`` (those only the
exercises define).  Each module holds a tuple of specs and registers nothing
itself: ``minitransformer.testing.registry.all_specs()`` imports the three by
name and adds their specs to the registry.
"""
