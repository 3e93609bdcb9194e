"""The operator web console (``ground web``): an HTTP and websocket server beside the station."""
