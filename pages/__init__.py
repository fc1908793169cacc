"""The dashboard's pages: scripts in views/, shared helpers in common/. Each page gathers input,
calls cnn_core, and draws; app.py wires them together with st.navigation."""
