"""Render pipeline pieces: encoder settings and the local Remotion render server client."""
