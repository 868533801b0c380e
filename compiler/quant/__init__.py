"""Integer post-training quantization: calibration data, activation statistics and range selection."""
