"""Tests of detection and advice."""
