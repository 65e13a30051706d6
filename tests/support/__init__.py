"""What the test modules share: waiting on a condition, a live server on loopback.

Test modules import helpers from here (or get fixtures from a conftest), never from
another test module."""
