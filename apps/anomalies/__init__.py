"""Detection and advice: pure detectors, findings with a lifecycle, and the knowledge base."""
