"""Stage 3 of the analysis: one module per figure family, each drawing a summary frame.

Every module has a ``*_figure(summary) -> Figure`` (what the tests inspect) and a
``plot_*(summary, out_stem) -> [png, svg]`` that writes it deterministically (see ``style``).
"""
