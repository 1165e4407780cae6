"""Discord channel adapter (discord.py ``Client``): see :mod:`channels.discord.bot`.

Importing the package imports nothing from discord.py; ``channels.discord.bot`` needs the ``discord``
extra (``pip install 'libromind[discord]'``).
"""
