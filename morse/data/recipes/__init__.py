"""One module per dataset kind; each registers a ``DatasetRecipe`` (see ``morse.data.sources``)."""
