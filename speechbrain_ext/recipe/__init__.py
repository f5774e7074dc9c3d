"""Shared recipe machinery: the base ``Brain``, data and run helpers."""
