"""Slack channel adapter (slack-bolt ``AsyncApp``): see :mod:`channels.slack.app`.

Importing the package imports nothing from slack-bolt; ``channels.slack.app`` / ``.server`` need the
``slack`` extra (``pip install 'libromind[slack]'``).
"""
