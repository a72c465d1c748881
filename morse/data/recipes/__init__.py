"""One module per dataset kind, named after it; each registers a ``DatasetRecipe`` in
:mod:`~morse.data.recipes.registry`. :mod:`~morse.data.recipes.generic_settings` holds what the
generic kinds (``msd``, ``nnunet``, ``images2d``) share."""
