"""Tests of compiler.quant: calibration data, observers and range selection."""
