"""Readers that turn each raw dataset format into a list of `RawItem`s."""
