"""The web app's parts: input checks, rendering, the four searches, the layout, start-up."""
