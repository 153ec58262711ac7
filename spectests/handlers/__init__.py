"""Spec-test handler modules; spectests.runner imports every module here, which registers them."""
