"""Small helpers shared across the compiler."""
