"""Serving a trained model: predictions from files and exports (standalone NumPy script, ONNX)."""
