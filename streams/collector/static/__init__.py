"""The browser SDK, served by the collector at /sdk.js."""
