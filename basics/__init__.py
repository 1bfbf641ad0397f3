"""What every facerig package stands on: the user-error base class, atomic writes, tagged safetensors files.

It imports nothing of the project, so morphable/, gan/ and rig/ may all use it without importing each other.
"""
