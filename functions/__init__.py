"""Thin trigger handlers, one blueprint module per area."""
