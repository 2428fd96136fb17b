"""Time-series storage: one wide row per sample and one row per gopls process per sample."""
