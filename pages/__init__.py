"""The dashboard's pages. Each gathers input, calls cnn_core, and draws; app.py wires them up."""
